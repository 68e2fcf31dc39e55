"""Figures: each helper writes its PNG; the optional fastai view says when fastai is missing."""

from __future__ import annotations

import importlib.util

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from helpers import plots
from helpers.data.deepfashion import label_deepfashion


def test_label_figures(deepfashion_tree, tmp_path):
    labels = label_deepfashion(deepfashion_tree)
    plots.class_distribution(labels, path=tmp_path / "dist.png")
    plots.sample_grid(labels, per_class=3, path=tmp_path / "grid.png")
    assert (tmp_path / "dist.png").stat().st_size > 1000 and (
        tmp_path / "grid.png"
    ).stat().st_size > 1000
    assert labels.split_sizes()["images"].sum() == len(labels.table)


def test_confusion_heatmap_stays_readable_at_46_classes(tmp_path):
    classes = [f"class{i}" for i in range(46)]
    figure = plots.confusion_heatmap(np.eye(46, dtype=int) * 5, classes, path=tmp_path / "c.png")
    assert not figure.axes[0].texts  # no cell numbers at 46 classes
    assert figure.get_size_inches()[1] >= 0.32 * 46
    small = plots.confusion_heatmap(np.eye(3) * 0.5, classes[:3], normalised=True)
    assert len(small.axes[0].texts) == 9


def test_result_figures(tmp_path):
    table = pd.DataFrame(
        {
            "variant": ["a", "b"],
            "accuracy": [0.9, 0.89],
            "latency_p50_ms": [2.0, 1.0],
            "file_bytes": [4000, 1000],
        }
    )
    plots.accuracy_vs_latency(table, path=tmp_path / "lat.png")
    flops = pd.DataFrame(
        {
            "model": ["x", "y"],
            "source": ["seed", "ours"],
            "MFLOPs": [27.8, 6.4],
            "test_accuracy": [0.91, 0.93],
        }
    )
    plots.accuracy_vs_flops(flops, path=tmp_path / "flops.png")
    history = pd.DataFrame(
        {
            "epoch": [0, 1],
            "loss": [1, 0.5],
            "val_loss": [1.1, 0.7],
            "accuracy": [0.5, 0.8],
            "val_accuracy": [0.4, 0.7],
        }
    )
    plots.learning_curves(history, path=tmp_path / "curves.png")
    plots.image_gallery([], [], path=tmp_path / "empty.png")
    assert all((tmp_path / n).exists() for n in ("lat.png", "flops.png", "curves.png", "empty.png"))


@pytest.mark.skipif(importlib.util.find_spec("fastai") is not None, reason="fastai is installed")
def test_fastai_view_says_when_fastai_is_missing(deepfashion_tree, capsys):
    from helpers.fastai_view import show_fastai_batch

    assert show_fastai_batch(label_deepfashion(deepfashion_tree)) is None
    assert "fastai is not installed" in capsys.readouterr().out
