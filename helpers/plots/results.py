"""Figures of results: confusion matrices, per-class accuracy, image galleries, cost scatters."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers.plots.common import save


def confusion_heatmap(
    matrix, classes: list[str], normalised: bool = False, path: Path | None = None
) -> plt.Figure:
    """Confusion matrix (rows: true, columns: predicted); cell numbers only while they stay readable."""
    n = len(classes)
    side = max(4.5, 0.32 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    sns.heatmap(
        np.asarray(matrix), ax=ax, cmap="Blues", square=True, xticklabels=classes,
        yticklabels=classes, annot=n <= 15, fmt=".2f" if normalised else "d", vmin=0,
        vmax=1 if normalised else None, cbar_kws={"shrink": 0.7}, annot_kws={"fontsize": 8},
    )  # fmt: skip
    title = "Confusion matrix, row-normalised" if normalised else "Confusion matrix, counts"
    ax.set(xlabel="predicted", ylabel="true", title=title)
    ax.tick_params(labelsize=7 if n > 20 else 9)
    fig.tight_layout()
    return save(fig, path)


def per_class_accuracy(metrics: dict, path: Path | None = None) -> plt.Figure:
    """Recall (per-class accuracy) of every class, with the overall accuracy as a line."""
    frame = pd.DataFrame(metrics["per_class"]).T.reset_index(names="class").sort_values("recall")
    fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(frame) + 1.2)))
    sns.barplot(data=frame, y="class", x="recall", color=sns.color_palette()[0], ax=ax)
    accuracy = metrics["accuracy"]
    ax.axvline(accuracy, color="black", linestyle="--", label=f"overall {accuracy:.1%}")
    ax.set(
        xlim=(0, 1), xlabel="accuracy on the class (recall)", ylabel="", title="Per-class accuracy"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save(fig, path)


def image_gallery(
    images: list[np.ndarray], titles: list[str], columns: int = 6,
    overlays: list[np.ndarray] | None = None, path: Path | None = None,
) -> plt.Figure:  # fmt: skip
    """Images with titles, optionally with a heat map (e.g. Grad-CAM) over each."""
    if not images:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.text(0.5, 0.5, "no images to show", ha="center", va="center")
        ax.axis("off")
        return save(fig, path)
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, title) in enumerate(zip(images, titles, strict=True)):
        ax = axes.flat[i]
        ax.imshow(np.clip(image.squeeze(), 0, 1), cmap="gray" if image.shape[-1] == 1 else None)
        if overlays is not None:
            ax.imshow(overlays[i], cmap="jet", alpha=0.4)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def accuracy_vs_latency(table: pd.DataFrame, path: Path | None = None) -> plt.Figure:
    """Each variant's test accuracy against its median single-image latency (marker size: file size)."""
    fig, ax = plt.subplots(figsize=(9.5, 4.4))
    frame = table.assign(file_MB=table["file_bytes"] / 1e6)
    sns.scatterplot(
        data=frame, x="latency_p50_ms", y="accuracy", hue="variant", style="variant",
        size="file_MB", sizes=(40, 300), ax=ax,
    )  # fmt: skip
    ax.set(
        xscale="log", xlabel="median latency per image (ms, log)", ylabel="test accuracy",
        title="Accuracy against latency (marker area: file size)",
    )  # fmt: skip
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def accuracy_vs_flops(table: pd.DataFrame, path: Path | None = None) -> plt.Figure:
    """Test accuracy against MFLOPs per image (log scale), seed models and ours marked apart."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    sns.scatterplot(
        data=table, x="MFLOPs", y="test_accuracy", ax=ax, hue="source", style="source", s=90
    )
    # Label offsets staggered in order along x, so neighbouring points' labels do not overprint.
    for i, row in enumerate(table.sort_values("MFLOPs").itertuples()):
        ax.annotate(
            row.model, (row.MFLOPs, row.test_accuracy), fontsize=7,
            xytext=(4, (4, -11, 15)[i % 3]), textcoords="offset points",
        )  # fmt: skip
    ax.set(xscale="log", xlabel="MFLOPs per image (2 x MACs, log)", ylabel="test accuracy")
    ax.set_title("Fashion-MNIST: accuracy against cost")
    ax.margins(x=0.08, y=0.12)  # room for the labels of the outermost points
    fig.tight_layout()
    return save(fig, path)
