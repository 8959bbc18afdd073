"""The `# $ kubectl …` lines the notebooks print do what the cell's Python did.

A learner copies these lines into a terminal. Each case below takes one printed
line from a notebook (it must still be there, word for word, or the case fails),
runs the library step the cell runs in one scratch namespace and the printed
line, typed as a learner would from the project root, in another, from the same
start; then compares the objects they leave. A last test keeps every kind of
change the notebooks print (apply, scale, patch, set env, delete, rollout undo,
drain, uncordon, create) covered by a case.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from kubernetes import client

from scalelab import k8s, kube, kubectl
from scalelab.names import FIELD_MANAGER
from tests.cluster.helpers import eventually

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted([*ROOT.glob("lessons/*.ipynb"), *ROOT.glob("labs/*/*.ipynb")])
PROMPT = re.compile(r"^\s*# \$ (kubectl .*)$")


def printed_lines() -> list[tuple[str, str]]:
    """(notebook file name, printed command) for every `# $ kubectl …` line of every notebook."""
    found = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                for line in "".join(cell["source"]).splitlines():
                    match = PROMPT.match(line)
                    if match:
                        found.append((path.name, match[1].strip()))
    return found


def printed(notebook_prefix: str, pattern: str) -> str:
    """The one printed line of that notebook matching ``pattern`` (a regex), as printed."""
    hits = [line for nb, line in printed_lines() if nb.startswith(notebook_prefix) and re.search(pattern, line)]
    assert len(hits) == 1, f"expected one printed line like {pattern!r} in {notebook_prefix}*, found {hits}"
    return hits[0]


def as_typed(line: str, namespace: str, fill: str | None = None) -> list[list[str]]:
    """The printed line as argument lists a learner's shell would run: the trailing comment dropped, `&&`
    split, the lesson's namespace replaced by ``namespace`` and the one `<placeholder>` by ``fill``."""
    line = re.sub(r"\s{2,}\(.*\)\s*$", "", line).strip()
    if fill is not None:
        line = re.sub(r"<[^>]+>", fill, line, count=1)
    assert "<" not in line, f"unfilled placeholder in {line!r}"
    commands = []
    for part in line.split(" && "):
        args = shlex.split(part)
        assert args[0] == "kubectl", part
        args = [namespace if i and args[i - 1] == "-n" else a for i, a in enumerate(args)]
        commands.append(args[1:])
    return commands


