"""What the first cell of every lesson and lab needs: a cluster check, a namespace, kubectl.

``Lesson.start("lesson-01")`` checks the cluster is up (and is one Scale Lab
made) and has what the lesson needs (its entry in :data:`scalelab.needs.NEEDS`:
pools, zones, nodes, free CPU), creates the lesson's own namespace, and returns an object whose methods
mirror what the learner would type: :meth:`Lesson.apply` is ``kubectl apply
--server-side --field-manager=scalelab --force-conflicts``, :meth:`Lesson.kubectl`
runs the real kubectl against the tutorial context (from the project root, so
``-f manifests/…`` resolves as in the learner's terminal) and prints its
output. :meth:`Lesson.cleanup` deletes the namespace and waits, so running the
notebook again starts from the same state.
"""

from __future__ import annotations

import shlex
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from kubernetes import client

from scalelab import k8s, kube, kubectl, needs, paths, traffic
from scalelab.cluster import provider_of_context
from scalelab.errors import MetricsUnavailableError, NoClusterError, ScaleLabError
from scalelab.wait import wait_for
from scalelab.watch import Informer


@dataclass
class Lesson:
    namespace: str
    context: str
    api: client.ApiClient
    provider: str  # "kind" or "kwok"
    views: list[Any] = field(default_factory=list)
    _driver: traffic.Driver | None = None

    @classmethod
    def start(cls, namespace: str, need_metrics: bool = True, need: needs.Needs | None = None) -> "Lesson":
        """Connect to the tutorial cluster, check it can run this notebook, and (re)create its namespace.

        ``need`` defaults to the namespace's entry in :data:`scalelab.needs.NEEDS`;
        a cluster without it raises :class:`~scalelab.errors.ClusterShapeError`
        before anything is created.
        """
        lesson = cls.attach(namespace, need_metrics)
        lesson.check_shape(need or needs.NEEDS.get(namespace))
        k8s.delete_namespace(lesson.api, namespace)  # a clean start, even after an interrupted run
        k8s.ensure_namespace(lesson.api, namespace)
        return lesson

    @classmethod
    def attach(cls, namespace: str, need_metrics: bool = False) -> "Lesson":
        """Connect to the tutorial cluster for ``namespace`` without touching what is in it."""
        context = kube.current_context()
        api = kube.api_client(context)  # the context guard speaks here
        try:
            client.VersionApi(api).get_code()
        except Exception as exc:  # noqa: BLE001 - any failure means there is no cluster to talk to
            raise NoClusterError(f"the tutorial cluster (context '{context}') does not answer.",
                                 "run `scalelab up` in a terminal, then re-run this cell") from exc
        if need_metrics:
            from scalelab.cluster.readiness import metrics_api_state

            available, reason = metrics_api_state(api)
            if not available:
                raise MetricsUnavailableError(f"the metrics API is not available: {reason}.",
                                              "run `scalelab up` (it installs metrics-server and waits for it)")
        return cls(namespace=namespace, context=context or "", api=api,
                   provider=provider_of_context(context) or "other")

    def check_shape(self, need: needs.Needs | None) -> None:
        """Raise ClusterShapeError, in one line with its fix, if the cluster cannot give ``need``."""
        if need is None:
            return
        shape = needs.read_shape(self.api, skip_namespaces=[self.namespace])
        error = needs.check(need, shape, self.provider)
        if error is not None:
            raise error

    @property
    def on_kind(self) -> bool:
        return self.provider == "kind"

    # --- what the learner would type ------------------------------------------------------

    def manifest(self, name: str) -> Path:
        path = paths.project_root() / "manifests" / name
        if not path.exists():
            raise ScaleLabError(f"manifest '{name}' not found in {path.parent}.",
                                "check the file name (ls manifests/)")
        return path

    def apply(self, name: str, quiet: bool = False) -> None:
        """`kubectl apply --server-side --field-manager=scalelab --force-conflicts -n <namespace> -f manifests/<name>`.

        Prints what it applied. Forcing makes every cell reach the lesson's state, whatever was changed by
        hand before; it also takes fields from other managers silently (lesson 03, section 7).
        """
        applied = k8s.apply_file(self.api, self.manifest(name), self.namespace)
        if not quiet:
            for item in applied:
                print(f"{item.lower()} applied")

    def apply_objects(self, objects: list[dict[str, Any]]) -> None:
        """`kubectl apply --server-side --field-manager=scalelab --force-conflicts` for objects written in the notebook."""
        k8s.apply_objects(self.api, objects, self.namespace)

    def kubectl(self, command: str, check: bool = True) -> str:
        """Run `kubectl <command>` in this lesson's namespace, from the project root, and print what it prints."""
        out = kubectl.run(shlex.split(command), self.context, self.namespace)
        text = (out.stdout + out.stderr).rstrip()
        print(f"$ kubectl {command}\n{text}")
        if check and out.returncode != 0:
            raise ScaleLabError(f"`kubectl {command}` failed (exit {out.returncode}).", "read its message above")
        return text

    # --- reading the cluster ----------------------------------------------------------------

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def autoscaling(self) -> client.AutoscalingV2Api:
        return client.AutoscalingV2Api(self.api)

    def events(self, name: str | None = None, reason: str | None = None) -> list[client.CoreV1Event]:
        selector = f"involvedObject.name={name}" if name else None
        items = self.core.list_namespaced_event(self.namespace, field_selector=selector).items
        return [e for e in items if reason is None or e.reason == reason]

    def pod_cpu(self, selector: str = "app=stream-api") -> dict[str, float]:
        """Millicores per pod, as `kubectl top pods` shows them (from the metrics API)."""
        return k8s.pod_cpu(self.api, self.namespace, selector)

    @property
    def driver(self) -> traffic.Driver:
        """What makes pod CPU happen: real load on kind, the usage annotation on kwok."""
        if self._driver is None:
            self._driver = traffic.driver_for(self.api, self.provider)
        return self._driver

    def set_cpu(self, millicores: float | Sequence[float], selector: str = "app=stream-api") -> None:
        """Make the current pods of ``selector`` use this much CPU each (or one value per pod, in order)."""
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        per_pod = [millicores] * len(pods) if isinstance(millicores, (int, float)) else list(millicores)
        for pod, m in zip(pods, per_pod):
            self.driver.apply([pod], millicores_per_pod=m)

    def wait_cpu(self, check: Callable[[float], bool], what: str, pods: int | None = None,
                 selector: str = "app=stream-api", timeout: float = 90, pod: str | None = None) -> None:
        """Wait until the metrics API shows ``pods`` pods (any number if None), each passing ``check``.

        ``pod`` narrows it to that one pod, which must then be shown.
        """
        want = 1 if pod is not None else pods

        def probe() -> tuple[bool, str]:
            cpu = {n: m for n, m in self.pod_cpu(selector).items() if pod is None or n == pod}
            ok = (want is None or len(cpu) == want) and all(check(m) for m in cpu.values())
            return ok, str({name: round(m) for name, m in cpu.items()})

        wait_for(probe, what, timeout)

    def scale(self, deployment: str, replicas: int) -> None:
        """`kubectl scale deployment/<name> --replicas=N`."""
        k8s.scale(self.api, self.namespace, deployment, replicas)

    def set_env(self, deployment: str, container: str, **env: str) -> None:
        """`kubectl set env deployment/<name> KEY=VALUE`: a change to the pod template, so a rollout."""
        self.apps.patch_namespaced_deployment(deployment, self.namespace, {"spec": {"template": {"spec": {
            "containers": [{"name": container, "env": [{"name": k, "value": v} for k, v in env.items()]}]}}}})

    def ready_endpoints(self, service: str) -> list[str]:
        """Addresses of the ready pods a Service balances over (its EndpointSlices)."""
        slices = client.DiscoveryV1Api(self.api).list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={service}").items
        return sorted(ep.addresses[0] for sl in slices for ep in (sl.endpoints or []) if ep.conditions.ready)

    def hpa_rescales(self, name: str) -> list[tuple[int, str]]:
        """(new size, event message) of each scaling decision an HPA recorded (`kubectl describe hpa`)."""
        return [(int(e.message.split("New size: ")[1].split(";")[0]), e.message)
                for e in self.events(name, reason="SuccessfulRescale")]

    def hpa_conditions(self, name: str) -> dict[str, tuple[str, str]]:
        """type → (status, reason) of an HPA's conditions (`kubectl describe hpa` shows them)."""
        hpa = self.autoscaling.read_namespaced_horizontal_pod_autoscaler(name, self.namespace)
        return {c.type: (c.status, c.reason) for c in (hpa.status.conditions or [])}

    def wait_rollout(self, deployment: str, timeout: float = 120, quiet: bool = False) -> None:
        """`kubectl rollout status deployment/<name>`: wait until every replica is updated and ready."""
        wait_for(lambda: k8s.rollout_status(self.api, self.namespace, deployment),
                 f"deployment/{deployment} to roll out", timeout,
                 fix=f"look at `kubectl -n {self.namespace} describe deployment {deployment}`")
        if not quiet:
            print(f'deployment "{deployment}" successfully rolled out')

    def wait_ready_pods(self, deployment: str, count: int, timeout: float = 120) -> None:
        def probe() -> tuple[bool, str]:
            d = self.apps.read_namespaced_deployment(deployment, self.namespace)
            ready = d.status.ready_replicas or 0
            return ready >= count, f"{ready} ready"

        wait_for(probe, f"{count} ready pods of {deployment}", timeout)

    def wait_replacement(self, victim: str, count: int, service: str = "stream-api",
                         selector: str = "app=stream-api", timeout: float = 120) -> None:
        """After deleting pod ``victim``: wait until ``count`` other pods are ready and behind ``service``.

        The Deployment's status can still say "all ready" for a moment after a
        pod was deleted, so this watches the pods themselves, as `kubectl get pods -w` would.
        """
        def replaced() -> tuple[bool, str]:
            ready = [p.metadata.name for p in self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
                     if k8s.pod_is_ready(p)]
            ok = len(ready) == count and victim not in ready and len(self.ready_endpoints(service)) == count
            return ok, f"ready: {ready}"

        wait_for(replaced, f"a replacement for {victim}, ready and behind the Service", timeout)

    def field_owners(self, deployment: str, path: str) -> list[str]:
        """Who owns ``path`` of a Deployment (`kubectl get deployment NAME -o yaml --show-managed-fields`)."""
        d = self.apps.read_namespaced_deployment(deployment, self.namespace)
        return k8s.field_owners(d.metadata.managed_fields, path)

    @contextmanager
    def watch_replicas(self, deployment: str, timeout: float = 30) -> Iterator[list[int]]:
        """Every value a Deployment's ``.spec.replicas`` takes while the block runs, in order.

        `kubectl get deployment NAME -w -o custom-columns=REPLICAS:.spec.replicas` in a second terminal.
        The list starts with the value when the block begins and grows as the watch sees changes, so a
        value that lasts only until the HPA's next evaluation is recorded, not missed by a later read.
        """
        seen: list[int] = []
        informer = Informer(self.apps.list_namespaced_deployment, namespace=self.namespace,
                            field_selector=f"metadata.name={deployment}", name=f"deployment/{deployment}")

        def record(kind: str, obj: Any) -> None:
            objects = list(informer.items.values()) if kind == "SYNCED" else [obj] if kind != "DELETED" else []
            for d in objects:
                if not seen or seen[-1] != d.spec.replicas:
                    seen.append(d.spec.replicas)

        informer.add_listener(record)
        informer.start()
        try:
            informer.wait_synced(timeout)
            yield seen
        finally:
            informer.stop()

    def wait_for(self, probe, what: str, timeout: float = 120, interval: float = 1.0) -> str:
        return wait_for(probe, what, timeout, interval=interval)

    def show(self, view: Any) -> Any:
        """Display a live view and remember it, so cleanup() closes it."""
        from IPython.display import display

        self.views.append(view)
        display(view)
        return view

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    # --- the end -------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Close live views and delete the lesson's namespace (`kubectl delete namespace ...`)."""
        for view in self.views:
            view.close()
        self.views.clear()
        if self._driver is not None:
            self._driver.stop()
        k8s.delete_namespace(self.api, self.namespace, timeout=180)
        print(f"namespace {self.namespace} deleted")
