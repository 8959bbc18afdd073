"""The preflight of each notebook, judged on plain node and pod dicts (as `kubectl get -o json` gives them)."""

import json
import re

import yaml

from scalelab import doctor, needs, paths
from scalelab.cluster import kind, kwok
from scalelab.errors import ClusterShapeError, ScaleLabError

ROOT = paths.project_root()


def node(name, cpu="4", pool=None, zone=None, taints=(), unschedulable=False, ready="True"):
    labels = {k: v for k, v in (("scalelab.dev/pool", pool), ("topology.kubernetes.io/zone", zone)) if v}
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"taints": [{"key": "k", "effect": e} for e in taints], "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu}, "conditions": [{"type": "Ready", "status": ready}]}}


def pod(namespace, node_name, cpu, phase="Running"):
    return {"metadata": {"namespace": namespace}, "spec": {"nodeName": node_name, "containers": [
        {"resources": {"requests": {"cpu": cpu}}}]}, "status": {"phase": phase}}


def kind_nodes(config_name, host_cpus="2"):
    """The nodes a kind config makes: every node gets the host's CPUs; with workers the control plane is tainted."""
    config = yaml.safe_load(kind.config_path(config_name).read_text())
    has_workers = any(n["role"] == "worker" for n in config["nodes"])
    return [node(f"n{i}", host_cpus, (n.get("labels") or {}).get("scalelab.dev/pool"),
                 (n.get("labels") or {}).get("topology.kubernetes.io/zone"),
                 taints=("NoSchedule",) if n["role"] == "control-plane" and has_workers else ())
            for i, n in enumerate(config["nodes"])]


ONE_NODE = [node("laptop", "2", pool="laptop")]


def test_one_node_cluster_stops_lab_4_in_one_line_with_the_fleet_fix():
    shape = needs.shape_of(ONE_NODE, [])
    error = needs.check(needs.NEEDS["lab-4"], shape, "kind")
    assert isinstance(error, ClusterShapeError) and isinstance(error, ScaleLabError)
    assert str(error) == (
        "lab 4 needs the onprem and cloud pools, 2 zones and 2 schedulable nodes (it spreads pods over pools and "
        "zones, then drains a node); this cluster has 1 schedulable node (pool laptop; no zone), 2.0 CPUs free. "
        "Fix: `scalelab down && scalelab up` (the default fleet: on-prem and cloud pools in three zones)")
    assert "\n" not in str(error)
    assert error._render_traceback_() == [f"ClusterShapeError: {error}"]  # IPython shows this, not a traceback


def test_on_kwok_the_fix_keeps_the_provider():
    error = needs.check(needs.NEEDS["lab-1"], needs.shape_of(ONE_NODE, []), "kwok")
    assert error.problem.startswith("lab 1 needs the cloud pool (its fit task places 12 pods in the cloud pool)")
    assert error.fix.startswith("`scalelab down && scalelab up --provider kwok`")


def test_cpu_held_by_other_lessons_is_fixed_by_reset_not_a_new_cluster():
    nodes = [node("a", "2", "cloud", "cloud-a"), node("b", "2", "onprem", "dc-1")]
    pods = [pod("lesson-03", "a", "1500m"), pod("lesson-03", "b", "1500m")]
    shape = needs.shape_of(nodes, pods, tutorial_namespaces=["lesson-03"])
    error = needs.check(needs.NEEDS["lab-2"], shape, "kind")
    assert error.problem.startswith("lab 2 needs 2.0 CPUs free; this cluster has 2 schedulable nodes")
    assert error.fix == "`scalelab reset` (other lessons' and labs' namespaces hold 3.0 CPUs), then re-run this cell"


def test_cpu_is_counted_per_pool_and_the_notebooks_own_namespace_is_not_counted():
    nodes = [node("c1", "2", "cloud", "cloud-a"), node("o1", "8", "onprem", "dc-1")]
    pods = [pod("lab-1", "c1", "2"), pod("kube-system", "c1", "100m"), pod("done", "c1", "1", phase="Succeeded")]
    shape = needs.shape_of(nodes, pods, skip_namespaces=["lab-1"])
    assert shape.free_m("cloud") == 1900 and shape.free_m() == 9900
    error = needs.check(needs.NEEDS["lab-1"], shape, "kind")  # 12 pods of 200m in the cloud pool
    assert error.problem.startswith("lab 1 needs 2.4 CPUs free in the cloud pool (it has 1.9);")
    assert error.fix.startswith("`scalelab down && scalelab up`")


