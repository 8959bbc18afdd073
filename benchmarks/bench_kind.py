"""kind against kwok: cluster start, and how fast the HPA reacts to a step of CPU load.

Prints numbers; asserts nothing. Each provider gets its own cluster
("scalelab-bench-kind" / "scalelab-bench-kwok") and kubeconfig, deleted at the end.
On kind the CPU is really burned (resource-consumer); on kwok it is emulated.

    python benchmarks/bench_kind.py [--providers kind,kwok] [--cold-build]

``--cold-build`` also times tools/offline-kind/build.py from an empty cache
(a temporary SCALELAB_CACHE: every binary is compiled again, tens of minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["KUBECONFIG"] = str(Path(tempfile.mkdtemp(prefix="scalelab-bench-")) / "kubeconfig")

from kubernetes import client  # noqa: E402

from scalelab import k8s, paths, traffic  # noqa: E402
from scalelab.cluster.kind import KindProvider  # noqa: E402
from scalelab.cluster.kwok import KwokProvider  # noqa: E402
from scalelab.progress import Progress  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NS = "bench-hpa"


def consumer_with_hpa() -> list[dict]:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "consumer"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "consumer"}},
                 "template": {"metadata": {"labels": {"app": "consumer"}}, "spec": {"containers": [{
                     "name": "app", "image": traffic.ResourceConsumerCPU.IMAGE,
                     "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
                     "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "500m"}}}]}}}}
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "consumer"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consumer"},
                    "minReplicas": 1, "maxReplicas": 4,
                    "metrics": [{"type": "Resource", "resource": {
                        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}
    return [deployment, hpa]


def hpa_reaction(api: client.ApiClient, provider: str) -> tuple[float, float]:
    """Seconds from a 200m step (on a 100m request, target 50 %) to the HPA's first scale-up, and to 2 ready pods."""
    k8s.delete_namespace(api, NS)
    k8s.ensure_namespace(api, NS)
    k8s.apply_objects(api, consumer_with_hpa(), NS)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    deadline = time.monotonic() + 180
    while not k8s.rollout_status(api, NS, "consumer")[0]:
        if time.monotonic() > deadline:
            raise SystemExit("the consumer pod never became ready")
        time.sleep(1)
    time.sleep(20)  # let the HPA read the idle pod first, as a real service would be read
    driver = traffic.driver_for(api, provider)
    pods = core.list_namespaced_pod(NS, label_selector="app=consumer").items
    start = time.monotonic()
    driver.apply(pods, 200)
    scaled = ready = None
    try:
        while time.monotonic() - start < 300 and ready is None:
            dep = apps.read_namespaced_deployment("consumer", NS)
            if scaled is None and dep.spec.replicas > 1:
                scaled = time.monotonic() - start
            if (dep.status.ready_replicas or 0) >= 2:
                ready = time.monotonic() - start
            time.sleep(0.5)
    finally:
        driver.stop()
        k8s.delete_namespace(api, NS)
    return scaled or float("nan"), ready or float("nan")


def bench(provider_name: str) -> None:
    cluster = f"scalelab-bench-{provider_name}"
    provider = KindProvider(cluster) if provider_name == "kind" else KwokProvider(cluster)
    if provider.exists():
        provider.down(Progress(quiet=True))
    start = time.monotonic()
    provider.up(Progress(quiet=True))
    up = time.monotonic() - start
    try:
        scaled, ready = hpa_reaction(provider.api(), provider_name)
    finally:
        start = time.monotonic()
        provider.down(Progress(quiet=True))
        down = time.monotonic() - start
    print(f"{provider_name:<5} scalelab up (metrics flowing) {up:6.1f} s · 200m step -> HPA scales out "
          f"{scaled:5.1f} s -> 2 pods ready {ready:5.1f} s · down {down:4.1f} s")


def cached_build_times() -> None:
    """What the cached builds took when they were made (each component records it)."""
    for done in sorted(paths.cache_dir().glob("bin/*/.complete")):
        info = json.loads(done.read_text())
        print(f"  built {done.parent.name:<32} {info.get('seconds', '?'):>5} s")


def cold_build() -> None:
    env = dict(os.environ, SCALELAB_CACHE=tempfile.mkdtemp(prefix="scalelab-cold-"))
    start = time.monotonic()
    code = subprocess.run([sys.executable, str(ROOT / "tools" / "offline-kind" / "build.py")], env=env).returncode
    print(f"offline node image from an empty cache: {time.monotonic() - start:.0f} s (exit {code})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", default="kind,kwok")
    parser.add_argument("--cold-build", action="store_true")
    args = parser.parse_args()
    if args.cold_build:
        cold_build()
    print("binary builds in the cache:")
    cached_build_times()
    for name in args.providers.split(","):
        bench(name)


if __name__ == "__main__":
    main()
