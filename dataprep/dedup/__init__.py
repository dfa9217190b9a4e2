"""Deduplication algorithms: pure functions over numpy/Arrow batches and partition pieces, with no Ray import.

Text to features: `normalize`, `shingles`, `minhash`, `lsh`, `features`. The layers of a dedup run, each a
function of one partition's pieces (`partitions`, `nodes`): `sign` (an input shard's rows by partition),
`candidates` (band buckets, exact-text groups), `components` (large-star / small-star), `survivors` (attach ids,
choose the smallest id), `removal` (an input shard's surviving rows); `report` sums up the counts.
`dataprep.distributed.dedup` wires these layers into Ray tasks joined by shuffles.
"""
