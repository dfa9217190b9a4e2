"""The one place training starts or joins Ray: an embedded local Ray sized to the machine, or a cluster."""

from __future__ import annotations

import os
from typing import Optional

import ray

from dataprep.errors import UserError


def connect(address: Optional[str] = None, num_cpus: Optional[int] = None) -> bool:
    """Join `address` (or RAY_ADDRESS) when given, else start a local Ray. Returns whether a cluster was joined."""
    address = address or os.environ.get("RAY_ADDRESS")
    if ray.is_initialized():
        return bool(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=True)
            return True
        # Workers' logs stay in Ray's log folder: the progress bar tells the story here.
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        return False
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray"
        raise UserError(f"cannot start or reach Ray at {where}: {str(exc).splitlines()[0]}") from None

