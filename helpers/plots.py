"""Figures of the series (seaborn / matplotlib), each saved into the run folder when asked."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers import atomic
from helpers.data import LabelSet
from helpers.flops import most_expensive


def save(fig: plt.Figure, path: Path | None) -> plt.Figure:
    """Save ``fig`` as PNG (atomically) when ``path`` is given; return it for display."""
    if path is not None:
        atomic.save_figure(fig, path, dpi=110, bbox_inches="tight")
    return fig


def class_distribution(labels: LabelSet, path: Path | None = None) -> plt.Figure:
    """Images per class, stacked by split; readable at DeepFashion's 46 classes."""
    counts = labels.counts().drop(columns="total")
    long = counts.reset_index().melt(id_vars="label", var_name="split", value_name="images")
    height = max(3.0, 0.28 * len(labels.classes) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height))
    sns.barplot(data=long, y="label", x="images", hue="split", order=labels.classes, ax=ax)
    ax.set(
        title=f"Images per class and split ({len(labels.table)} images)", ylabel="", xlabel="images"
    )
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), title="split")
    fig.tight_layout()
    return save(fig, path)


def sample_grid(
    labels: LabelSet, per_class: int = 6, seed: int = 0, path: Path | None = None
) -> plt.Figure:
    """A few training images of every class, one row per class, read by the training reader."""
    train = labels.split("train")
    rows = len(labels.classes)
    fig, axes = plt.subplots(rows, per_class, figsize=(1.4 * per_class, 1.5 * rows), squeeze=False)
    for row, label in enumerate(labels.classes):
        members = train[train["label"] == label]
        picked = members.sample(min(per_class, len(members)), random_state=seed)["path"].tolist()
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            if col < len(picked):
                image = labels.kind.images.read(labels, picked[col])
                ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
        axes[row][0].set_title(label, loc="left", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def learning_curves(history: pd.DataFrame, path: Path | None = None) -> plt.Figure:
    """Loss and accuracy per epoch, training against validation."""
    metrics = [m for m in ("loss", "accuracy", "top3") if m in history and f"val_{m}" in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    epochs = history["epoch"] + 1
    for ax, metric in zip(axes[0], metrics, strict=True):
        ax.plot(epochs, history[metric], marker="o", label="train")
        ax.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        ax.set(title=metric, xlabel="epoch")
        ax.legend()
    fig.tight_layout()
    return save(fig, path)


def batch_grid(rows: dict[str, np.ndarray], path: Path | None = None) -> plt.Figure:
    """Images side by side, one row per named batch (e.g. originals and augmented copies)."""
    count = min(len(batch) for batch in rows.values())
    fig, axes = plt.subplots(
        len(rows), count, figsize=(1.6 * count, 1.8 * len(rows)), squeeze=False
    )
    for r, (name, batch) in enumerate(rows.items()):
        for c in range(count):
            image = np.clip(batch[c], 0, 1)
            axes[r][c].imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
            axes[r][c].axis("off")
        axes[r][0].set_title(name, loc="left", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def receptive_field_growth(
    table: pd.DataFrame, input_size: int, path: Path | None = None
) -> plt.Figure:
    """Receptive field (and jump) layer by layer, against the input size."""
    defined = table.dropna(subset=["rf_h"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(defined) + 3), 3.8))
    ax.plot(
        defined.index, defined["rf_h"].astype(float), marker="o", label="receptive field (pixels)"
    )
    ax.plot(
        defined.index, defined["jump_h"].astype(float), marker=".", label="jump (effective stride)"
    )
    ax.axhline(input_size, color="grey", linestyle="--", label=f"input size {input_size}")
    ax.set_yscale("log")
    if len(defined) <= 30:
        ax.set_xticks(defined.index, defined["layer"], rotation=60, ha="right", fontsize=8)
    ax.set(xlabel="layer", ylabel="pixels", title="How the receptive field grows")
    ax.legend()
    fig.tight_layout()
    return save(fig, path)


def field_on_image(
    image: np.ndarray, boxes: dict[str, tuple[float, float, float, float]], path: Path | None = None
) -> plt.Figure:
    """Boxes ``(top, left, bottom, right)`` of input pixels seen by single units, drawn on an image."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
    for (label, (top, left, bottom, right)), color in zip(
        boxes.items(), sns.color_palette("bright"), strict=False
    ):
        ax.add_patch(
            plt.Rectangle(
                (left - 0.5, top - 0.5),
                right - left + 1,
                bottom - top + 1,
                fill=False,
                linewidth=2,
                edgecolor=color,
                label=label,
            )
        )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.axis("off")
    fig.tight_layout()
    return save(fig, path)


def flops_bars(table: pd.DataFrame, top: int = 15, path: Path | None = None) -> plt.Figure:
    """The most expensive layers by FLOPs, with each one's share of the total."""
    ranked = most_expensive(table, top)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(ranked) + 1.2))
    sns.barplot(x=ranked["flops"] / 1e6, y=ranked["layer"], hue=ranked["type"], dodge=False, ax=ax)
    for y, (flops, share) in enumerate(zip(ranked["flops"] / 1e6, ranked["share"], strict=True)):
        ax.text(flops, y, f" {share:.1%}", va="center", fontsize=8)
    ax.set(
        xlabel="MFLOPs per image (2 x MACs)",
        ylabel="",
        title=f"Most expensive layers (top {len(ranked)})",
    )
    fig.tight_layout()
    return save(fig, path)


