"""Names shared by the CLI, the providers and the lessons."""

from __future__ import annotations

import os

# Every namespace a lesson or lab creates carries this label; `scalelab reset` deletes exactly those.
TUTORIAL_LABEL = "scalelab.dev/tutorial"
# Node labels of the fake fleet and the kind "fleet" config: the pool a node belongs to.
POOL_LABEL = "scalelab.dev/pool"
ZONE_LABEL = "topology.kubernetes.io/zone"
FIELD_MANAGER = "scalelab"


def cluster_name() -> str:
    """Name of the tutorial cluster (``SCALELAB_CLUSTER``; tests use their own)."""
    return os.environ.get("SCALELAB_CLUSTER", "scalelab")
