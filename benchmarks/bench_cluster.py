"""Benchmarks for the foundation: cluster start (cold and warm) and HPA reaction time.

Prints numbers; asserts nothing. Uses its own cluster ("scalelab-bench") and
kubeconfig, so it never touches a learner's cluster. Run:

    python benchmarks/bench_cluster.py [--repeat N]

"Cold" here means no cluster yet but binaries cached; the one-off build of the
binaries is reported from the cache's own records (seconds each component took).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ["KUBECONFIG"] = str(Path(tempfile.mkdtemp(prefix="scalelab-bench-")) / "kubeconfig")

from kubernetes import client  # noqa: E402

from scalelab import k8s, toolchain  # noqa: E402
from scalelab.traffic import EmulatedCPU  # noqa: E402
from scalelab.cluster.kwok import KwokProvider  # noqa: E402
from scalelab.progress import Progress  # noqa: E402

NS, APP = "bench-hpa", "stream-api"


def build_times() -> None:
    for comp in toolchain.ALL:
        marker = comp.dir / ".complete"
        info = json.loads(marker.read_text()) if marker.exists() else {}
        print(f"binaries  {comp.name:<15} {comp.version:<8} obtained in {info.get('seconds', '?')} s")


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def set_load(api: client.ApiClient, total_millicores: int) -> int:
    """Share ``total_millicores`` over the ready pods, as the lessons' traffic driver does on kwok."""
    pods = [p for p in client.CoreV1Api(api).list_namespaced_pod(NS, label_selector=f"app={APP}").items
            if k8s.pod_is_ready(p)]
    EmulatedCPU(api).apply(pods, total_millicores / max(1, len(pods)))
    return len(pods)


def ready_replicas(api: client.ApiClient) -> int:
    return client.AppsV1Api(api).read_namespaced_deployment(APP, NS).status.ready_replicas or 0


def hpa_reaction(api: client.ApiClient) -> tuple[float, float]:
    """Seconds from a load step to (first new ready replica, HPA's first scale-up decision)."""
    k8s.delete_namespace(api, NS)
    k8s.ensure_namespace(api, NS)
    k8s.apply_objects(api, [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": APP}},
                  "template": {"metadata": {"labels": {"app": APP}},
                               "spec": {"containers": [{"name": "app", "image": "stream-api:v1",
                                                        "resources": {"requests": {"cpu": "200m"}}}]}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": APP},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
                  "minReplicas": 1, "maxReplicas": 10,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                      "type": "Utilization", "averageUtilization": 50}}}]}},
    ], NS)
    auto = client.AutoscalingV2Api(api)
    # Steady state first: the HPA has read a metric at low load.
    while True:
        set_load(api, 50)
        hpa = auto.read_namespaced_horizontal_pod_autoscaler(APP, NS)
        if hpa.status.current_metrics and ready_replicas(api) == 1:
            break
        time.sleep(1)
    step = time.monotonic()
    decided = None
    while ready_replicas(api) < 2:
        set_load(api, 600)
        if decided is None and (auto.read_namespaced_horizontal_pod_autoscaler(APP, NS).status.desired_replicas or 1) > 1:
            decided = time.monotonic() - step
        time.sleep(0.5)
    first_ready = time.monotonic() - step
    k8s.delete_namespace(api, NS)
    return first_ready, decided or first_ready


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    quiet = Progress(quiet=True)
    build_times()
    provider = KwokProvider("scalelab-bench")
    provider.down(quiet)
    cold, warm, react, decide = [], [], [], []
    for i in range(args.repeat):
        cold.append(timed(lambda: provider.up(quiet)))
        warm.append(timed(lambda: provider.up(quiet)))
        r, d = hpa_reaction(provider.api())
        react.append(r)
        decide.append(d)
        provider.down(quiet)
        print(f"run {i + 1}: up from nothing {cold[-1]:.1f} s, up again {warm[-1]:.2f} s, "
              f"HPA decision {d:.1f} s, first new ready replica {r:.1f} s")

    def summary(name: str, xs: list[float]) -> None:
        print(f"{name:<42} median {statistics.median(xs):6.1f} s  (min {min(xs):.1f}, max {max(xs):.1f}, n={len(xs)})")

    summary("scalelab up, no cluster (binaries cached)", cold)
    summary("scalelab up, cluster already up", warm)
    summary("load step -> HPA scale-up decision", decide)
    summary("load step -> first new ready replica", react)


if __name__ == "__main__":
    main()
