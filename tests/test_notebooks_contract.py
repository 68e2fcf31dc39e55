"""The notebook contract: numbered, parameters cell first, no outputs committed, no long cells."""

from __future__ import annotations

import ast

import nbformat
import pytest

from helpers.paths import NOTEBOOKS_DIR

REQUIRED = {
    "dataset",
    "data_dir",
    "run_dir",
    "image_size",
    "model",
    "epochs",
    "batch_size",
    "max_images",
    "seed",
}
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("01_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_contract(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert tagged[0] == 0, "the parameters cell is the first code cell"
    assigned = {
        t.id
        for node in ast.parse(code[tagged[0]].source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
    }
    assert assigned >= REQUIRED
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, "strip outputs"
        lines = [
            line
            for line in cell.source.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        limit = 20 if "google.colab" in cell.source else 15  # the Colab set-up cell
        assert len(lines) <= limit, f"a {len(lines)}-line cell is a helper waiting to be written"
    assert "colab-badge" in nb.cells[0].source
