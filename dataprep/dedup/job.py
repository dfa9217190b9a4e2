"""What identifies a dedup job (its key: input manifest, parameters, code) and the outputs it may write."""

from __future__ import annotations

import hashlib
import json
from typing import Optional

from dataprep.dataset.lifecycle import OutputTarget
from dataprep.dataset.reader import Dataset
from dataprep.dedup.params import DedupParams
from dataprep.version import code_version


def job_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def dedup_targets(in_url: str, out_url: str, keep_clusters: Optional[str]) -> list[OutputTarget]:
    """The job's outputs, checked before any work: not the input, not each other, not a user's folder."""
    targets = [OutputTarget(out_url)] + ([OutputTarget(keep_clusters, "--keep-clusters")] if keep_clusters else [])
    for t in targets:
        t.check([in_url], others=[o for o in targets if o is not t])
    return targets


def dedup_job_key(ds: Dataset, params: DedupParams) -> str:
    return job_key({"job": "dedup", "params": params.to_json(), "input": ds.manifest_sha256(),
                     "version": code_version()})
