"""Evaluation: predictions stay on their rows, metrics are right, Grad-CAM and the summary work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures import colour_model
from PIL import Image

from helpers import atomic
from helpers.data.labelset import LabelSet
from helpers.evaluation import (
    confident_mistakes,
    evaluate,
    predict_split,
    predictions_table,
    report_table,
    save_evaluation,
    top_k_accuracy,
)
from helpers.summary import write_summary

COLORS = {"Red": (255, 0, 0), "Green": (0, 255, 0), "Blue": (0, 0, 255)}


@pytest.fixture(scope="module")
def colour_set(tmp_path_factory) -> LabelSet:
    """Test images whose class is their colour, in an interleaved order across product folders."""
    root = tmp_path_factory.mktemp("colours")
    rows = []
    names = list(COLORS)
    for i in range(30):
        label = names[(i * 7) % 3]
        path = root / f"img/P{i}_{label}/img_00000001.jpg"
        path.parent.mkdir(parents=True)
        Image.new("RGB", (20, 20), COLORS[label]).save(path, quality=95)
        rows.append((path.relative_to(root).as_posix(), label, "test"))
    return LabelSet(
        pd.DataFrame(rows, columns=["path", "label", "split"]),
        names,
        root=root,
        dataset="deepfashion",
    )


def test_each_prediction_row_belongs_to_the_file_on_that_row(colour_set):
    predictions, probabilities = predict_split(
        colour_model(), colour_set, "test", image_size=16, batch_size=4
    )
    assert predictions["path"].tolist() == colour_set.split("test")["path"].tolist()
    # The model reads the colour of the image it was given: any shuffle would mislabel rows.
    assert (predictions["predicted"] == predictions["true"]).all()
    assert probabilities.shape == (30, 3)


def test_metrics_on_known_predictions():
    classes = ["A", "B", "C"]
    frame = pd.DataFrame({"path": list("pqrstu"), "label": ["A", "A", "B", "B", "C", "C"]})
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.8, 0.1],
            [0.5, 0.3, 0.2],
            [0.1, 0.2, 0.7],
            [0.3, 0.3, 0.4],
        ]
    )
    predictions = predictions_table(frame, probabilities, classes)
    assert predictions["predicted"].tolist() == ["A", "B", "B", "A", "C", "C"]
    assert predictions.loc[1, "top2"] == "A" and predictions.loc[1, "top2_p"] == pytest.approx(0.2)
    metrics = evaluate(predictions, probabilities, classes)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["top3_accuracy"] == 1.0 and metrics["top5_accuracy"] == 1.0
    assert top_k_accuracy(np.array([0, 0, 1, 1, 2, 2]), probabilities, 2) == pytest.approx(1.0)
    assert metrics["confusion"] == [[1, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert metrics["confusion_normalised"][0] == [0.5, 0.5, 0.0]
    assert (
        metrics["per_class"]["C"]["precision"] == 1.0 and metrics["per_class"]["A"]["recall"] == 0.5
    )
    assert metrics["most_confused"][0] == {
        "true": "A",
        "predicted": "B",
        "images": 1,
        "share_of_true": 0.5,
    }
    table = report_table(metrics)
    assert table.index.tolist() == ["A", "B", "C", "macro avg", "weighted avg"]
    assert confident_mistakes(predictions)["path"].tolist() == ["q", "s"]  # 0.7 then 0.5


def cells(text: str, first: str) -> list[list[str]]:
    """The markdown table rows of ``text`` whose first cell starts with ``first``, as stripped cells."""
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]
    return [row for row in rows if row[0].startswith(first)]


@pytest.fixture
def quick_run(tmp_path):
    from helpers.run import Run

    return Run.open({"profile": "quick", "run_dir": str(tmp_path / "run")}, log=lambda _: None)


def test_summary_table_reads_the_run(quick_run):
    run, files = quick_run, quick_run.files
    files.ensure()
    for path in (files.labels, files.model, files.history):
        path.write_text("x")
    atomic.write_json(
        files.training,
        {
            "model": "deepfashion_cnn",
            "input_shape": [256, 256, 3],
            "params": 5392494,
            "test": {"accuracy": 0.5},
        },
    )
    run.record("model")
    costs = {"model": "deepfashion_cnn", "input_shape": [256, 256, 3], "params": 5392494,
             "macs": 614461824, "flops": 1228923648, "file_bytes": 21_600_000}  # fmt: skip
    atomic.write_json(files.costs, costs)
    files.layers.write_text("x")
    run.record("costs")
    save_evaluation(
        files,
        pd.DataFrame({"path": ["a"]}),
        {"accuracy": 0.8123, "top3_accuracy": 0.95, "top5_accuracy": 0.99},
    )
    run.record("evaluation")
    (files.figures / "confusion_counts.png").write_bytes(b"png")
    text = write_summary(run).read_text()
    assert cells(text, "deepfashion_cnn") == [
        [
            "deepfashion_cnn",
            "256x256x3",
            "81.23%",
            "95.00%",
            "99.00%",
            "5,392,494",
            "614.46",
            "1,228.92",
            "21.60",
            "—",  # latency: measured by 07, which has not run
        ]
    ]
    assert "(figures/confusion_counts.png)" in text
    assert "optimization.csv does not exist yet: run 07_optimization" in text


def test_summary_leaves_out_what_other_settings_made(quick_run):
    from helpers.run import Run

    run, files = quick_run, quick_run.files
    files.ensure()
    save_evaluation(files, pd.DataFrame({"path": ["a"]}), {"accuracy": 0.5})
    run.record("evaluation")
    other = Run.open(
        {"profile": "quick", "run_dir": str(files.root), "model": "baseline_bn"}, log=lambda _: None
    )
    text = write_summary(other).read_text()
    assert "50.00%" not in text
    assert "predictions.csv was made with model='deepfashion_cnn' (now 'baseline_bn')" in text


def test_summary_adds_one_row_per_optimised_variant(quick_run):
    run, files = quick_run, quick_run.files
    files.ensure()
    atomic.write_json(
        files.costs,
        {"model": "cnn", "input_shape": [28, 28, 1], "params": 10, "macs": 5, "flops": 10},
    )
    files.layers.write_text("x")
    run.record("costs")
    rows = [
        {
            "variant": "Keras float32",
            "accuracy": 0.9,
            "params": 10,
            "macs": 5,
            "flops": 10,
            "file_bytes": 4000,
        },
        {
            "variant": "LiteRT full int8",
            "accuracy": 0.89,
            "params": 10,
            "macs": 5,
            "flops": 10,
            "file_bytes": 1000,
        },
    ]
    atomic.write_csv(files.optimization, pd.DataFrame(rows))
    run.record("optimization")
    shown = cells(write_summary(run).read_text(), "cnn")
    assert len(shown) == 2 and shown[1][0] == "cnn · LiteRT full int8" and shown[1][2] == "89.00%"


def test_summary_links_only_figures_of_current_artifacts(quick_run):
    from helpers.run import Run

    run, files = quick_run, quick_run.files
    files.ensure()
    save_evaluation(files, pd.DataFrame({"path": ["a"]}), {"accuracy": 0.5})
    run.record("evaluation")
    for name in ("confusion_counts", "learning_curves", "made_up"):
        (files.figures / f"{name}.png").write_bytes(b"png")
    text = write_summary(run).read_text()
    assert "figures/confusion_counts.png" in text and "learning_curves" not in text
    assert "made_up" not in text
    other = Run.open(
        {"profile": "quick", "run_dir": str(files.root), "seed": 3}, log=lambda _: None
    )
    assert "confusion_counts" not in write_summary(other).read_text()
