"""Keep committed notebooks clean: only the outputs nbval compares, nothing else.

    python tools/notebooks.py record lessons/01-scaling-by-hand.ipynb   # run it, keep checked outputs
    python tools/notebooks.py strip lessons/*.ipynb                     # drop every other output
    python tools/notebooks.py check lessons/*.ipynb                     # exit 1 if a notebook is not clean

"Checked" cells start with the comment ``# NBVAL_CHECK_OUTPUT``; under
``pytest --nbval-lax`` they are the only ones whose output is compared, so
their recorded output must be in the file. Everything else (live widgets,
plotly bundles of several MB, timings) stays out of git.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

MARK = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(MARK)


def clean(nb) -> None:
    """Drop every output but the checked cells'; number the checked cells 1, 2, … (nbval
    treats a cell with outputs but no execution count as "unrun" and fails it)."""
    nb.metadata.pop("widgets", None)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        cell.metadata.pop("execution", None)
        if not is_checked(cell):
            cell.outputs = []
        else:
            count += 1
            cell.execution_count = count
            cell.outputs = [o for o in cell.outputs if o.get("output_type") in ("stream", "execute_result")]
            for o in cell.outputs:
                if o.get("output_type") == "execute_result":
                    o["execution_count"] = count
                    o["data"] = {k: v for k, v in o["data"].items() if k == "text/plain"}


def record(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    clean(nb)
    nbformat.write(nb, path)


def dirty(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.outputs and not is_checked(cell):
            problems.append(f"{path}: cell {i} has outputs but is not a checked cell")
        if cell.cell_type == "code" and cell.execution_count is not None and not is_checked(cell):
            problems.append(f"{path}: cell {i} has an execution count")
    if "widgets" in nb.metadata:
        problems.append(f"{path}: widget state is saved")
    return problems


def main(argv: list[str]) -> int:
    command, paths = argv[0], [Path(p) for p in argv[1:]]
    if command == "record":
        for p in paths:
            record(p)
            print(f"recorded {p}")
    elif command == "strip":
        for p in paths:
            nb = nbformat.read(p, as_version=4)
            clean(nb)
            nbformat.write(nb, p)
    elif command == "check":
        problems = [msg for p in paths for msg in dirty(p)]
        print("\n".join(problems) or "notebooks are clean")
        return 1 if problems else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
