"""Deduplication algorithms: normalization, shingling, MinHash, LSH parameters, component labelling.

Pure functions over numpy/Arrow batches with no Ray import; `dataprep.distributed.dedup` wires them
into shuffles across a cluster.
"""
