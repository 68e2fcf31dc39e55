"""bench/inference.py measures a model on the data it was trained on, and refuses a mismatch."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures import colour_model, load_bench

from helpers import atomic
from helpers.data.folders import label_folders
from helpers.paths import RunFiles


@pytest.fixture(scope="module")
def bench():
    return load_bench("inference")


def _photos(root: Path, classes: list[str]) -> Path:
    from fixtures import write_image

    for c, name in enumerate(classes):
        for i in range(6):
            write_image(root / name / f"{i}.jpg", color=(200 if c == 0 else 10, 20, 30 * i))
    return root


def test_a_models_own_run_labels_are_used_and_a_class_mismatch_is_one_line(bench, tmp_path, capsys):
    run = RunFiles(tmp_path / "run").ensure()
    atomic.save_model(colour_model(), run.model)  # three classes
    label_folders(_photos(tmp_path / "photos", ["red", "green"])).save(run)  # two
    labels, source = bench.bench_labels(run.model, None, None, 3)
    assert labels.classes == ["green", "red"] and "its run's labels" in source
    assert bench.main([str(run.model), "--runs", "1"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err and len(errors) == 1
    assert "3 classes" in errors[0] and "has 2" in errors[0] and "model.keras" in errors[0]


def test_any_dataset_kind_can_be_named(bench, tmp_path):
    folder = _photos(tmp_path / "photos", ["a", "b", "c"])
    labels, source = bench.bench_labels(tmp_path / "elsewhere.keras", "folders", folder, 3)
    assert source == "folders" and len(labels.classes) == 3
