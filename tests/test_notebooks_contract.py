"""The notebook contract: numbered, parameters cell first (only known settings), one set-up cell,
no outputs committed, no long cells, Colab care."""

from __future__ import annotations

import ast

import nbformat
import pytest

from helpers.paths import NOTEBOOKS_DIR
from helpers.settings import PARAMETERS

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
# What a notebook's first cell may never install: Colab's own stack (upgrading ipykernel there
# can crash the runtime) and the heavy framework itself.
NEVER_INSTALLED = (
    "tensorflow",
    "keras",
    "ipykernel",
    "jupyter_client",
    "jupyter-client",
    "ipywidgets",
)


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def assigned(source: str) -> list[str]:
    return [
        t.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
    ]


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name.startswith("01_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_contract(path):
    nb = nbformat.read(path, as_version=4)
    code = code_cells(path)
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert tagged[0] == 0, "the parameters cell is the first code cell"
    names = assigned(code[0].source)
    assert names[:2] == ["profile", "run_dir"], "every notebook takes the profile and run folder"
    assert set(names) <= set(PARAMETERS), f"unknown settings {set(names) - set(PARAMETERS)}"
    order = list(PARAMETERS)
    assert sorted(names[2:], key=order.index) == names[2:], "listed in the definition's order"
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, "strip outputs"
        lines = [
            line
            for line in cell.source.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        # the set-up cell fetches the project in Colab; the package does the rest
        limit = 10 if "google.colab" in cell.source else 15
        assert len(lines) <= limit, f"a {len(lines)}-line cell is a helper waiting to be written"
    assert "colab-badge" in nb.cells[0].source


def test_every_notebook_has_the_same_short_setup_cell_and_it_installs_no_colab_stack():
    setups = {path.name: code_cells(path)[1].source for path in NOTEBOOKS}
    assert len(set(setups.values())) == 1, "one set-up cell, the same everywhere"
    setup = next(iter(setups.values()))
    assert len([line for line in setup.splitlines() if line.strip()]) <= 8
    assert setup.startswith("# Set-up (plumbing)") and setup.count("https://github.com") == 1
    assert "%pip" not in setup and "requirements.txt" not in setup
    # after fetching the project, the package does the rest (chdir, Colab installs, versions)
    assert setup.rstrip().endswith(
        "from helpers.notebook import setup_notebook\n\nsetup_notebook();"
    )
    assert "install_for_colab" not in setup and "chdir" not in setup
    for package in NEVER_INSTALLED:
        assert f"install {package}" not in setup and f"install -q {package}" not in setup


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameter_comments_are_the_settings_help(path):
    """The parameters cell's comments come from helpers.settings, so they cannot drift."""
    for line in code_cells(path)[0].source.splitlines()[1:]:
        name, comment = line.split(" = None  # ")
        assert comment == PARAMETERS[name].help, name


# The idea each notebook shows in public library code, before the helper that scales it.
IDEAS = {
    "01_labels": ['.rsplit("_", 1)[-1]'],
    "02_loading": ["ImageDataGenerator(", "flow_from_dataframe(", "tf.data.Dataset"],
    "03_training": ["keras.Input(", "layers.Conv2D(", "model.compile(", "model.fit("],
    "04_receptive_field": ["(kernel - 1) * jump", "jump * layer.strides"],
    "05_flops": ["k_h * k_w * c_in * c_out * out_h * out_w"],
    "06_evaluation": ["model.predict(", "confusion_matrix(", "classification_report(", "GradientTape"],
    "07_optimization": ["TFLiteConverter.from_saved_model", "representative_dataset", "TFLITE_BUILTINS_INT8"],
}  # fmt: skip


@pytest.mark.parametrize("stem", sorted(IDEAS))
def test_each_notebook_shows_its_idea_in_public_library_code(stem):
    code = "\n".join(cell.source for cell in code_cells(NOTEBOOKS_DIR / f"{stem}.ipynb"))
    for snippet in IDEAS[stem]:
        assert snippet in code, f"{stem} does not show {snippet}"


def test_every_notebook_opens_the_run_from_its_parameters():
    for path in NOTEBOOKS:
        assert "Run.from_notebook(globals())" in code_cells(path)[2].source, path.name
