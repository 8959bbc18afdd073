"""Live views of the cluster for the notebooks: scaling dashboard, pod board, rollout board.

Each view is a plotly ``FigureWidget`` (plus a line of text) fed by informers
(:mod:`scalelab.watch`) or a :class:`~scalelab.replay.Replay`, redrawn by a
background thread at most once per ``interval`` (default 0.5 s, so at least
1 Hz) and only when something changed. Updates take the view's lock, so a
redraw never interleaves with another.

Each view can hand back ``snapshot()``: a :class:`StaticFigure` (a plain
``plotly.graph_objects.Figure`` that displays itself twice over: plotly's own
mimetype for JupyterLab, and an HTML version for ``jupyter nbconvert --to html``,
with plotly.js inlined once per kernel). Notebooks display one at the end of a
live section, so an executed notebook (or its HTML export) keeps a picture even
where widgets do not render. Views work without a browser (under nbval): the
widget simply has no one watching.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from typing import Any, Callable

import ipywidgets as widgets
import plotly.graph_objects as go
from kubernetes import client
from plotly.subplots import make_subplots

from scalelab import k8s
from scalelab.names import POOL_LABEL, ZONE_LABEL
from scalelab.replay import Replay, Sample
from scalelab.traffic import clock
from scalelab.watch import Informer

COLORS = {"Ready": "#2ca02c", "Running": "#bcbd22", "Pending": "#ff7f0e", "Failed": "#d62728",
          "Succeeded": "#7f7f7f", "Terminating": "#9467bd", "Unknown": "#7f7f7f"}


# --- static figures ------------------------------------------------------------------------

_plotlyjs_sent = False  # has this kernel already put plotly.js into a text/html output?
_plotlyjs_lock = threading.Lock()
_figure_ids = itertools.count(1)


def _plotlyjs_once() -> str:
    """plotly.js as an inline <script>, the first time a kernel asks; '' afterwards.

    The HTML export of a notebook is one page, so later figures find ``window.Plotly``.
    require.js (which nbconvert's template loads when online) would capture plotly.js's
    UMD ``define``; hide it while the bundle runs so the bundle sets ``window.Plotly``.
    """
    global _plotlyjs_sent
    with _plotlyjs_lock:
        if _plotlyjs_sent:
            return ""
        _plotlyjs_sent = True
    from plotly.offline import get_plotlyjs

    return ("<script>window.__scalelabDefine = window.define; window.define = undefined;</script>\n"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script>\n"
            "<script>window.define = window.__scalelabDefine;</script>\n")


class StaticFigure(go.Figure):
    """A plotly figure that stays visible in a saved notebook and in its HTML export.

    Displayed, it carries two representations: ``application/vnd.plotly.v1+json``
    (JupyterLab draws it with its plotly extension) and ``text/html`` (a ``<div>``
    plus a ``Plotly.newPlot`` call, which nbconvert's HTML keeps; the first one in a
    kernel also carries plotly.js itself). Everything else is a ``go.Figure``.
    """

    def _repr_mimebundle_(self, include=None, exclude=None, validate=True, **kwargs):
        fig = json.loads(self.to_json(validate=False))
        return {"application/vnd.plotly.v1+json": fig, "text/html": self._html(fig),
                "text/plain": f"<StaticFigure: {self.layout.title.text or 'untitled'}>"}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)

    def _html(self, fig: dict[str, Any]) -> str:
        div = f"scalelab-figure-{uuid.uuid4().hex[:8]}-{next(_figure_ids)}"
        height = self.layout.height or 450
        # "</" inside a JSON string would end the <script> early; "<\/" is the same string in JSON.
        payload = json.dumps({"data": fig.get("data", []), "layout": fig.get("layout", {})}).replace("</", "<\\/")
        return (_plotlyjs_once()
                + f'<div id="{div}" class="scalelab-static-figure" style="width: 100%; height: {height}px;"></div>\n'
                + '<script type="text/javascript">(function () {\n'
                + f'  var el = document.getElementById("{div}"), fig = {payload};\n'
                + '  if (!window.Plotly) { el.textContent = "(chart not drawn: plotly.js is missing from this page; '
                + 're-run the notebook from its first cell)"; return; }\n'
                + '  window.Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false});\n'
                + '})();</script>\n')


class LiveView:
    """Shared plumbing: a figure, a caption, a redraw thread and a snapshot."""

    interval = 0.5

    def __init__(self, figure: go.Figure) -> None:
        self.figure = go.FigureWidget(figure)
        self.caption = widgets.HTML()
        self.widget = widgets.VBox([self.caption, self.figure])
        self.lock = threading.Lock()
        self.redraws = 0
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"scalelab-{type(self).__name__}", daemon=True)

    def _start(self) -> None:
        self._thread.start()

    def mark_dirty(self, *_: Any) -> None:
        self._dirty.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(self.interval):
                self._dirty.clear()
                self.redraw()
                self._stop.wait(self.interval)

    def redraw(self) -> None:
        with self.lock:
            self._draw()
            self.redraws += 1

    def _draw(self) -> None:
        raise NotImplementedError

    def snapshot(self, title: str | None = None) -> StaticFigure:
        """A static copy of the figure as it is now (survives in saved notebooks and HTML)."""
        self.redraw()
        with self.lock:
            fig = StaticFigure(self.figure.to_dict())
        if title:
            fig.update_layout(title=title)
        return fig

    def close(self) -> None:
        """Stop updating and release the widget (the kernel never waits on these threads)."""
        self._stop.set()
        self._dirty.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self._close_sources()
        self.widget.close()

    def _close_sources(self) -> None:
        pass

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# --- scaling dashboard --------------------------------------------------------------------


class ScalingDashboard(LiveView):
    """Demand vs capacity, CPU vs the HPA target, and replicas, as a replay runs."""

    def __init__(self, replay: Replay, hpa_target: float | None = None, title: str = "") -> None:
        fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                            subplot_titles=("requests per second", "CPU per pod (% of its request)", "pods"))
        add = fig.add_trace
        add(go.Scatter(name="demand", mode="lines", line={"color": "#1f77b4", "width": 3}), 1, 1)
        add(go.Scatter(name="capacity (ready pods)", mode="lines", line={"color": "#2ca02c", "shape": "hv"}), 1, 1)
        add(go.Scatter(name="dropped", mode="lines", fill="tozeroy", line={"color": "#d62728", "width": 0}), 1, 1)
        add(go.Scatter(name="CPU utilisation", mode="lines", line={"color": "#ff7f0e"}), 2, 1)
        add(go.Scatter(name="HPA target", mode="lines", line={"color": "#7f7f7f", "dash": "dash"},
                       visible=hpa_target is not None), 2, 1)
        add(go.Scatter(name="desired", mode="lines", line={"color": "#9467bd", "shape": "hv", "dash": "dot"}), 3, 1)
        add(go.Scatter(name="existing", mode="lines", line={"color": "#8c564b", "shape": "hv"}), 3, 1)
        add(go.Scatter(name="ready", mode="lines", line={"color": "#2ca02c", "shape": "hv", "width": 3}), 3, 1)
        # Minutes the API server did not answer (the replay scored them with the pods last seen).
        add(go.Scatter(name="API server did not answer", mode="markers", showlegend=False,
                       marker={"symbol": "x", "color": "#000000", "size": 9}), 3, 1)
        ticks = list(range(0, int(replay.profile.duration) + 1, 10))
        fig.update_xaxes(range=[0, replay.profile.duration], tickvals=ticks, ticktext=[clock(t) for t in ticks])
        fig.update_layout(height=620, margin={"t": 40, "b": 30, "l": 50, "r": 10}, title=title or None,
                          legend={"orientation": "h", "y": -0.08})
        super().__init__(fig)
        self.replay = replay
        self.hpa_target = hpa_target
        replay.listeners.append(self.mark_dirty)
        self._start()

    def _draw(self) -> None:
        s: list[Sample] = list(self.replay.samples)
        x = [p.minute for p in s]
        cap = self.replay.capacity
        columns = [
            [p.demand_rps for p in s], [p.ready * cap.max_rps_per_pod for p in s], [p.dropped_rps for p in s],
            [p.utilization for p in s], [self.hpa_target] * len(s) if self.hpa_target else [],
            [p.desired for p in s], [p.current for p in s], [p.ready for p in s],
        ]
        gaps = [p for p in s if p.api_gap]
        with self.figure.batch_update():
            for trace, ys in zip(self.figure.data, columns):
                trace.x, trace.y = (x if ys else []), ys
            marks = self.figure.data[len(columns)]
            marks.x, marks.y, marks.showlegend = [p.minute for p in gaps], [p.ready for p in gaps], bool(gaps)
        score = self.replay.score
        now = s[-1] if s else None
        state = f"{now.clock}: demand {now.demand_rps:.0f} req/s, {now.ready} ready pods" if now else "starting…"
        self.caption.value = (f"<b>{self.replay.score.name}</b> — {state} · dropped so far "
                              f"<b>{score.dropped_requests:,.0f}</b> requests ({score.dropped_percent:.1f}%) · "
                              f"{score.pod_minutes:.0f} pod-minutes"
                              + (f" · the API server did not answer for {len(gaps)} story minute(s), marked ×"
                                 if gaps else ""))


# --- pod board ----------------------------------------------------------------------------


def pod_state(pod: client.V1Pod) -> str:
    """The tile colour: Ready, Running (not ready), Pending, Terminating, Failed, Succeeded."""
    if pod.metadata.deletion_timestamp:
        return "Terminating"
    if k8s.pod_is_ready(pod):
        return "Ready"
    return pod.status.phase or "Unknown"


def pod_cpu_request(pod: client.V1Pod) -> float:
    return sum(k8s.cpu_millicores((c.resources.requests or {}).get("cpu") if c.resources else None)
               for c in pod.spec.containers)


def board_layout(nodes: list[client.V1Node], pods: list[client.V1Pod]) -> dict[str, list]:
    """Columns (nodes, then 'unscheduled') and one tile per pod, stacked from the bottom."""
    names = sorted(n.metadata.name for n in nodes)
    info = {n.metadata.name: n for n in nodes}
    columns = names + ["(not scheduled)"]
    stacks: dict[str, list[client.V1Pod]] = defaultdict(list)
    for pod in sorted(pods, key=lambda p: (p.metadata.namespace, p.metadata.name)):
        node = pod.spec.node_name if pod.spec.node_name in info else "(not scheduled)"
        stacks[node].append(pod)
    tiles: dict[str, list] = {"x": [], "y": [], "state": [], "text": []}
    used: dict[str, float] = defaultdict(float)  # CPU requested on each node by pods that still hold it
    for col, name in enumerate(columns):
        for row, pod in enumerate(stacks[name]):
            state, request = pod_state(pod), pod_cpu_request(pod)
            tiles["x"].append(col)
            tiles["y"].append(row)
            tiles["state"].append(state)
            tiles["text"].append(f"{pod.metadata.namespace}/{pod.metadata.name}<br>{state}"
                                 f"<br>requests {request:.0f}m CPU")
            if state not in ("Succeeded", "Failed"):
                used[name] += request
    labels = []
    for name in columns:
        node = info.get(name)
        if node is None:
            labels.append(name)
            continue
        lab = node.metadata.labels or {}
        alloc = k8s.cpu_millicores((node.status.allocatable or {}).get("cpu"))
        unschedulable = " ⛔" if node.spec.unschedulable else ""
        labels.append(f"{name}{unschedulable}<br>{lab.get(POOL_LABEL, '')} · {lab.get(ZONE_LABEL, '')}"
                      f"<br>{used[name] / 1000:.1f}/{alloc / 1000:.0f} CPU")
    return {"columns": columns, "labels": labels, "tiles": tiles}


class PodBoard(LiveView):
    """Nodes as columns, pods as tiles coloured by state (in the spirit of kube-ops-view)."""

    def __init__(self, api: client.ApiClient, namespace: str | None = None, label_selector: str | None = None,
                 title: str = "") -> None:
        fig = go.Figure()
        for state, color in COLORS.items():
            fig.add_trace(go.Scatter(name=state, mode="markers", x=[], y=[], hovertext=[], hoverinfo="text",
                                     marker={"symbol": "square", "size": 16, "color": color,
                                             "line": {"width": 1, "color": "white"}}))
        fig.update_layout(height=380, margin={"t": 40, "b": 70, "l": 30, "r": 10}, title=title or None,
                          yaxis={"title": "pods", "rangemode": "tozero", "dtick": 5},
                          legend={"orientation": "h", "y": 1.12}, plot_bgcolor="#f7f7f7")
        super().__init__(fig)
        core = client.CoreV1Api(api)
        self.nodes = Informer(core.list_node, name="nodes")
        if namespace:
            self.pods = Informer(core.list_namespaced_pod, namespace=namespace, label_selector=label_selector,
                                 name="pods")
        else:
            self.pods = Informer(core.list_pod_for_all_namespaces, label_selector=label_selector, name="pods")
        for inf in (self.nodes, self.pods):
            inf.add_listener(self.mark_dirty)
            inf.start()
        self.nodes.wait_synced(30)
        self.pods.wait_synced(30)
        self._start()
        self.redraw()

    def counts(self) -> dict[str, int]:
        """How many pods are in each state now (what the tiles show)."""
        return dict(Counter(pod_state(p) for p in self.pods.snapshot()))

    def _draw(self) -> None:
        layout = board_layout(self.nodes.snapshot(), self.pods.snapshot())
        tiles = layout["tiles"]
        with self.figure.batch_update():
            for trace in self.figure.data:
                idx = [i for i, s in enumerate(tiles["state"]) if s == trace.name]
                trace.x = [tiles["x"][i] for i in idx]
                trace.y = [tiles["y"][i] for i in idx]
                trace.hovertext = [tiles["text"][i] for i in idx]
            self.figure.update_xaxes(tickvals=list(range(len(layout["columns"]))), ticktext=layout["labels"],
                                     range=[-0.6, len(layout["columns"]) - 0.4])
        counts = Counter(tiles["state"])
        self.caption.value = "pods: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none")

    def _close_sources(self) -> None:
        self.nodes.stop()
        self.pods.stop()


# --- rollout board ------------------------------------------------------------------------


class RolloutBoard(LiveView):
    """ReplicaSets of one Deployment by revision: ready pods now, and over time.

    It also remembers ``fewest_ready``: the lowest ready count the Deployment
    reported since the board opened, i.e. how far availability dipped during a rollout.
    """

    def __init__(self, api: client.ApiClient, namespace: str, deployment: str, title: str = "") -> None:
        fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65],
                            subplot_titles=("pods per revision now", "ready pods per revision over time"))
        fig.update_layout(height=340, margin={"t": 50, "b": 30, "l": 40, "r": 10}, title=title or None,
                          barmode="stack", legend={"orientation": "h", "y": -0.15})
        super().__init__(fig)
        self.apps = client.AppsV1Api(api)
        self.namespace, self.deployment = namespace, deployment
        self.replicasets = Informer(self.apps.list_namespaced_replica_set, namespace=namespace,
                                    label_selector=k8s.selector_of(api, namespace, deployment), name="replicasets")
        self.replicasets.add_listener(self.mark_dirty)
        self.replicasets.start()
        self.replicasets.wait_synced(30)
        self.fewest_ready: int | None = None
        self._deployment = Informer(self.apps.list_namespaced_deployment, namespace=namespace,
                                    field_selector=f"metadata.name={deployment}", name="deployment")
        self._deployment.add_listener(self._track_ready)
        self._deployment.start()
        self._deployment.wait_synced(30)
        self.history: dict[str, list[tuple[float, int]]] = defaultdict(list)
        self._t0: float | None = None
        self._start()
        self.redraw()

    def _track_ready(self, _kind: str, _obj: Any) -> None:
        for d in self._deployment.snapshot():
            ready = d.status.ready_replicas or 0
            self.fewest_ready = ready if self.fewest_ready is None else min(self.fewest_ready, ready)

    def revisions(self) -> list[dict[str, Any]]:
        """One row per ReplicaSet: revision, image, desired, ready."""
        rows = []
        for rs in self.replicasets.snapshot():
            ann = rs.metadata.annotations or {}
            rows.append({"revision": int(ann.get("deployment.kubernetes.io/revision", 0)),
                         "image": rs.spec.template.spec.containers[0].image,
                         "desired": rs.spec.replicas or 0, "ready": rs.status.ready_replicas or 0,
                         "name": rs.metadata.name})
        return sorted(rows, key=lambda r: r["revision"])

    def _draw(self) -> None:
        now = time.monotonic()
        self._t0 = self._t0 or now
        rows = self.revisions()
        for r in rows:
            self.history[f"rev {r['revision']} ({r['image']})"].append((round(now - self._t0, 1), r["ready"]))
        labels = [f"rev {r['revision']} ({r['image']})" for r in rows]
        with self.figure.batch_update():
            self.figure.data = ()
            self.figure.add_trace(go.Bar(name="ready", x=labels, y=[r["ready"] for r in rows],
                                         marker_color=COLORS["Ready"]), 1, 1)
            self.figure.add_trace(go.Bar(name="not ready", x=labels,
                                         y=[max(0, r["desired"] - r["ready"]) for r in rows],
                                         marker_color=COLORS["Pending"]), 1, 1)
            for label, points in self.history.items():
                self.figure.add_trace(go.Scatter(name=label, x=[t for t, _ in points], y=[n for _, n in points],
                                                 mode="lines", line={"shape": "hv"}), 1, 2)
            self.figure.update_xaxes(title_text="seconds", row=1, col=2)
        self.caption.value = " · ".join(f"rev {r['revision']}: {r['ready']}/{r['desired']} ready ({r['image']})"
                                        for r in rows) or "no ReplicaSets yet"

    def _close_sources(self) -> None:
        self.replicasets.stop()
        self._deployment.stop()


def hpa_calculator(on_change: Callable[[int], None] | None = None) -> widgets.Widget:
    """Sliders for the HPA formula: desired = ceil(current × currentUtilisation / target)."""
    from scalelab.hpa import desired_replicas

    current = widgets.IntSlider(description="current pods", min=1, max=20, value=3)
    usage = widgets.IntSlider(description="CPU use %", min=0, max=300, value=120)
    target = widgets.IntSlider(description="target %", min=10, max=100, value=50)
    lo = widgets.IntSlider(description="minReplicas", min=1, max=10, value=1)
    hi = widgets.IntSlider(description="maxReplicas", min=1, max=30, value=10)
    out = widgets.HTML()

    def update(*_: Any) -> None:
        n = desired_replicas(current.value, usage.value, target.value, lo.value, hi.value)
        out.value = (f"desired = ceil({current.value} × {usage.value} / {target.value}) → "
                     f"<b>{n}</b> pods (clamped to {lo.value}…{hi.value})")
        if on_change:
            on_change(n)

    for w in (current, usage, target, lo, hi):
        w.observe(update, names="value")
    update()
    return widgets.VBox([current, usage, target, lo, hi, out])


class OnCallPanel:
    """You, on call: buttons to scale by hand, or let the scripted engineer drive.

    The scripted engineer (``scripted``, an operator function) acts while the
    checkbox is ticked, so the notebook also runs unattended; untick it and the
    buttons are yours. Every decision is logged with its story time.
    """

    def __init__(self, replay: Replay, scripted: Callable[[Sample], int | None]) -> None:
        self.replay = replay
        self.scripted = scripted
        self.auto = widgets.Checkbox(value=True, description="let the scripted on-call engineer drive")
        self.up = widgets.Button(description="+1 pod", button_style="success")
        self.down = widgets.Button(description="−1 pod", button_style="warning")
        self.log = widgets.HTML("<i>no decision yet</i>")
        self.up.on_click(lambda _: self._by_hand(+1))
        self.down.on_click(lambda _: self._by_hand(-1))
        self.widget = widgets.VBox([widgets.HBox([self.up, self.down, self.auto]), self.log])
        replay.operator = self._operate
        replay.listeners.append(lambda _sample: self._show())

    def _latest(self) -> Sample | None:
        return self.replay.samples[-1] if self.replay.samples else None

    def _by_hand(self, delta: int) -> None:
        self.auto.value = False
        now = self._latest()
        desired = now.desired if now else 1
        minute = now.minute if now else 0.0
        self.replay.scale(max(1, desired + delta), note=f"{clock(minute)} you scaled {desired} → {max(1, desired + delta)}")
        self._show()

    def _operate(self, sample: Sample) -> int | None:
        return self.scripted(sample) if self.auto.value else None

    def _show(self) -> None:
        self.log.value = "<br>".join(self.replay.notes[-6:]) or "<i>no decision yet</i>"

    def close(self) -> None:
        self.widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def profile_figure(*profiles, capacity_per_pod: float | None = None, pods: list[int] | None = None,
                   title: str = "") -> StaticFigure:
    """Static chart of one or more traffic profiles over the evening (with capacity lines if given)."""
    fig = StaticFigure()
    for p in profiles:
        pts = p.sample(1.0)
        fig.add_trace(go.Scatter(name=p.name, x=[m for m, _ in pts], y=[r for _, r in pts], mode="lines"))
    if capacity_per_pod and pods:
        for n in pods:
            fig.add_hline(y=n * capacity_per_pod, line_dash="dot", line_color="#2ca02c",
                          annotation_text=f"{n} pods", annotation_position="top left")
    duration = max(p.duration for p in profiles)
    ticks = list(range(0, int(duration) + 1, 10))
    fig.update_xaxes(tickvals=ticks, ticktext=[clock(t) for t in ticks], title="story time")
    fig.update_yaxes(title="requests per second", rangemode="tozero")
    fig.update_layout(height=320, margin={"t": 40, "b": 40, "l": 50, "r": 10}, title=title or None)
    return fig
