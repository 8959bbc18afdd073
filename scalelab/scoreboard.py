"""The scoreboard carried from lesson to lesson: dropped requests and pod-minutes per run.

Stored as JSON in the cache's state folder, one file per cluster name, so lesson
03 can put its autoscaled run next to lesson 01's run by hand (and the test
cluster never mixes its scores with a learner's). Beside the runs it keeps
notes: results that are not a replay (lesson 02's right-sized request), shown
under the table so the story's numbers carry through to lesson 05.
"""

from __future__ import annotations

import json
from pathlib import Path

from scalelab import paths
from scalelab.names import cluster_name
from scalelab.traffic import Score


def _file() -> Path:
    return paths.state_dir() / f"scoreboard-{cluster_name()}.json"


NOTES = "_notes"  # the key the notes live under, beside the runs


def load() -> dict[str, dict]:
    """The recorded runs by key (notes left out: see :func:`notes`)."""
    return {k: v for k, v in _load().items() if k != NOTES}


def notes() -> dict[str, str]:
    return _load().get(NOTES, {})


def _load() -> dict:
    try:
        return json.loads(_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _save(board: dict) -> None:
    tmp = _file().with_suffix(".tmp")
    tmp.write_text(json.dumps(board, indent=1))
    tmp.replace(_file())


def record(key: str, score: Score, run: str | None = None) -> None:
    """Remember ``score`` under ``key`` (e.g. "01 by hand"), labelled ``run`` (default: the score's name);
    a re-run replaces the old line."""
    board = _load()
    board[key] = score.as_row() | ({"run": run} if run else {})
    _save(board)


def note(key: str, text: str) -> None:
    """Remember a result that is not a replay (e.g. "02 right-sizing"); a re-run replaces it."""
    board = _load()
    board.setdefault(NOTES, {})[key] = text
    _save(board)


def table(keys: list[str] | None = None, with_notes: list[str] | None = None) -> str:
    """An HTML table of the recorded runs (all of them, or ``keys`` in that order), then the notes
    named in ``with_notes`` (those recorded) as a list."""
    board = load()
    rows = [board[k] for k in (keys or sorted(board)) if k in board]
    html = "<i>no runs recorded yet</i>"
    if rows:
        head = "".join(f"<th>{h}</th>" for h in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{v:,}</td>" if isinstance(v, (int, float)) else f"<td>{v}</td>"
                                        for v in r.values()) + "</tr>" for r in rows)
        html = f"<table><tr>{head}</tr>{body}</table>"
    recorded = notes()
    items = "".join(f"<li><b>{k}</b>: {recorded[k]}</li>" for k in (with_notes or []) if k in recorded)
    return html + (f"<ul>{items}</ul>" if items else "")


def show(keys: list[str] | None = None, with_notes: list[str] | None = None) -> None:
    from IPython.display import HTML, display

    display(HTML(table(keys, with_notes)))
