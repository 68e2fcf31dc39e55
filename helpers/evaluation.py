"""Evaluation on the test split: predictions in table order (a non-shuffling iterator, so row ``i``
of every output is row ``i`` of the split), top-k, per-class report, confusion.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, top_k_accuracy_score

from helpers import atomic
from helpers.data import LabelSet
from helpers.errors import InputError
from helpers.paths import RunFiles

TOP_K = 5


def predict_split(
    model, labels: LabelSet, split: str = "test", image_size: int = 256, batch_size: int = 32
) -> tuple[pd.DataFrame, np.ndarray]:
    """A predictions table of ``split`` (streamed) and its probabilities, in table order."""
    from helpers.loading import InputSpec, tf_batches

    batches = tf_batches(InputSpec(labels, image_size, batch_size), split, shuffle=False)
    probabilities = model.predict(batches.epoch(0), verbose=0)
    frame = labels.split(split)
    if len(probabilities) != len(frame):
        raise RuntimeError(f"{len(probabilities)} predictions for {len(frame)} rows of {split}")
    return predictions_table(frame, probabilities, labels.classes), probabilities


def align_classes(labels: LabelSet, classes: list[str], model: str | Path) -> LabelSet:
    """``labels`` with its classes in a model's ``classes`` order, or an InputError naming it."""
    if sorted(labels.classes) != sorted(classes):
        only_model = sorted(set(classes) - set(labels.classes))
        only_data = sorted(set(labels.classes) - set(classes))
        raise InputError(
            model,
            f"its classes.json names other classes than the data's (only the model's: "
            f"{only_model}; only the data's: {only_data})",
        )
    return dataclasses.replace(labels, classes=list(classes))


def evaluate_split(
    model, labels: LabelSet, split: str = "test", image_size: int = 256, batch_size: int = 32
) -> tuple[pd.DataFrame, dict]:
    """Predictions table and metrics (:func:`evaluate`) of one split."""
    predictions, probabilities = predict_split(model, labels, split, image_size, batch_size)
    return predictions, evaluate(predictions, probabilities, labels.classes)


def predictions_table(
    frame: pd.DataFrame, probabilities: np.ndarray, classes: list[str]
) -> pd.DataFrame:
    """``path, true, predicted, confidence, top1..topK, top1_p..topK_p`` from probabilities."""
    k = min(TOP_K, len(classes))
    order = np.argsort(-probabilities, axis=1)[:, :k]
    table = pd.DataFrame({"path": frame["path"].to_numpy(), "true": frame["label"].to_numpy()})
    table["predicted"] = [classes[i] for i in order[:, 0]]
    table["confidence"] = probabilities[np.arange(len(order)), order[:, 0]].round(4)
    for rank in range(k):
        table[f"top{rank + 1}"] = [classes[i] for i in order[:, rank]]
        table[f"top{rank + 1}_p"] = probabilities[np.arange(len(order)), order[:, rank]].round(4)
    return table


def top_k_accuracy(true_index: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    """Share of rows whose true class is among the ``k`` most probable (scikit-learn's score)."""
    classes = probabilities.shape[1]
    if k >= classes:
        return 1.0
    scores = probabilities[:, 1] if classes == 2 else probabilities  # sklearn's binary form
    return float(top_k_accuracy_score(true_index, scores, k=k, labels=np.arange(classes)))


def evaluate(predictions: pd.DataFrame, probabilities: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, top-3, top-5, per-class precision/recall/F1/support, confusion matrices, confused pairs."""
    index = {c: i for i, c in enumerate(classes)}
    true = predictions["true"].map(index).to_numpy()
    predicted = predictions["predicted"].map(index).to_numpy()
    labels = list(range(len(classes)))
    counts = confusion_matrix(true, predicted, labels=labels)
    normalised = confusion_matrix(true, predicted, labels=labels, normalize="true")
    report = classification_report(
        true, predicted, labels=labels, target_names=classes, output_dict=True, zero_division=0
    )
    return {
        "images": len(predictions), "accuracy": float(np.mean(true == predicted)),
        "top3_accuracy": top_k_accuracy(true, probabilities, 3),
        "top5_accuracy": top_k_accuracy(true, probabilities, 5),
        "per_class": {c: report[c] for c in classes}, "macro_avg": report["macro avg"],
        "weighted_avg": report["weighted avg"], "classes": classes, "confusion": counts.tolist(),
        "confusion_normalised": normalised.round(4).tolist(),
        "most_confused": most_confused(counts, classes),
    }  # fmt: skip


def most_confused(counts: np.ndarray, classes: list[str], top: int = 10) -> list[dict]:
    """The largest off-diagonal cells: (true, predicted, images, share of the true class)."""
    totals = counts.sum(axis=1)
    pairs = [
        {"true": classes[t], "predicted": classes[p], "images": int(counts[t, p]),
         "share_of_true": round(float(counts[t, p] / totals[t]), 4)}
        for t, p in zip(*np.nonzero(counts), strict=True)
        if t != p
    ]  # fmt: skip
    return sorted(pairs, key=lambda row: (-row["images"], row["true"], row["predicted"]))[:top]


def report_table(metrics: dict) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support, then macro and weighted averages."""
    rows = {
        **metrics["per_class"], "macro avg": metrics["macro_avg"],
        "weighted avg": metrics["weighted_avg"],
    }  # fmt: skip
    table = pd.DataFrame(rows).T[["precision", "recall", "f1-score", "support"]]
    return table.astype({"support": int}).round(3)


def save_evaluation(files: RunFiles, predictions: pd.DataFrame, metrics: dict) -> None:
    """``predictions.csv`` and ``metrics.json`` in the run folder (atomically)."""
    files.ensure()
    atomic.write_csv(files.predictions, predictions)
    atomic.write_json(files.metrics, metrics)


def confident_mistakes(predictions: pd.DataFrame, count: int = 12) -> pd.DataFrame:
    """Wrong predictions, most confident first."""
    wrong = predictions[predictions["true"] != predictions["predicted"]]
    return wrong.sort_values("confidence", ascending=False).head(count).reset_index(drop=True)
