"""Lab 1: right-size the stream API.

The learner reads a week of usage (`kubectl top` samples the lab produces),
sets requests and limits from it, reaches the Guaranteed QoS class, fits 12
replicas into the cloud pool, and polices the namespace with a LimitRange and a
ResourceQuota. Every check reads the real objects; admission checks use a
server-side dry run, so the API server itself says what the LimitRange does.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from kubernetes import client

from scalelab import k8s
from scalelab.checks import read, settle
from scalelab.checks.core import LabSpec, Task, Wrong
from scalelab.errors import ScaleLabError
from scalelab.names import POOL_LABEL
from scalelab.rightsizing import percentile
from scalelab.wait import wait_for

REPLICAS = 12
POOL = "cloud"
SURGE = 3  # a rolling update of 12 replicas adds up to 25 % more pods for a moment
MAX_PODS = 20
IMAGE = "registry.k8s.io/e2e-test-images/resource-consumer:1.13"
TOP_SHARE = 0.6  # `kubectl top` counts as showing the usage once each pod shows this share of it


def usage_history() -> dict[str, list[float]]:
    """A week of hourly `kubectl top` readings of one stream-api pod (deterministic: the same for everyone).

    Quiet nights, a busy evening peak, and a bigger Friday-night peak.
    """
    cpu, mem = [], []
    for hour in range(7 * 24):
        h = hour % 24
        evening = max(0.0, math.cos((h - 20) / 24 * 2 * math.pi))
        friday = 1.25 if hour // 24 == 4 else 1.0
        cpu.append(round(40 + 120 * evening ** 2 * friday + 6 * ((hour * 7) % 5)))
        mem.append(round(70 + 30 * evening * friday + (hour % 3)))
    return {"cpu_m": cpu, "memory_mi": mem}


def observed() -> dict[str, int]:
    h = usage_history()
    return {"cpu_p95": round(percentile(h["cpu_m"], 95)), "cpu_max": round(max(h["cpu_m"])),
            "mem_p95": round(percentile(h["memory_mi"], 95)), "mem_max": round(max(h["memory_mi"]))}


def print_usage() -> None:
    """What the lab shows the learner instead of a week of `kubectl top pods`."""
    h, o = usage_history(), observed()
    print("A week of `kubectl top pods` for one stream-api pod (hourly readings):")
    print(f"  CPU     median {round(percentile(h['cpu_m'], 50))}m   p95 {o['cpu_p95']}m   max {o['cpu_max']}m")
    print(f"  memory  median {round(percentile(h['memory_mi'], 50))}Mi  p95 {o['mem_p95']}Mi  max {o['mem_max']}Mi")


def prepare(lab: Any) -> None:
    """Make the as-found pods use CPU and memory like a busy evening, so `kubectl top` has numbers.

    Through the lesson's load driver, as every lesson does: on kind the pods
    really burn the CPU and hold the memory (resource-consumer), on kwok the
    usage is emulated. The lab's cleanup stops the driver.
    """
    o = observed()
    if not settle.rollout(lab, timeout=90):
        raise ScaleLabError("the as-found stream-api pods did not start.", "look at `kubectl -n lab-1 get pods`; `scalelab status` shows the cluster")
    pods = [p for p in client.CoreV1Api(lab.api).list_namespaced_pod(lab.namespace, label_selector="app=stream-api").items
            if not p.metadata.deletion_timestamp]
    lab.lesson.driver.apply(pods, o["cpu_p95"], memory_mib=o["mem_p95"])


def top(lab: Any) -> None:
    """`kubectl top pods`, once the metrics API has scraped the usage `prepare` gave the as-found pods.

    Measured usage on kind is real and noisy (a busy host slows the burner, the
    container's own process adds a few MiB), so the wait asks for most of it, not all.
    """
    o = observed()
    lab.lesson.wait_cpu(lambda m: m > TOP_SHARE * o["cpu_p95"], "kubectl top to show the pods' CPU usage",
                        pods=3, timeout=120)

    def memory_shown() -> tuple[bool, str]:
        mem = k8s.pod_memory(lab.api, lab.namespace, "app=stream-api")
        ok = len(mem) == 3 and all(m > TOP_SHARE * o["mem_p95"] for m in mem.values())
        return ok, str({name: f"{round(m)}Mi" for name, m in mem.items()})

    wait_for(memory_shown, "kubectl top to show the pods' memory usage", 90)
    lab.kubectl("top pods")


# --- checks --------------------------------------------------------------------------------


def check_requests(lab: Any) -> str:
    o = observed()
    res = read.effective_resources(lab, read.container(read.deployment(lab)))
    cpu, mem = res.millicores("requests"), res.mebibytes("requests")
    where = "Deployment stream-api: containers[stream-api].resources.requests"
    if cpu is None:
        raise Wrong(f"{where}.cpu is not set (nor made by a limit or a LimitRange default): the scheduler "
                    f"reserves no CPU for the pod. Set it from the p95 CPU ({o['cpu_p95']}m).")
    if cpu < o["cpu_p95"]:
        raise Wrong(f"{where}.cpu is {res.text('requests.cpu')}, below the p95 usage of {o['cpu_p95']}m: one hour "
                    "in twenty the pod needs more than was reserved for it. Raise it to at least the p95.")
    if cpu > 2 * o["cpu_p95"]:
        raise Wrong(f"{where}.cpu is {res.text('requests.cpu')}, more than twice the p95 usage ({o['cpu_p95']}m): "
                    f"reserved CPU that sits idle is paid for. Keep it between {o['cpu_p95']}m and "
                    f"{2 * o['cpu_p95']}m.")
    if mem is None:
        raise Wrong(f"{where}.memory is not set. Memory cannot be throttled, so reserve what the pod peaks at "
                    f"({o['mem_max']}Mi).")
    if res.requests["memory"] < o["mem_max"] * 1024 * 1024:
        raise Wrong(f"{where}.memory is {res.text('requests.memory')}, below the highest usage seen "
                    f"({o['mem_max']}Mi). With the limit equal to the request (next task) the pod would be "
                    "OOMKilled at its peak.")
    return f"requests cpu {cpu}m (p95 {o['cpu_p95']}m), memory {mem}Mi (max {o['mem_max']}Mi)"


def check_qos(lab: Any) -> str:
    dep = read.deployment(lab)
    res = read.effective_resources(lab, read.container(dep))
    where = "containers[stream-api].resources"
    for r in ("cpu", "memory"):
        if r not in res.limits:
            raise Wrong(f"{where}.limits.{r} is not set: without both limits the pod cannot be Guaranteed.")
        if res.limits[r] != res.requests.get(r):
            raise Wrong(f"{where}.limits.{r} is {res.text('limits.' + r)} but requests.{r} is "
                        f"{res.text('requests.' + r)}: that makes the pod Burstable. Guaranteed needs limits "
                        "equal to requests.")
    settle.rollout(lab)
    pods = read.pods(lab)
    if not pods:
        raise Wrong("no stream-api pods exist yet; apply deployment.yaml and check again.")
    classes = sorted({p.status.qos_class or "not yet set" for p in pods})
    if classes != ["Guaranteed"]:
        raise Wrong(f"the pods' QoS classes are {', '.join(classes)} (`kubectl get pods -o "
                    "custom-columns=NAME:.metadata.name,QOS:.status.qosClass`); wait for the rollout and check again.")
    return f"all {len(pods)} pods are Guaranteed"


def check_fit(lab: Any) -> str:
    dep = read.deployment(lab)
    if (dep.spec.replicas or 0) != REPLICAS:
        raise Wrong(f"Deployment stream-api: spec.replicas is {dep.spec.replicas}; the task asks for {REPLICAS}.")
    # Judged on the nodes: a nodeSelector on the pool label, or a required node affinity, that keeps every pod
    # in the cloud pool (and lets it use that pool) is right however it is written.
    nodes = {n.metadata.name: n.metadata.labels or {} for n in client.CoreV1Api(lab.api).list_node().items}
    allowed = read.pools(read.nodes_allowed(dep.spec.template.spec, nodes))
    if allowed != {POOL}:
        selector = dep.spec.template.spec.node_selector or {}
        where = (f"spec.template.spec.nodeSelector is {selector or 'not set'}" if not
                 (dep.spec.template.spec.affinity and dep.spec.template.spec.affinity.node_affinity)
                 else f"spec.template.spec.nodeSelector ({selector or 'not set'}) and affinity.nodeAffinity allow "
                      f"the {', '.join(sorted(allowed)) or 'no'} pool(s)")
        raise Wrong(f"Deployment stream-api: {where}; the pods must run in the {POOL} pool, and only there: "
                    f"nodeSelector {{{POOL_LABEL}: {POOL}}}.")
    settle.rollout(lab, timeout=45, until_unschedulable=True)
    pods = read.pods(lab)
    pending = [p for p in pods if not p.spec.node_name and settle.unschedulable(p)]
    if pending:
        cpu = read.effective_resources(lab, read.container(dep)).millicores("requests") or 0
        pool = [n for n in client.CoreV1Api(lab.api).list_node().items
                if (n.metadata.labels or {}).get(POOL_LABEL) == POOL]
        allocatable = sum(read.millicores((n.status.allocatable or {}).get("cpu")) or 0 for n in pool)
        raise Wrong(f"{len(pending)} of {len(pods)} pods are Pending: they do not fit. {REPLICAS} × {cpu}m = "
                    f"{REPLICAS * cpu / 1000:g} CPU; the {POOL} pool has {len(pool)} nodes, {allocatable / 1000:g} "
                    "CPU allocatable in all (`kubectl describe nodes -l scalelab.dev/pool=cloud`). "
                    "`kubectl describe pod` shows the FailedScheduling event; lower resources.requests.cpu.")
    nodes = {n.metadata.name: (n.metadata.labels or {}).get(POOL_LABEL)
             for n in client.CoreV1Api(lab.api).list_node().items}
    outside = sorted({p.spec.node_name for p in pods if nodes.get(p.spec.node_name) != POOL})
    if outside:
        raise Wrong(f"pods still run on {', '.join(outside)}, outside the {POOL} pool; wait for the rollout.")
    if len(pods) < REPLICAS:
        failures = [c.message for rs in client.AppsV1Api(lab.api).list_namespaced_replica_set(
                        lab.namespace, label_selector="app=stream-api").items
                    for c in (rs.status.conditions or []) if c.type == "ReplicaFailure" and c.status == "True"]
        why = f" The ReplicaSet says: {failures[0]}" if failures else " `kubectl describe replicaset` shows why."
        raise Wrong(f"only {len(pods)} of {REPLICAS} pods exist.{why} A ResourceQuota that is too small refuses "
                    "pods ('exceeded quota'): make room in limits.yaml.")
    return f"{len(pods)} pods scheduled in the {POOL} pool"


def _dry_run_pod(lab: Any, resources: dict | None) -> client.V1Pod:
    container = {"name": "probe", "image": IMAGE}
    if resources:
        container["resources"] = resources
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "limitrange-probe-"},
            "spec": {"containers": [container]}}
    return client.CoreV1Api(lab.api).create_namespaced_pod(lab.namespace, body, dry_run="All")


LIMITRANGE, QUOTA = "LimitRange", "ResourceQuota"


def _admit(lab: Any, resources: dict | None) -> tuple[client.V1Pod | None, str, str]:
    """Ask the API server to admit a pod (a dry run): (the pod as admitted or None, who refused it, why).

    The LimitRanger admission plugin validates before ResourceQuota, so a
    quota's refusal means the LimitRange had let the pod through. The two say
    so in their own words ('maximum cpu usage per Container is 2, but limit is
    32' against 'exceeded quota: …', 'failed quota: …' or 'status unknown for
    quota: …'); any other 403 (the check's user may not create pods) is not
    the learner's answer and is raised, so the check says CANNOT CHECK.
    """
    try:
        return _dry_run_pod(lab, resources), "", ""
    except client.ApiException as exc:
        if exc.status != 403:
            raise
        message = _status_message(exc)
        if " per Container " in message or " per Pod " in message:
            return None, LIMITRANGE, message
        if "quota" in message:  # exceeded quota, failed quota, status unknown for quota
            return None, QUOTA, message
        raise


def _status_message(exc: client.ApiException) -> str:
    try:
        return str(json.loads(exc.body).get("message", "")) if exc.body else str(exc.reason)
    except (ValueError, AttributeError):
        return str(exc.body or exc.reason)


def _largest_node(lab: Any) -> tuple[str, Decimal]:
    nodes = client.CoreV1Api(lab.api).list_node().items
    sizes = [(n.metadata.name, read.quantity((n.status.allocatable or {}).get("cpu")) or Decimal(0)) for n in nodes]
    return max(sizes, key=lambda pair: pair[1], default=("no node", Decimal(0)))


def check_limitrange(lab: Any) -> str:
    ranges = client.CoreV1Api(lab.api).list_namespaced_limit_range(lab.namespace).items
    lr = read.only(ranges, "LimitRange", lab.namespace, "Apply limits.yaml (it holds the LimitRange).")
    container_limits = [item for item in lr.spec.limits if item.type == "Container"]
    name = f"LimitRange {lr.metadata.name}: spec.limits[type=Container]"
    if not container_limits:
        raise Wrong(f"LimitRange {lr.metadata.name} has no item with type: Container.")
    item = container_limits[0]
    # What the API server stored: it fills defaultRequest from default, and default from max, where unset.
    for field, what in (("default_request", "defaultRequest"), ("default", "default")):
        values = getattr(item, field) or {}
        for res in ("cpu", "memory"):
            if res not in values:
                raise Wrong(f"{name}.{what}.{res} is not set, so a container that forgets it gets no "
                            f"{'request' if what == 'defaultRequest' else 'limit'}.")
    ceiling = (item.max or {}).get("cpu")
    if not ceiling:
        raise Wrong(f"{name}.max.cpu is not set: nothing stops one container from asking for a whole node.")
    # Ask the API server, as a real pod would: a container without resources gets the defaults...
    pod, refused_by, why = _admit(lab, None)
    if refused_by == LIMITRANGE:
        raise Wrong(f"a pod without resources is refused by the LimitRange ({why}). {name}'s defaults must "
                    "themselves be allowed by its min and max.")
    if pod is not None:
        got = pod.spec.containers[0].resources
        if not (got.requests or {}).get("cpu") or not (got.limits or {}).get("cpu"):
            raise Wrong("a pod created without resources did not get default requests and limits.")
        defaults = f"{got.requests.get('cpu')}/{got.limits.get('cpu')}"
    else:  # the quota is full or too small: the LimitRange let it through, with the defaults it declares
        defaults = f"{item.default_request['cpu']}/{item.default['cpu']}"
    # ...the stream API's own pods are let through...
    try:
        own = read.container(read.deployment(lab))
    except Wrong:
        own = None  # no Deployment yet: nothing of ours to refuse
    if own is not None and own.resources and (own.resources.requests or own.resources.limits):
        _, refused_by, why = _admit(lab, lab.api.sanitize_for_serialization(own.resources))
        if refused_by == LIMITRANGE:
            raise Wrong(f"{name} refuses the stream-api pods themselves: {why}. Their next rollout (or the next "
                        "pod the ReplicaSet replaces) would be refused; raise max.cpu above what they ask for.")
    # ...and one that asks for more than any node has is refused.
    node, size = _largest_node(lab)
    over = f"{int(size * 1000) + 1}m"
    _, refused_by, why = _admit(lab, {"requests": {"cpu": over}, "limits": {"cpu": over}})
    if refused_by != LIMITRANGE or "maximum cpu" not in why:
        quota = {QUOTA: f" (only the ResourceQuota refused it: {why})",
                 LIMITRANGE: f" (refused for another reason: {why})"}.get(refused_by, "")
        raise Wrong(f"{name}.max.cpu is {ceiling}, more than any node has (the largest, {node}, has {size:g} CPU "
                    f"allocatable): a container with a {over} CPU limit was let through{quota}. A ceiling above "
                    "every node stops nothing the scheduler would place; set it below a node's size (the task "
                    "asks for 2).")
    return (f"defaults {defaults} CPU applied to a bare container; a {over} CPU limit (more than {node}'s "
            f"{size:g} CPU) is refused (max {ceiling})")


def check_quota(lab: Any) -> str:
    quotas = client.CoreV1Api(lab.api).list_namespaced_resource_quota(lab.namespace).items
    q = read.only(quotas, "ResourceQuota", lab.namespace, "Apply limits.yaml (it holds the ResourceQuota).")
    hard = q.spec.hard or {}
    need = REPLICAS + SURGE
    name = f"ResourceQuota {q.metadata.name}: spec.hard"
    # In a quota `cpu` and `memory` mean the same as `requests.cpu` and `requests.memory`; with both, both apply.
    caps: dict[str, tuple[str, Any]] = {}
    for key in ("requests.cpu", "requests.memory"):
        short = key.split(".")[1]
        keys = [k for k in (key, short) if k in hard]
        if keys:
            caps[key] = min(((k, read.quantity(hard[k])) for k in keys), key=lambda pair: pair[1])
    for key in ("pods", "requests.cpu", "requests.memory"):
        if key not in hard and key not in caps:
            raise Wrong(f"{name}.{key} is not set; the task asks the quota to cap pods, requests.cpu and "
                        "requests.memory.")
    pods = int(read.quantity(hard["pods"]))
    if pods < need:
        raise Wrong(f"{name}.pods is {pods}: no room for {REPLICAS} replicas plus a rollout's surge of {SURGE} "
                    f"({need} pods).")
    if pods > MAX_PODS:
        raise Wrong(f"{name}.pods is {pods}: a quota that allows more than {MAX_PODS} pods does not protect the "
                    "fleet from a runaway Deployment.")
    res = read.effective_resources(lab, read.container(read.deployment(lab)))
    for key in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory"):
        kind, r = key.split(".")
        if key not in caps and key not in hard:
            continue
        if not getattr(res, kind).get(r):  # unset (or 0)
            raise Wrong(f"Deployment stream-api: containers[stream-api].resources.{key} is not set (nor filled in "
                        f"by a limit or a LimitRange default), and {name}.{caps.get(key, (key,))[0]} caps it: the "
                        "API server refuses "
                        f"every such pod ('failed quota: {q.metadata.name}: must specify {r}'). Set "
                        f"resources.{key} in deployment.yaml.")
    for key in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory"):
        field, cap = caps.get(key) or ((key, read.quantity(hard[key])) if key in hard else (None, None))
        if field is None:
            continue
        kind, r = key.split(".")
        per_pod = getattr(res, kind)[r]
        if cap < per_pod * need:
            raise Wrong(f"{name}.{field} is {hard[field]}: {need} pods × {res.text(key)} need "
                        f"{_amount(per_pod * need, r)}.")
        if kind == "requests" and cap > per_pod * MAX_PODS:
            raise Wrong(f"{name}.{field} is {hard[field]}: room for {int(cap / per_pod)} pods of {res.text(key)}. "
                        f"A quota above {MAX_PODS} pods' worth ({_amount(per_pod * MAX_PODS, r)}) does not stop a "
                        "runaway Deployment; keep it between "
                        f"{_amount(per_pod * need, r)} and {_amount(per_pod * MAX_PODS, r)}.")
    cpu_field, mem_field = caps["requests.cpu"][0], caps["requests.memory"][0]
    return f"quota caps {pods} pods, {hard[cpu_field]} CPU and {hard[mem_field]} of requests"


def _amount(value: Decimal, resource: str) -> str:
    """A CPU or memory amount as a person writes it: 3 CPU, 1920Mi."""
    if resource == "cpu":
        return f"{float(value):g} CPU"
    mib = value / (1024 * 1024)
    return f"{float(mib / 1024):g}Gi" if mib >= 1024 and mib % 1024 == 0 else f"{float(mib):g}Mi"


SPEC = LabSpec(
    number=1, folder="01-right-size", title="Right-size the stream API",
    starting_state="01-as-found.yaml", prepare=prepare, need_metrics=True,
    tasks=(
        Task("requests", "requests from observed usage", check_requests,
             ("Look at the p95 and max lines of the usage table: CPU can be throttled, memory cannot.",
              "In deployment.yaml set resources.requests.cpu between the p95 and twice the p95, and "
              "resources.requests.memory to at least the max."), ("deployment.yaml",)),
        Task("qos", "Guaranteed QoS class", check_qos,
             ("Which QoS class do pods get when every container's limits equal its requests?",
              "Set resources.limits.cpu and .memory to exactly the same values as the requests."),
             ("deployment.yaml",)),
        Task("fit", f"{REPLICAS} replicas fit the {POOL} pool", check_fit,
             (f"replicas and a nodeSelector on the pool label; `kubectl describe nodes -l {POOL_LABEL}={POOL}` "
              "shows the pool's nodes and their allocatable CPU.",
              f"spec.replicas: {REPLICAS} and spec.template.spec.nodeSelector: {{{POOL_LABEL}: {POOL}}}; "
              f"{REPLICAS} × your CPU request must fit in the pool's allocatable CPU."), ("deployment.yaml",)),
        Task("limitrange", "a LimitRange with defaults and a ceiling", check_limitrange,
             ("A LimitRange item of type Container can set defaults for requests and for limits, and a max.",
              "In limits.yaml: spec.limits: [{type: Container, defaultRequest: {cpu, memory}, default: "
              "{cpu, memory}, max: {cpu: \"2\"}}]."), ("limits.yaml",)),
        Task("quota", "a ResourceQuota that fits the service and no more", check_quota,
             (f"The quota must admit {REPLICAS} replicas plus a surge of {SURGE}, and cap pods at {MAX_PODS}.",
              f"In limits.yaml: spec.hard: pods between {REPLICAS + SURGE} and {MAX_PODS}, requests.cpu and "
              f"requests.memory at least {REPLICAS + SURGE} × your requests."), ("limits.yaml",)),
    ),
)
