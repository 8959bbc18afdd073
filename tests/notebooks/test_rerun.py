"""Every lesson and lab runs a second time in a row (right after its nbval run) and cleans up after itself.

nbval (``--nbval-lax``) runs each notebook first and compares the cells marked
``# NBVAL_CHECK_OUTPUT``. This second run proves the notebook is idempotent: it
must pass again from the state the first run left, give the same checked
outputs, and leave no tutorial namespace behind.
"""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from scalelab import k8s
from scalelab.cluster.base import tutorial_namespaces

ROOT = Path(__file__).resolve().parents[2]
PATHS = {p.name: p for p in sorted([*(ROOT / "lessons").glob("*.ipynb"), *(ROOT / "labs").glob("*/*.ipynb")])}
NOTEBOOKS = list(PATHS)
MARK = "# NBVAL_CHECK_OUTPUT"


def checked_outputs(nb) -> list[str]:
    texts = []
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith(MARK):
            texts.append("".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs))
    return texts


@pytest.mark.notebook_rerun
@pytest.mark.cluster
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_lesson_runs_again_and_cleans_up(notebook, api, monkeypatch):
    # This run checks idempotency and cleanup, not the scoreboard: replay the story 3x faster.
    monkeypatch.setenv("SCALELAB_FAST_FORWARD", "60")
    path = PATHS[notebook]
    recorded = checked_outputs(nbformat.read(path, as_version=4))
    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        # Whatever happened, the next notebook on this worker starts from a clean cluster: a failed
        # run that left its namespace made the next two notebooks' cleanup checks fail too.
        left = tutorial_namespaces(api)
        for namespace in left:
            k8s.delete_namespace(api, namespace, timeout=180)
    assert checked_outputs(nb) == recorded
    assert left == [], "the cleanup cell left namespaces behind"
