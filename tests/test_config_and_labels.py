"""Run settings, the run folder's labels, and the cap on images."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers.config import PROFILES, resolve_config, sample_dir
from helpers.data.deepfashion import label_deepfashion
from helpers.data.labelset import LabelSet
from helpers.labels import build_labels, cap_images, format_report, run_labels
from helpers.paths import RUNS_DIR, RunFiles


def test_profile_fills_none_and_env_picks_profile(monkeypatch):
    monkeypatch.setenv("CLOTHING_PROFILE", "quick")
    cfg = resolve_config(None, epochs=None, batch_size=8)
    assert (
        cfg.profile == "quick" and cfg.epochs == PROFILES["quick"]["epochs"] and cfg.batch_size == 8
    )
    assert cfg.data_dir == sample_dir(PROFILES["quick"]["sample_images"])
    assert cfg.run_dir == RUNS_DIR / "quick"
    monkeypatch.delenv("CLOTHING_PROFILE")
    assert resolve_config().profile == "demo"
    assert resolve_config("quick", run_dir="/tmp/x").run.labels.as_posix() == "/tmp/x/labels.csv"


def test_config_refuses_unknowns():
    with pytest.raises(ValueError, match="unknown profile"):
        resolve_config("nope")
    with pytest.raises(ValueError, match="needs data_dir"):
        resolve_config("quick", dataset="deepfashion")
    with pytest.raises(ValueError, match="unknown parameters"):
        resolve_config("quick", colour="red")


def test_run_labels_builds_then_reads_back(deepfashion_tree, tmp_path):
    cfg = resolve_config(
        "quick", dataset="deepfashion", data_dir=deepfashion_tree, run_dir=tmp_path / "run"
    )
    built = run_labels(cfg)
    assert cfg.run.labels.exists() and cfg.run.classes.exists() and cfg.run.label_report.exists()
    loaded = LabelSet.load(RunFiles(tmp_path / "run"))
    pd.testing.assert_frame_equal(built.table, loaded.table)
    assert loaded.classes == built.classes and loaded.root == deepfashion_tree
    assert len(loaded.report) == len(built.report)
    # A second call reads the saved table instead of rebuilding it.
    cfg.run.labels.write_text("path,label,split\nimg/a_Tee/x.jpg,Tee,train\n")
    cfg.run.classes.write_text('["Tee"]')
    assert run_labels(cfg).table["path"].tolist() == ["img/a_Tee/x.jpg"]


def test_load_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.csv: not found; run 01_labels first"):
        LabelSet.load(RunFiles(tmp_path))


def test_cap_images_keeps_every_split_and_class(tmp_path):
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
    cfg = resolve_config("quick", dataset="deepfashion", data_dir=deepfashion_tree, max_images=5)
    labels = build_labels(cfg)
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


def test_notebook_config_reads_the_parameters_cell_names():
    from helpers.config import PARAMETERS, notebook_config

    namespace = dict.fromkeys(PARAMETERS)
    namespace.update(profile="quick", epochs=4, other="ignored")
    cfg = notebook_config(namespace)
    assert cfg.epochs == 4 and cfg.profile == "quick"
    del namespace["loader"]
    with pytest.raises(NameError, match="loader"):
        notebook_config(namespace)
