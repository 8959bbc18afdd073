"""The task board: one row per task of a lab, green when its check passes.

A plain ``ipywidgets.HTML`` redrawn on every check, so it updates in place in
JupyterLab and costs nothing when no browser is watching (nbval).
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from scalelab.checks.core import ERROR, FAIL, PASS, LabSpec, Result

_STYLE = {PASS: ("✔", "#2ca02c"), FAIL: ("✘", "#d62728"), ERROR: ("?", "#ff7f0e"), None: ("·", "#7f7f7f")}


class TaskBoard:
    """Which tasks of a lab pass, with the last message of each."""

    def __init__(self, spec: LabSpec) -> None:
        self.spec = spec
        self.results: dict[str, Result] = {}
        self.widget = widgets.HTML()
        self._render()

    def update(self, result: Result) -> None:
        self.results[result.task] = result
        self._render()

    def clear(self) -> None:
        self.results.clear()
        self._render()

    def rows(self) -> list[tuple[str, str, str]]:
        """(state, task title, last message) per task; state is None until checked."""
        out = []
        for task in self.spec.tasks:
            result = self.results.get(task.id)
            out.append((result.state if result else None, f"{task.id}: {task.title}",
                        result.message if result else "not checked yet"))
        return out

    def _render(self) -> None:
        rows = self.rows()
        passed = sum(1 for state, _, _ in rows if state == PASS)
        cells = []
        for state, title, message in rows:
            mark, color = _STYLE[state]
            cells.append(f'<tr class="scalelab-task scalelab-{state or "unchecked"}">'
                         f'<td style="color:{color};font-size:1.3em;padding-right:8px">{mark}</td>'
                         f'<td style="padding-right:12px"><b>{html.escape(title)}</b></td>'
                         f'<td style="color:#444">{html.escape(message)}</td></tr>')
        self.widget.value = (f'<div class="scalelab-board"><b>Lab {self.spec.number}: {html.escape(self.spec.title)}'
                             f' — {passed}/{len(rows)} tasks pass</b><table>{"".join(cells)}</table></div>')

    def close(self) -> None:
        self.widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