def type_in_terminal(line: str, namespace: str, fill: str | None = None, timeout: float = 180) -> None:
    binary = shutil.which("kubectl")
    assert binary, "kubectl is not on PATH"
    for args in as_typed(line, namespace, fill):
        out = subprocess.run([binary, "--context", kube.current_context(), *args], cwd=ROOT,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
        assert out.returncode == 0, f"`kubectl {' '.join(args)}` failed: {out.stderr}"


def comparable(obj: Any) -> dict[str, Any]:
    """An object as both routes should leave it: spec and labels, without what the server stamps."""
    data = client.ApiClient().sanitize_for_serialization(obj)
    meta = data.get("metadata", {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k not in ("deployment.kubernetes.io/revision",)}
    return {"labels": meta.get("labels"), "annotations": annotations or None, "spec": data.get("spec")}


def appliers(obj: Any) -> set[tuple[str, str]]:
    """(manager, operation) of the field managers that are not controllers."""
    return {(m.manager, m.operation) for m in obj.metadata.managed_fields or []
            if not m.manager.startswith("kube-")}


@pytest.fixture
def spaces(api):
    """Two fresh namespaces (names of their own: a namespace still terminating from an earlier test, or
    slow to go after a control-plane restart elsewhere in this session, never holds a test up)."""
    suffix = secrets.token_hex(3)
    pair = SimpleNamespace(lib=f"printed-lib-{suffix}", typed=f"printed-typed-{suffix}")
    for name in (pair.lib, pair.typed):
        # Not tutorial-labelled: they are deleted without waiting, and a notebook's second run (same worker,
        # next test) checks that no tutorial namespace is left.
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield pair
    for name in (pair.lib, pair.typed):
        try:
            client.CoreV1Api(api).delete_namespace(name)  # not awaited
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def both(spaces, setup: Callable[[str], None]) -> None:
    for name in (spaces.lib, spaces.typed):
        setup(name)


def deployment(api, ns: str, name: str = "stream-api"):
    return client.AppsV1Api(api).read_namespaced_deployment(name, ns)


def test_a_lesson_apply(api, spaces):
    line = printed("03-", r"apply .* -f manifests/stream-api-autoscaled\.yaml$")
    k8s.apply_file(api, ROOT / "manifests/stream-api-autoscaled.yaml", spaces.lib)
    type_in_terminal(line, spaces.typed)
    lib, typed = deployment(api, spaces.lib), deployment(api, spaces.typed)
    assert comparable(typed) == comparable(lib)
    assert appliers(typed) == appliers(lib) == {(FIELD_MANAGER, "Apply")}


def test_a_lab_apply_with_strict_validation(api, spaces):
    # The learner's file as found has TODOs; the reference answer stands in for a finished one.
    line = printed("lab-03", r"apply .*-f labs/03-ship-v2/deployment\.yaml$")
    line = line.replace("labs/03-ship-v2/", "labs/solutions/03-ship-v2/")
    both(spaces, lambda ns: k8s.apply_file(api, ROOT / "manifests/labs/03-as-found.yaml", ns))
    # What Lab.apply runs (scalelab/checks/lab.py): the library's apply line, strictly validated.
    solution = "labs/solutions/03-ship-v2/deployment.yaml"
    out = kubectl.run([*shlex.split(k8s.apply_command(solution))[1:], "--validate=strict"], kube.current_context(),
                      spaces.lib)
    assert out.returncode == 0, out.stderr
    type_in_terminal(line, spaces.typed)
    lib, typed = deployment(api, spaces.lib), deployment(api, spaces.typed)
    assert comparable(typed) == comparable(lib)
    assert appliers(typed) == appliers(lib)


def test_scale(api, spaces):
    line = printed("01-", r"^kubectl scale deployment/stream-api")
    replicas = int(re.search(r"--replicas=(\d+)", line)[1])
    both(spaces, lambda ns: k8s.apply_file(api, ROOT / "manifests/stream-api.yaml", ns))
    k8s.scale(api, spaces.lib, "stream-api", replicas + 1)  # away from the manifest's count first, in both
    k8s.scale(api, spaces.typed, "stream-api", replicas + 1)
    k8s.scale(api, spaces.lib, "stream-api", replicas)
    type_in_terminal(line, spaces.typed)
    assert deployment(api, spaces.typed).spec.replicas == deployment(api, spaces.lib).spec.replicas == replicas


def test_patch(api, spaces):
    line = printed("03-", r"^kubectl patch hpa stream-api")
    for ns in (spaces.lib, spaces.typed):
        k8s.apply_file(api, ROOT / "manifests/stream-api-autoscaled.yaml", ns)
        k8s.apply_file(api, ROOT / "manifests/stream-api-hpa.yaml", ns)
    client.AutoscalingV2Api(api).patch_namespaced_horizontal_pod_autoscaler(  # lesson 03's cell
        "stream-api", spaces.lib, {"spec": {"maxReplicas": 3}})
    type_in_terminal(line, spaces.typed)
    hpa = client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler
    assert comparable(hpa("stream-api", spaces.typed)) == comparable(hpa("stream-api", spaces.lib))
    assert hpa("stream-api", spaces.typed).spec.max_replicas == 3


def test_set_env(api, spaces):
    from scalelab.lesson import Lesson

    line = printed("05-", r"^kubectl set env deployment/stream-api")
    both(spaces, lambda ns: k8s.apply_file(api, ROOT / "manifests/stream-api.yaml", ns))
    lesson = Lesson.attach(spaces.lib)
    lesson.set_env("stream-api", "stream-api", STREAM_API_VERSION="v2")
    type_in_terminal(line, spaces.typed)
    assert comparable(deployment(api, spaces.typed)) == comparable(deployment(api, spaces.lib))


def test_delete_a_pod(api, spaces):
    line = printed("00-", r"^kubectl delete pod <victim>")
    both(spaces, lambda ns: k8s.apply_file(api, ROOT / "manifests/stream-api.yaml", ns))
    core = client.CoreV1Api(api)

    def a_pod(ns: str) -> str:
        return eventually(lambda: [p.metadata.name for p in core.list_namespaced_pod(ns).items], 120,
                          f"pods in {ns}")[0]

    victims = {ns: a_pod(ns) for ns in (spaces.lib, spaces.typed)}
    core.delete_namespaced_pod(victims[spaces.lib], spaces.lib)  # lesson 00's cell
    type_in_terminal(line, spaces.typed, fill=victims[spaces.typed])  # kubectl waits until it is gone
    for ns, victim in victims.items():
        eventually(lambda: victim not in [p.metadata.name for p in core.list_namespaced_pod(ns).items], 90,
                   f"{victim} gone")


def test_delete_a_deployment_and_its_pods(api, spaces):
    line = printed("02-", r"^kubectl delete deployment stream-api .*&& kubectl delete pods --all")
    both(spaces, lambda ns: k8s.apply_file(api, ROOT / "manifests/stream-api.yaml", ns))
    client.AppsV1Api(api).delete_namespaced_deployment("stream-api", spaces.lib)  # lesson 02's cell
    client.CoreV1Api(api).delete_collection_namespaced_pod(spaces.lib)
    type_in_terminal(line, spaces.typed)
    for ns in (spaces.lib, spaces.typed):
        eventually(lambda: not client.CoreV1Api(api).list_namespaced_pod(ns).items, 120, f"{ns} empty of pods")
        assert not client.AppsV1Api(api).list_namespaced_deployment(ns).items


def test_rollout_undo(api, spaces):
    # Lesson 04 runs this very kubectl line itself (L.kubectl); here: typed, it brings v1 back.
    line = printed("04-", r"^kubectl rollout undo deployment/stream-api")
    k8s.apply_file(api, ROOT / "manifests/rollout/stream-api-v1.yaml", spaces.typed)
    eventually(lambda: k8s.rollout_status(api, spaces.typed, "stream-api")[0], 120, "v1 rolled out")
    k8s.apply_file(api, ROOT / "manifests/rollout/stream-api-v2.yaml", spaces.typed)
    eventually(lambda: k8s.rollout_status(api, spaces.typed, "stream-api")[0], 120, "v2 rolled out")
    type_in_terminal(line, spaces.typed)
    v1 = next(d for d in k8s.load_manifests(ROOT / "manifests/rollout/stream-api-v1.yaml") if d["kind"] == "Deployment")
    live = client.ApiClient().sanitize_for_serialization(deployment(api, spaces.typed).spec.template.spec.containers[0].env)
    assert live == v1["spec"]["template"]["spec"]["containers"][0].get("env")


def _fake_node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "scalelab.dev/pool": "printed-test", "type": "kwok"}},
            "spec": {"taints": [{"key": "scalelab.dev/printed-test", "value": "true", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}}


def _pinned_pods(node: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pinned"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "pinned"}},
                     "template": {"metadata": {"labels": {"app": "pinned"}},
                                  "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                                           "tolerations": [{"key": "scalelab.dev/printed-test",
                                                            "operator": "Exists"}],
                                           "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}}}


def test_drain_and_uncordon(api, spaces):
    # Two fake kwok nodes of our own (this layer runs on kwok), tainted so that nothing else lands there.
    drain_line = printed("05-", r"^kubectl drain <")
    uncordon_line = printed("05-", r"^kubectl uncordon <")
    core = client.CoreV1Api(api)
    nodes = {spaces.lib: f"{spaces.lib}-node", spaces.typed: f"{spaces.typed}-node"}
    try:
        for ns, node in nodes.items():
            k8s.apply_objects(api, [_fake_node(node)])
            eventually(lambda: any(c.type == "Ready" and c.status == "True"
                                   for c in core.read_node(node).status.conditions or []), 120, f"{node} Ready")
            k8s.apply_objects(api, [_pinned_pods(node)], ns)
            eventually(lambda: k8s.rollout_status(api, ns, "pinned")[0], 120, f"pods on {node}")
        k8s.drain(api, nodes[spaces.lib])  # lesson 05's maintenance step
        type_in_terminal(drain_line, spaces.typed, fill=nodes[spaces.typed])
        for ns, node in nodes.items():
            assert core.read_node(node).spec.unschedulable is True
            left = [p for p in core.list_namespaced_pod(ns, field_selector=f"spec.nodeName={node}").items
                    if not p.metadata.deletion_timestamp]
            assert left == [], f"{node}: {[p.metadata.name for p in left]} not evicted"
        k8s.cordon(api, nodes[spaces.lib], unschedulable=False)  # lesson 05's uncordon
        type_in_terminal(uncordon_line, spaces.typed, fill=nodes[spaces.typed])
        assert not core.read_node(nodes[spaces.lib]).spec.unschedulable and not core.read_node(nodes[spaces.typed]).spec.unschedulable
    finally:
        for node in nodes.values():
            try:
                core.delete_node(node)
            except client.ApiException:
                pass


def test_namespace_create_and_delete(api):
    """`kubectl create namespace` / `delete namespace`, as every notebook prints them. (Lesson.start also
    labels the namespace scalelab.dev/tutorial, Scale Lab's own bookkeeping for `scalelab reset`.)"""
    create = printed("03-", r"^kubectl create namespace ")
    delete = printed("03-", r"^kubectl delete namespace ")
    name = f"printed-ns-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api)
    type_in_terminal(create.replace("lesson-03", name), name)
    assert core.read_namespace(name).status.phase == "Active"
    type_in_terminal(delete.replace("lesson-03", name), name, timeout=600)  # kubectl waits until it is gone
    assert name not in [n.metadata.name for n in core.list_namespace().items]


READ_ONLY = {"get", "describe", "top", "diff"}
CASES = {"apply": test_a_lesson_apply, "scale": test_scale, "patch": test_patch, "set": test_set_env,
         "delete": test_delete_a_pod, "rollout undo": test_rollout_undo, "drain": test_drain_and_uncordon,
         "uncordon": test_drain_and_uncordon, "create": test_namespace_create_and_delete}


def test_every_kind_of_change_the_notebooks_print_has_a_case():
    uncovered = set()
    for notebook, line in printed_lines():
        words = line.split()[1:]
        verb = "rollout undo" if words[:2] == ["rollout", "undo"] else words[0]
        if verb == "rollout" or verb in READ_ONLY:  # rollout status / history only read
            continue
        if verb not in CASES:
            uncovered.add(f"{notebook}: {line}")
    assert not uncovered, f"printed lines that change the cluster with no case here: {sorted(uncovered)}"
