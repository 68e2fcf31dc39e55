"""Settings from one definition, and a run folder that never hands back what other settings made."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from helpers import atomic
from helpers.data.deepfashion import label_deepfashion
from helpers.data.labelset import LabelSet
from helpers.errors import ParameterError
from helpers.labels import build_labels, cap_images, format_report
from helpers.paths import RUNS_DIR, RunFiles
from helpers.run import Run
from helpers.settings import PARAMETERS, PROFILES, from_namespace, resolve, run_folder


def quiet_run(params, lines=None) -> Run:
    return Run.open(params, log=(lines.append if lines is not None else lambda _: None))


def test_profile_fills_what_is_not_given(monkeypatch):
    monkeypatch.setenv("CLOTHING_PROFILE", "quick")
    monkeypatch.delenv("CLOTHING_RUN_DIR", raising=False)
    settings = resolve({"epochs": None, "batch_size": 8})
    assert settings.profile == "quick" and settings.batch_size == 8
    assert settings.epochs == PROFILES["quick"]["epochs"]
    assert settings.run_dir == RUNS_DIR / "quick"
    monkeypatch.delenv("CLOTHING_PROFILE")
    assert resolve().profile == "demo"


def test_one_rule_names_the_run_folder(monkeypatch, tmp_path):
    """run_dir given, else the series' --name, else $CLOTHING_RUN_DIR, else runs/<profile>; the
    run opens the folder the rule names and keeps that folder's recorded profile."""
    monkeypatch.delenv("CLOTHING_RUN_DIR", raising=False)
    monkeypatch.delenv("CLOTHING_PROFILE", raising=False)
    assert run_folder({}) == RUNS_DIR / "demo"
    assert run_folder({"profile": "quick"}) == RUNS_DIR / "quick"
    monkeypatch.setenv("CLOTHING_RUN_DIR", str(tmp_path / "env"))
    assert run_folder({"profile": "quick"}) == tmp_path / "env"
    assert run_folder({"profile": "quick"}, name="mine") == RUNS_DIR / "mine"
    assert run_folder({"run_dir": "x"}, name="mine") == Path("x").absolute()
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "run.json").write_text(json.dumps({"settings": {"profile": "quick"}}))
    settings = Run.open({}, writer=False).settings
    assert (settings.profile, settings.run_dir) == ("quick", tmp_path / "env")


def test_recorded_settings_fill_in_for_the_same_profile_only():
    recorded = {"profile": "quick", "epochs": 7, "model": "baseline_bn", "run_dir": "/elsewhere"}
    settings = resolve({"profile": "quick", "run_dir": "/tmp/x"}, recorded)
    assert (settings.epochs, settings.model) == (7, "baseline_bn")
    assert str(settings.run_dir) == "/tmp/x"
    assert resolve({"profile": "quick", "epochs": 2}, recorded).epochs == 2  # explicit wins
    assert resolve({"profile": "demo"}, recorded).epochs == PROFILES["demo"]["epochs"]  # its own


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("epochs", "abc", "epochs: expected a whole number, got 'abc'"),
        ("image_size", -5, "image_size: must be at least 8, got -5"),
        ("batch_size", 0, "batch_size: must be at least 1, got 0"),
        ("model", "nosuchmodel", "model: 'nosuchmodel' is not one of"),
        ("loader", "nope", "loader: 'nope' is not one of tf.data, ImageDataGenerator"),
        ("class_weights", "maybe", "class_weights: expected True or False, got 'maybe'"),
        ("cache", "ram", "cache: 'ram' is not one of auto, memory, disk, none"),
    ],
)
def test_wrong_values_are_refused_naming_the_parameter(name, value, message):
    with pytest.raises(ParameterError) as refused:
        resolve({"profile": "quick", name: value})
    assert str(refused.value).startswith(message)


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(ParameterError) as refused:
        resolve({"profile": "quick", "epoch": 3})
    assert str(refused.value).startswith("epoch: unknown parameter; known: profile, dataset,")
    with pytest.raises(ParameterError, match="data_dir: dataset 'deepfashion' needs data_dir"):
        resolve({"profile": "quick", "dataset": "deepfashion"})


