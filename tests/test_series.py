"""The papermill series runner, on small notebooks the test writes."""

from __future__ import annotations

import json

import nbformat
import pytest

from helpers.errors import InputError
from helpers.series import NotebookFailed, numbered_notebooks, run_series
from helpers.settings import parse_value, read_parameter_file

NOTEBOOK_PARAMS = "profile = None\nrun_dir = None\nepochs = None"


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell(NOTEBOOK_PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nbformat.write(nb, path)
    return path


def test_numbered_notebooks_in_order(tmp_path):
    for name in ("10_last.ipynb", "02_b.ipynb", "01_a.ipynb", "notes.ipynb"):
        write_notebook(tmp_path / name)
    assert [p.name for p in numbered_notebooks(tmp_path)] == [
        "01_a.ipynb",
        "02_b.ipynb",
        "10_last.ipynb",
    ]
    assert [p.name for p in numbered_notebooks(tmp_path, ["02"])] == ["02_b.ipynb"]


@pytest.mark.parametrize(
    ("text", "value"), [("3", 3), ("None", None), ("0.5", 0.5), ("baseline", "baseline")]
)
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_series_runs_in_order_with_parameters(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    record = (
        "import json, pathlib\n"
        "p = pathlib.Path(run_dir) / 'seen.json'\n"
        "seen = json.loads(p.read_text()) if p.exists() else []\n"
        "seen.append({'nb': '%s', 'profile': profile, 'epochs': epochs})\n"
        "p.write_text(json.dumps(seen))"
    )
    write_notebook(folder / "01_first.ipynb", record % "01")
    write_notebook(folder / "02_second.ipynb", record % "02")
    lines = []
    run = run_series(
        "quick",
        parameters={"epochs": 7, "run_dir": tmp_path / "run"},
        notebooks=numbered_notebooks(folder),
        log=lambda *a, **k: lines.append(" ".join(map(str, a))),
    )
    seen = json.loads((run.root / "seen.json").read_text())
    assert seen == [
        {"nb": "01", "profile": "quick", "epochs": 7},
        {"nb": "02", "profile": "quick", "epochs": 7},
    ]
    assert (run.executed / "01_first.ipynb").exists() and (
        run.executed / "02_second.ipynb"
    ).exists()
    assert any("[1/2] 01_first" in line for line in lines) and any(
        "[2/2] 02_second" in line for line in lines
    )


def test_series_failure_names_notebook_cell_and_error(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "01_ok.ipynb", "x = 1")
    write_notebook(folder / "02_bad.ipynb", "y = 2", "raise ValueError('labels.csv is empty')")
    write_notebook(folder / "03_never.ipynb", "open(run_dir + '/never', 'w')")
    with pytest.raises(NotebookFailed) as failure:
        run_series(
            "quick",
            parameters={"run_dir": tmp_path / "run"},
            notebooks=numbered_notebooks(folder),
            log=lambda *a, **k: None,
        )
    message = str(failure.value)
    assert "02_bad.ipynb failed in cell 3 of the executed copy" in message
    assert "`raise ValueError('labels.csv is empty')`" in message
    assert "ValueError: labels.csv is empty" in message
    assert not (tmp_path / "run" / "never").exists()


def test_whole_series_runs_on_fashion_mnist_arrays(tmp_path, fashion_mnist_dir):
    """Every notebook, on Fashion-MNIST-format idx files (generated), with the profile's own model."""
    import pandas as pd

    run = run_series(
        "quick",
        parameters={
            "dataset": "fashion_mnist",
            "data_dir": str(fashion_mnist_dir),
            "image_size": 28,
            "model": "ours_tiny",
            "epochs": 1,
            "batch_size": 32,
            "run_dir": tmp_path / "fm",
        },
        log=lambda *a, **k: None,
    )
    assert json.loads(run.classes.read_text())[0] == "T-shirt/top"
    assert json.loads(run.training.read_text())["input_shape"] == [28, 28, 1]
    assert json.loads(run.metrics.read_text())["images"] == 60
    assert "LiteRT full int8" in set(pd.read_csv(run.optimization)["variant"])
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in run.summary.read_text().splitlines()
        if line.startswith("| ours_tiny")
    ]
    assert rows[0][:2] == ["ours_tiny", "28x28x1"]
    assert "ours_tiny · LiteRT full int8" in {row[0] for row in rows}  # 07's table is current


def test_series_dead_kernel_names_notebook_and_kernel_log(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "01_dies.ipynb", "import os\nos._exit(3)")
    with pytest.raises(NotebookFailed) as failure:
        run_series(
            "quick",
            parameters={"run_dir": tmp_path / "run"},
            notebooks=numbered_notebooks(folder),
            log=lambda *a, **k: None,
        )
    assert "01_dies.ipynb stopped" in str(failure.value) and "01_dies.kernel.log" in str(
        failure.value
    )


def test_parameters_are_checked_before_anything_runs(tmp_path, capsys):
    from helpers.series import main

    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "01_never.ipynb", "open(run_dir + '/ran', 'w')")
    common = ["--notebooks", str(folder), "-p", "run_dir", str(tmp_path / "run")]
    assert main([*common, "-p", "epoch", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: epoch: unknown parameter; known: profile,")
    assert main([*common, "-p", "epochs", "abc"]) == 2
    assert capsys.readouterr().err.strip() == "error: epochs: expected a whole number, got 'abc'"
    assert not (tmp_path / "run" / "ran").exists()


def test_parameter_file_and_from(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("epochs: 7\nmodel: baseline_bn\n")
    assert read_parameter_file(params) == {"epochs": 7, "model": "baseline_bn"}
    params.write_text("- not a mapping\n")
    with pytest.raises(InputError, match="params.yaml: expected name: value lines"):
        read_parameter_file(params)
    folder = tmp_path / "nbs"
    folder.mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb"):
        write_notebook(folder / name)
    assert [p.name for p in numbered_notebooks(folder, start="02")] == ["02_b.ipynb", "03_c.ipynb"]
    with pytest.raises(NotebookFailed, match="--from 09: no notebook matches"):
        numbered_notebooks(folder, start="09")


def test_timeout_stops_a_notebook_and_says_how_to_continue(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "01_slow.ipynb", "import time\ntime.sleep(60)")
    lines = []
    with pytest.raises(NotebookFailed) as failure:
        run_series(
            "quick",
            parameters={"run_dir": tmp_path / "run"},
            notebooks=numbered_notebooks(folder),
            log=lambda *a, **k: lines.append(" ".join(map(str, a))),
            timeout=8,
            heartbeat=2,
        )
    message = str(failure.value)
    assert "01_slow.ipynb exceeded --timeout 8 s" in message and "--from 01" in message
    assert any("01_slow: still running" in line for line in lines)


def test_a_run_folder_that_cannot_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="cannot be written"):
        run_series(
            "quick", parameters={"run_dir": blocker / "run"}, notebooks=[], log=lambda *a, **k: None
        )


def test_the_runner_keeps_a_run_folders_recorded_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("CLOTHING_PROFILE", raising=False)
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "01_seen.ipynb", "open(run_dir + '/profile', 'w').write(str(profile))")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"settings": {"profile": "quick", "epochs": 1}}))
    lines = []
    run_series(None, parameters={"run_dir": run}, notebooks=numbered_notebooks(folder),
               log=lambda *a, **k: lines.append(" ".join(map(str, a))))  # fmt: skip
    assert (run / "profile").read_text() == "quick"
    assert "profile quick" in lines[0]


def test_a_parameter_file_in_another_encoding_is_one_line(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_bytes("epochs: 3\n".encode("utf-16"))
    with pytest.raises(InputError, match="params.yaml: not UTF-8"):
        read_parameter_file(params)
    with pytest.raises(InputError, match="a folder, not a parameter file"):
        read_parameter_file(tmp_path)
