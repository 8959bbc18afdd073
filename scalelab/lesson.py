"""What the first cell of every lesson and lab needs: a cluster check, a namespace, kubectl.

``Lesson.start("lesson-01")`` checks the cluster is up (and is one Scale Lab
made), creates the lesson's own namespace, and returns an object whose methods
mirror what the learner would type: :meth:`Lesson.apply` is ``kubectl apply``,
:meth:`Lesson.kubectl` runs the real kubectl against the tutorial context and
prints its output. :meth:`Lesson.cleanup` deletes the namespace and waits, so
running the notebook again starts from the same state.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from scalelab import k8s, kube, paths
from scalelab.cluster import provider_of_context
from scalelab.errors import MetricsUnavailableError, NoClusterError, ScaleLabError
from scalelab.wait import wait_for


def _to_millicores(quantity: str) -> float:
    """Metrics API CPU quantities: '123456789n' (nanocores), '250m', or cores."""
    q = str(quantity)
    if q.endswith("n"):
        return float(q[:-1]) / 1e6
    if q.endswith("u"):
        return float(q[:-1]) / 1e3
    if q.endswith("m"):
        return float(q[:-1])
    return float(q) * 1000


@dataclass
class Lesson:
    namespace: str
    context: str
    api: client.ApiClient
    provider: str  # "kind" or "kwok"
    views: list[Any] = field(default_factory=list)

    @classmethod
    def start(cls, namespace: str, need_metrics: bool = True) -> "Lesson":
        """Connect to the tutorial cluster and (re)create this lesson's namespace."""
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
        lesson = cls(namespace=namespace, context=context or "", api=api,
                     provider=provider_of_context(context) or "other")
        k8s.delete_namespace(api, namespace)  # a clean start, even after an interrupted run
        k8s.ensure_namespace(api, namespace)
        return lesson

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
        """`kubectl apply --server-side -n <namespace> -f manifests/<name>` (prints what it applied)."""
        applied = k8s.apply_file(self.api, self.manifest(name), self.namespace)
        if not quiet:
            for item in applied:
                print(f"{item.lower()} applied")

    def apply_objects(self, objects: list[dict[str, Any]]) -> None:
        """`kubectl apply --server-side` for objects written in the notebook."""
        k8s.apply_objects(self.api, objects, self.namespace)

    def kubectl(self, command: str, check: bool = True) -> str:
        """Run `kubectl <command>` in this lesson's namespace and print what it prints."""
        args = ["kubectl", "--context", self.context, "-n", self.namespace, *shlex.split(command)]
        out = subprocess.run(args, capture_output=True, text=True)
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
        items = client.CustomObjectsApi(self.api).list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", self.namespace, "pods", label_selector=selector)["items"]
        return {i["metadata"]["name"]: sum(_to_millicores(c["usage"]["cpu"]) for c in i["containers"])
                for i in items}

    def hpa_conditions(self, name: str) -> dict[str, tuple[str, str]]:
        """type → (status, reason) of an HPA's conditions (`kubectl describe hpa` shows them)."""
        hpa = self.autoscaling.read_namespaced_horizontal_pod_autoscaler(name, self.namespace)
        return {c.type: (c.status, c.reason) for c in (hpa.status.conditions or [])}

    def wait_rollout(self, deployment: str, timeout: float = 120, quiet: bool = False) -> None:
        """`kubectl rollout status deployment/<name>`: wait until every replica is updated and ready."""
        def done() -> tuple[bool, str]:
            d = self.apps.read_namespaced_deployment(deployment, self.namespace)
            s = d.status
            ok = (s.observed_generation == d.metadata.generation and (s.updated_replicas or 0) == d.spec.replicas
                  and (s.ready_replicas or 0) == d.spec.replicas and not s.unavailable_replicas)
            return ok, f"{s.ready_replicas or 0}/{d.spec.replicas} ready, {s.updated_replicas or 0} updated"

        wait_for(done, f"deployment/{deployment} to roll out", timeout,
                 fix=f"look at `kubectl -n {self.namespace} describe deployment {deployment}`")
        if not quiet:
            print(f'deployment "{deployment}" successfully rolled out')

    def wait_ready_pods(self, deployment: str, count: int, timeout: float = 120) -> None:
        def probe() -> tuple[bool, str]:
            d = self.apps.read_namespaced_deployment(deployment, self.namespace)
            ready = d.status.ready_replicas or 0
            return ready >= count, f"{ready} ready"

        wait_for(probe, f"{count} ready pods of {deployment}", timeout)

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
        k8s.delete_namespace(self.api, self.namespace, timeout=180)
        print(f"namespace {self.namespace} deleted")