def test_values_are_converted_and_paths_resolved_against_the_caller(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = resolve(
        {"profile": "quick", "epochs": "3", "class_weights": "true", "run_dir": "runs/a"}
    )
    assert settings.epochs == 3 and settings.class_weights is True
    assert settings.run_dir == tmp_path / "runs" / "a"


def test_notebook_namespace_gives_only_settings():
    namespace = {"profile": "quick", "epochs": 4, "other": 1, "model": None}
    assert from_namespace(namespace) == {"profile": "quick", "epochs": 4, "model": None}
    assert set(PARAMETERS) >= {"dataset", "data_dir", "image_size", "strategy", "cache"}


def test_labels_are_rebuilt_when_max_images_or_seed_change(tmp_path, fashion_mnist_dir):
    base = {"profile": "quick", "dataset": "fashion_mnist", "data_dir": str(fashion_mnist_dir),
            "run_dir": str(tmp_path / "run"), "image_size": 28}  # fmt: skip
    first = quiet_run(base).labels()
    assert len(first.table) == 300
    lines = []
    capped = quiet_run({**base, "max_images": 120, "seed": 7}, lines).labels()
    assert 110 <= len(capped.table) <= 130
    assert lines == [
        "Rebuilding the labels: labels.csv was made with max_images=None (now 120), seed=None (now 7)"
    ]
    lines.clear()
    reseeded = quiet_run({**base, "max_images": 120, "seed": 8}, lines).labels()
    assert lines == ["Rebuilding the labels: labels.csv was made with seed=7 (now 8)"]
    assert reseeded.table["path"].tolist() != capped.table["path"].tolist()
    lines.clear()
    assert len(quiet_run({**base, "max_images": 120, "seed": 8}, lines).labels().table) == len(
        reseeded.table
    )
    assert lines == []  # current: read back, not rebuilt


@pytest.fixture
def trained(tmp_path, fashion_mnist_dir):
    """A run trained for one epoch with ours_tiny on generated Fashion-MNIST files."""
    base = {"profile": "quick", "dataset": "fashion_mnist", "data_dir": str(fashion_mnist_dir),
            "run_dir": str(tmp_path / "run"), "image_size": 28, "model": "ours_tiny",
            "epochs": 1, "batch_size": 32}  # fmt: skip
    run = quiet_run(base)
    run.train()
    return base


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"model": "fashion_cnn"},
            "model.keras was made with model='ours_tiny' (now 'fashion_cnn')",
        ),
        ({"image_size": 32}, "model.keras was made with image_size=28 (now 32)"),
        ({"seed": 3}, "model.keras was made with seed=42 (now 3)"),
        ({"max_images": 200}, "model.keras was made with max_images=None (now 200)"),
    ],
)
def test_a_model_made_with_other_settings_is_never_handed_back(trained, change, reason):
    lines = []
    run = quiet_run({**trained, **change}, lines)
    assert run.stale("model").startswith(reason)  # another model also names its other recipe
    model = run.train().model
    assert any(reason in line for line in lines)  # said in one line, then retrained
    assert model.input_shape[1:] == run.settings.input_shape
    expected = change.get("model", "ours_tiny")
    assert json.loads(run.files.training.read_text())["model"] == expected
    assert run.stale("model") is None


def test_a_model_trained_with_another_recipe_is_not_handed_back(trained, monkeypatch):
    from helpers.recipes import CHOSEN

    monkeypatch.setitem(CHOSEN, "ours_tiny", "flip+wd0.05+erase+ls0.1")
    run = quiet_run(trained)
    assert run.stale("model").startswith("model.keras was made with recipe='flip+wd0.05+erase: ")
    assert "(now 'flip+wd0.05+erase+ls0.1: " in run.stale("model")


def test_evaluation_follows_its_model(trained):
    run = quiet_run(trained)
    _predictions, metrics = run.evaluation()
    assert metrics["images"] == 60 and run.current("evaluation")
    other = quiet_run({**trained, "model": "fashion_cnn"})
    assert "made with model='ours_tiny'" in other.stale("evaluation")


