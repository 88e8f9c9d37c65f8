"""Every notebook runs top to bottom on small sizes and is stored without outputs.

The notebooks read ``CRAMPNET_SMALL=1`` to shrink cohorts and draws, so ``make test`` runs
them in seconds; ``make notebooks`` runs them at full size and writes HTML under
``docs/notebooks/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    for n, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {n} has stored outputs"
            assert cell.execution_count is None, f"{path.name} cell {n} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CRAMPNET_SMALL", "1")
    monkeypatch.setenv("CRAMPNET_OUTPUT", str(tmp_path))  # where a notebook may write files
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    assert os.environ["CRAMPNET_SMALL"] == "1"
