"""Tutorial clusters behind one interface: ``kind`` (Docker) and ``kwok`` (no Docker).

Both end in the same state: nodes Ready, the metrics API Available, a context
the guard knows. Lessons never ask which provider runs, except for the few
cells that need real containers (CPU throttling, OOMKills), which ask
:func:`scalelab.cluster.provider_of_context`.
"""

from scalelab.cluster.base import ClusterStatus, Provider
from scalelab.cluster.select import choose_provider, provider_by_name, provider_of_context

__all__ = ["ClusterStatus", "Provider", "choose_provider", "provider_by_name", "provider_of_context"]