def test_a_torn_or_unrecorded_file_is_detected_not_half_read(trained):
    run = quiet_run(trained)
    text = run.files.labels.read_text()
    run.files.labels.write_text(
        text[: len(text) // 2]
    )  # a write killed half-way (by an old version)
    assert (
        run.stale("labels")
        == "labels.csv changed since it was written (torn by an interrupted write, or edited)"
    )
    assert len(run.labels().table) == 300  # rebuilt, not half-read
    record = json.loads(run.files.record.read_text())
    del record["artifacts"]["model"]
    atomic.write_json(run.files.record, record)
    assert "has no record of the settings it was made with" in run.stale("model")


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "table.csv"
    atomic.write_text(target, "old\n")
    with pytest.raises(KeyboardInterrupt), atomic.replacing(target) as partial:
        partial.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["table.csv"]  # no temporary file left behind


def test_load_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.csv: not found; run 01_labels first"):
        LabelSet.load(RunFiles(tmp_path))


def test_cap_images_keeps_every_split_and_class():
    splits = ["train"] * 8 + ["val", "test"]
    table = pd.DataFrame(
        [
            {
                "path": f"img/p{i // 4}_Tee/{i}.jpg",
                "label": ["Tee", "Dress"][i % 2],
                "split": splits[i % 10],
            }
            for i in range(400)
        ]
    )
    labels = LabelSet(table, ["Dress", "Tee"])
    capped = cap_images(labels, 100, seed=0)
    assert 95 <= len(capped.table) <= 105
    assert set(capped.table["split"]) == {"train", "val", "test"}
    assert set(capped.table["label"]) == {"Dress", "Tee"}
    assert cap_images(labels, None) is labels


def test_build_labels_on_a_real_tree(deepfashion_tree):
    settings = resolve(
        {
            "profile": "quick",
            "dataset": "deepfashion",
            "data_dir": str(deepfashion_tree),
            "max_images": 5,
        }
    )
    labels = build_labels(settings)
    assert len(labels.table) <= 6
    assert "empty-file" in format_report(labels.report)


def test_labelset_refuses_labels_outside_classes():
    with pytest.raises(ValueError, match="not in the class list"):
        LabelSet(pd.DataFrame({"path": ["a"], "label": ["Tee"], "split": ["train"]}), ["Dress"])
    with pytest.raises(ValueError, match="unknown splits"):
        LabelSet(pd.DataFrame({"path": ["a"], "label": ["Tee"], "split": ["holdout"]}), ["Tee"])


def test_counts_in_class_order(deepfashion_tree):
    counts = label_deepfashion(deepfashion_tree).counts()
    assert counts.index.tolist() == ["Blouse", "Button-Down", "Cardigan", "Sweater", "Tank"]
    assert counts.columns.tolist() == ["train", "val", "test", "total"]


def test_epoch_estimate_measures_this_machine(tmp_path, fashion_mnist_dir):
    from helpers.estimate import epoch_estimate

    lines = []
    run = quiet_run(
        {"profile": "quick", "dataset": "fashion_mnist", "data_dir": str(fashion_mnist_dir),
         "run_dir": str(tmp_path / "run"), "image_size": 28, "model": "ours_tiny", "batch_size": 32},
        lines,
    )  # fmt: skip
    table = epoch_estimate(run, run.labels())
    assert table["images"].to_dict() == {"train": 220, "val": 20, "test": 60}
    assert set(table["cache"]) == {"arrays"} and table["disk GB"].sum() == 0
    assert (
        lines[0].startswith("This machine:") and "training ours_tiny at 28px, batch 32:" in lines[0]
    )
    assert lines[1].startswith("Expected per epoch: ") and "peak memory about" in lines[1]
    lines.clear()
    epoch_estimate(run, run.labels(), measure_training=False)
    assert "training not measured here" in lines[0] and "nan" not in " ".join(lines)


def test_an_evaluation_of_an_older_model_file_is_not_handed_back(trained):
    run = quiet_run(trained)
    run.evaluation()
    assert run.current("evaluation")
    lines = []
    again = quiet_run(trained, lines)
    again.train(force=True)  # same settings, a new model.keras
    assert (
        again.stale("evaluation")
        == "predictions.csv was made from another model.keras (trained again since)"
    )
    assert "Training again: asked to train again" in lines[0]


def test_notebook_globals_that_are_not_plain_values_are_not_settings():
    import keras

    from helpers.settings import from_namespace

    namespace = {"model": keras.Sequential(), "epochs": 3, "profile": "quick", "seed": None}
    assert from_namespace(namespace) == {"epochs": 3, "profile": "quick", "seed": None}


def test_max_images_is_a_hard_cap():
    splits = ["train"] * 8 + ["val", "test"]
    table = pd.DataFrame(
        [
            {"path": f"p{i}.jpg", "label": ["Tee", "Dress", "Coat"][i % 3], "split": splits[i % 10]}
            for i in range(401)
        ]
    )
    for cap in (120, 121, 7):
        assert len(cap_images(LabelSet(table, ["Coat", "Dress", "Tee"]), cap, seed=0).table) <= cap
