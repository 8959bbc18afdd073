"""The scoreboard carried from lesson to lesson: dropped requests and pod-minutes per run.

Stored as JSON in the cache's state folder, one file per cluster name, so lesson
03 can put its autoscaled run next to lesson 01's run by hand (and the test
cluster never mixes its scores with a learner's).
"""

from __future__ import annotations

import json
from pathlib import Path

from scalelab import paths
from scalelab.names import cluster_name
from scalelab.traffic import Score


def _file() -> Path:
    return paths.state_dir() / f"scoreboard-{cluster_name()}.json"


def load() -> dict[str, dict]:
    try:
        return json.loads(_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}


def record(key: str, score: Score) -> None:
    """Remember ``score`` under ``key`` (e.g. "01 by hand"); a re-run replaces the old line."""
    board = load()
    board[key] = score.as_row()
    tmp = _file().with_suffix(".tmp")
    tmp.write_text(json.dumps(board, indent=1))
    tmp.replace(_file())


def table(keys: list[str] | None = None) -> str:
    """An HTML table of the recorded runs (all of them, or ``keys`` in that order)."""
    board = load()
    rows = [board[k] for k in (keys or sorted(board)) if k in board]
    if not rows:
        return "<i>no runs recorded yet</i>"
    head = "".join(f"<th>{h}</th>" for h in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{v:,}</td>" if isinstance(v, (int, float)) else f"<td>{v}</td>"
                                    for v in r.values()) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def show(keys: list[str] | None = None) -> None:
    from IPython.display import HTML, display

    display(HTML(table(keys)))