def confusion_heatmap(
    matrix, classes: list[str], normalised: bool = False, path: Path | None = None
) -> plt.Figure:
    """Confusion matrix (rows: true, columns: predicted); cell numbers only while they stay readable."""
    matrix = np.asarray(matrix)
    n = len(classes)
    side = max(4.5, 0.32 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    sns.heatmap(
        matrix,
        ax=ax,
        cmap="Blues",
        square=True,
        xticklabels=classes,
        yticklabels=classes,
        annot=n <= 15,
        fmt=".2f" if normalised else "d",
        vmin=0,
        vmax=1 if normalised else None,
        cbar_kws={"shrink": 0.7},
        annot_kws={"fontsize": 8},
    )
    ax.set(
        xlabel="predicted",
        ylabel="true",
        title="Confusion matrix, row-normalised" if normalised else "Confusion matrix, counts",
    )
    ax.tick_params(labelsize=7 if n > 20 else 9)
    fig.tight_layout()
    return save(fig, path)


def per_class_accuracy(metrics: dict, path: Path | None = None) -> plt.Figure:
    """Recall (per-class accuracy) of every class, with the overall accuracy as a line."""
    frame = pd.DataFrame(metrics["per_class"]).T.reset_index(names="class")
    frame = frame.sort_values("recall")
    fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(frame) + 1.2)))
    sns.barplot(data=frame, y="class", x="recall", color=sns.color_palette()[0], ax=ax)
    ax.axvline(
        metrics["accuracy"],
        color="black",
        linestyle="--",
        label=f"overall {metrics['accuracy']:.1%}",
    )
    ax.set(
        xlim=(0, 1), xlabel="accuracy on the class (recall)", ylabel="", title="Per-class accuracy"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save(fig, path)


def image_gallery(
    images: list[np.ndarray],
    titles: list[str],
    columns: int = 6,
    overlays: list[np.ndarray] | None = None,
    path: Path | None = None,
) -> plt.Figure:
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


def _labelled_scatter(
    table: pd.DataFrame,
    x: str,
    y: str,
    label: str,
    title: str,
    xlabel: str,
    ylabel: str,
    path: Path | None,
    **scatter,
) -> plt.Figure:
    """A log-x scatter plot with every point named."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    sns.scatterplot(data=table, x=x, y=y, ax=ax, **scatter)
    # Label offsets staggered in order along x, so neighbouring points' labels do not overprint.
    for i, (_, row) in enumerate(table.sort_values(x).iterrows()):
        offset = (4, (4, -11, 15)[i % 3])
        ax.annotate(
            row[label], (row[x], row[y]), fontsize=7, xytext=offset, textcoords="offset points"
        )
    ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    fig.tight_layout()
    return save(fig, path)


def accuracy_vs_latency(table: pd.DataFrame, path: Path | None = None) -> plt.Figure:
    """Each variant's test accuracy against its median single-image latency (marker size: file size)."""
    fig, ax = plt.subplots(figsize=(9.5, 4.4))
    frame = table.assign(file_MB=table["file_bytes"] / 1e6)
    sns.scatterplot(
        data=frame,
        x="latency_p50_ms",
        y="accuracy",
        hue="variant",
        style="variant",
        size="file_MB",
        sizes=(40, 300),
        ax=ax,
    )
    ax.set(
        xscale="log",
        xlabel="median latency per image (ms, log)",
        ylabel="test accuracy",
        title="Accuracy against latency (marker area: file size)",
    )
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def accuracy_vs_flops(table: pd.DataFrame, path: Path | None = None) -> plt.Figure:
    """Test accuracy against MFLOPs per image (log scale), seed models and ours marked apart."""
    return _labelled_scatter(
        table,
        "MFLOPs",
        "test_accuracy",
        "model",
        "Fashion-MNIST: accuracy against cost",
        "MFLOPs per image (2 x MACs, log)",
        "test accuracy",
        path,
        hue="source",
        style="source",
        s=90,
    )


def explanation_gallery(
    images: np.ndarray, batch, columns: int = 4, path: Path | None = None
) -> plt.Figure:
    """Each image with its explanation map over it, then the deletion and insertion curves.

    ``batch`` is :func:`helpers.explain.explain_batch`'s result for ``images``. Each title reads
    ``#i true → predicted (confidence)``, then the randomisation rank correlation ``ρ`` and the
    deletion / insertion gains over a random pixel order, each marked ✓ (check passed) or ✗.
    Below, one panel per check: every image's curve (solid, its colour) with its random-order
    curve (dashed); the legend gives the areas under the curves.
    """
    count = len(images)
    rows = max(1, -(-count // columns))
    fig = plt.figure(figsize=(2.6 * columns, 2.9 * rows + 3.2))
    grid = fig.add_gridspec(rows + 1, columns, height_ratios=[2.9] * rows + [3.2])
    curves = grid[rows, :].subgridspec(1, 2, wspace=0.25)
    deletion, insertion = fig.add_subplot(curves[0, 0]), fig.add_subplot(curves[0, 1])
    table = batch.table

    def mark(passed: bool) -> str:
        return "✓" if passed else "✗"

    for i, (image, explanation, checks) in enumerate(
        zip(images, batch.explanations, batch.checks, strict=True)
    ):
        ax = fig.add_subplot(grid[i // columns, i % columns])
        ax.imshow(np.clip(image.squeeze(), 0, 1), cmap="gray" if image.shape[-1] == 1 else None)
        ax.imshow(explanation.map, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        ax.axis("off")
        row = table.iloc[i]
        head = f"{row['true']} → " if "true" in table else ""
        ax.set_title(
            f"#{i + 1} {head}{row['predicted']} ({row['confidence']:.0%})"
            + (" · flat map" if explanation.flat else "")
            + f"\nρ {checks.rank_corr:.2f} {mark(checks.randomisation_passed)}"
            f" · del {checks.deletion_gain:+.3f} {mark(checks.deletion_passed)}"
            f" · ins {checks.insertion_gain:+.3f} {mark(checks.insertion_passed)}",
            fontsize=8,
            color=f"C{i % 10}",
        )
        panels = (
            (deletion, checks.deletion_curve, checks.random_deletion_curve, checks.deletion_auc,
             checks.random_deletion_auc),
            (insertion, checks.insertion_curve, checks.random_insertion_curve,
             checks.insertion_auc, checks.random_insertion_auc),
        )  # fmt: skip
        for ax_curve, curve, random, auc, random_auc in panels:
            label = f"#{i + 1} AUC {auc:.2f} (random {random_auc:.2f})"
            ax_curve.plot(checks.fractions, curve, color=f"C{i % 10}", label=label)
            ax_curve.plot(checks.fractions, random, color=f"C{i % 10}", linestyle="--", alpha=0.6)
    method = batch.explanations[0].method if count else ""
    for ax, name, verb in ((deletion, "Deletion", "removed"), (insertion, "Insertion", "revealed")):
        ax.set(
            title=f"{name}: most salient pixels {verb} first (dashed: random order)",
            xlabel=f"fraction of pixels {verb}",
            ylabel="probability of the explained class",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"Where the model looked ({method}); ρ: rank correlation with a randomised model")
    fig.tight_layout()
    return save(fig, path)
