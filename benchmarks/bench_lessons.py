"""Benchmarks for the lessons: run time of each notebook, spike-to-scale-up, dashboard refresh rate.

Prints numbers; asserts nothing. Uses its own kwok cluster ("scalelab-bench-lessons")
and kubeconfig. Run inside the project's environment:

    python benchmarks/bench_lessons.py [--skip-notebooks]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ["KUBECONFIG"] = str(Path(tempfile.mkdtemp(prefix="scalelab-bench-")) / "kubeconfig")
os.environ["SCALELAB_CLUSTER"] = "scalelab-bench-lessons"

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from scalelab import k8s, traffic  # noqa: E402
from scalelab.cluster.kwok import KwokProvider  # noqa: E402
from scalelab.progress import Progress  # noqa: E402
from scalelab.replay import Replay  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def time_notebooks() -> None:
    for path in sorted((ROOT / "lessons").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        start = time.monotonic()
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        print(f"lesson {path.stem:<36} {time.monotonic() - start:6.0f} s")


def spike_to_scale_up(provider: KwokProvider) -> None:
    """Lesson 03's replay: seconds from 18:00 (the album drop) to the HPA's first scale-up."""
    api = provider.api()
    ns = "bench-spike"
    k8s.delete_namespace(api, ns)
    k8s.ensure_namespace(api, ns)
    k8s.apply_file(api, ROOT / "manifests" / "stream-api-autoscaled.yaml", ns)
    k8s.scale(api, ns, "stream-api", 2)
    time.sleep(5)
    k8s.apply_file(api, ROOT / "manifests" / "stream-api-hpa.yaml", ns)
    spike = traffic.album_release()
    replay = Replay(api, ns, "stream-api", spike, traffic.EmulatedCPU(api), fast_forward=20).run()
    drop = next(s for s in replay.samples if s.demand_rps > spike.rps(0) * 1.5)
    first = next((s for s in replay.samples if s.minute >= drop.minute and s.desired > 2), None)
    if first is None:
        print("spike -> first scale-up: none during the replay")
    else:
        story = first.minute - drop.minute
        print(f"spike -> first scale-up: {story:.0f} story minutes = {story * replay.tick_seconds:.0f} s wall "
              f"(desired {first.desired} at {first.clock}); dropped {replay.score.dropped_requests:,.0f} requests")
    k8s.delete_namespace(api, ns)


def board_refresh(provider: KwokProvider, pods: int = 200) -> None:
    """Pod board with ``pods`` pods on 20+ nodes: redraws per second and time per redraw while pods churn."""
    from kubernetes import client

    from scalelab.viz import PodBoard

    api = provider.api()
    ns = "bench-board"
    k8s.delete_namespace(api, ns)
    k8s.ensure_namespace(api, ns)
    k8s.apply_file(api, ROOT / "manifests" / "cluster" / "kwok-burst-pool.yaml")
    k8s.apply_file(api, ROOT / "manifests" / "stream-api-autoscaled.yaml", ns)
    apps = client.AppsV1Api(api)
    board = PodBoard(api, namespace=ns)
    start, redraws = time.monotonic(), board.redraws
    k8s.scale(api, ns, "stream-api", pods)
    while (apps.read_namespaced_deployment("stream-api", ns).status.ready_replicas or 0) < pods:
        time.sleep(0.5)
    scale_up = time.monotonic() - start
    draws = board.redraws - redraws
    t0 = time.monotonic()
    for _ in range(10):
        board.redraw()
    per_draw = (time.monotonic() - t0) / 10
    print(f"pod board, {pods} pods on {len(board.nodes.items)} nodes: {draws / scale_up:.1f} redraws/s while "
          f"pods came up over {scale_up:.0f} s; one redraw takes {per_draw * 1000:.0f} ms")
    board.close()
    k8s.delete_namespace(api, ns, timeout=300)
    client.CoreV1Api(api).delete_collection_node(label_selector="scalelab.dev/pool=burst")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-notebooks", action="store_true")
    args = parser.parse_args()
    provider = KwokProvider("scalelab-bench-lessons")
    quiet = Progress(quiet=True)
    provider.up(quiet)
    try:
        spike_to_scale_up(provider)
        board_refresh(provider)
        if not args.skip_notebooks:
            time_notebooks()
    finally:
        provider.down(quiet)


if __name__ == "__main__":
    main()