def test_cordoned_tainted_and_not_ready_nodes_do_not_count():
    nodes = [node("cp", "8", taints=("NoSchedule",)), node("x", "8", "cloud", "cloud-a", unschedulable=True),
             node("y", "8", "cloud", "cloud-b", ready="False"), node("z", "4", "cloud", "cloud-a",
                                                                        taints=("PreferNoSchedule",))]
    shape = needs.shape_of(nodes, [])
    assert [n.name for n in shape.schedulable] == ["z"] and shape.zones() == ["cloud-a"]
    assert needs.shortfalls(needs.NEEDS["lesson-05"], shape) == (["2 schedulable nodes"], [])


def test_the_cpu_needs_follow_the_manifests():
    # lab 2: the reference HPA's maxReplicas times the reference Deployment's request
    docs = list(yaml.safe_load_all((ROOT / "labs/solutions/02-viral-spike/hpa.yaml").read_text()))
    hpa = next(d for d in docs if d and d["kind"] == "HorizontalPodAutoscaler")
    dep = next(d for d in yaml.safe_load_all((ROOT / "labs/solutions/02-viral-spike/deployment.yaml").read_text())
               if d and d["kind"] == "Deployment")
    request = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    assert needs.NEEDS["lab-2"].cpu_m() == {None: hpa["spec"]["maxReplicas"] * needs.k8s.cpu_millicores(request)}
    assert list(needs.NEEDS["lab-1"].cpu_m()) == ["cloud"]  # from the reference solution's nodeSelector


def test_every_notebook_has_an_entry_and_no_entry_is_stale():
    started = set()
    for path in sorted(ROOT.glob("lessons/*.ipynb")) + sorted(ROOT.glob("labs/*/*.ipynb")):
        code = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        started |= set(re.findall(r'Lesson\.start\("([^"]+)"', code))
        started |= {f"lab-{n}" for n in re.findall(r"Lab\.start\((\d+)", code)}
    assert started == set(needs.NEEDS)


def test_the_default_configs_run_every_notebook_and_one_node_names_the_three_that_need_pools():
    # kind's default fleet on a 2-core laptop, with kube-system's requests on each worker
    fleet = kind_nodes("default")
    system = [pod("kube-system", n["metadata"]["name"], "300m") for n in fleet]
    assert needs.check_all(needs.shape_of(fleet, system), "kind") == ([], "")
    kwok_nodes = [d for d in needs.k8s.load_manifests(kwok.fleet_path(None)) if d["kind"] == "Node"]
    assert needs.check_all(needs.shape_of(kwok_nodes, []), "kwok") == ([], "")
    # one node with 8 CPUs: only the notebooks that need pools, zones or a second node stop
    problems, fix = needs.check_all(needs.shape_of(kind_nodes("one-node", "8"), []), "kind")
    assert [p.split(" needs ")[0] for p in problems] == ["lesson 05", "lab 1", "lab 4"]
    assert fix.startswith("`scalelab down && scalelab up`")


def test_doctor_line_fails_with_the_fix_on_one_node_and_passes_on_the_fleet():
    failed = doctor.check_shape(needs.shape_of(ONE_NODE, []), "kind")
    assert failed.status == doctor.FAIL
    # lesson 03 and lab 2 fit its 2 CPUs (15 and 20 pods of 100m); lesson 02's encoder (6 × 500m) does not
    assert failed.detail.startswith("lesson 02 needs 3.0 CPUs free; lesson 05 needs the cloud pool")
    assert failed.detail.endswith("this cluster has 1 schedulable node (pool laptop; no zone), 2.0 CPUs free")
    assert "fix: `scalelab down && scalelab up` (the default fleet" in failed.render()
    ok = doctor.check_shape(needs.shape_of(kind_nodes("default", "4"), []), "kind")
    assert ok.status == doctor.OK
    assert ok.detail == ("3 schedulable nodes (pools cloud, onprem; zones cloud-a, cloud-b, dc-1), 12.0 CPUs free: "
                         "every lesson and lab fits")
