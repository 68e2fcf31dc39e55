"""Figures of a model: learning curves, receptive fields, the most expensive layers."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers.flops import most_expensive
from helpers.plots.common import save


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


def receptive_field_growth(
    table: pd.DataFrame, input_size: int, path: Path | None = None
) -> plt.Figure:
    """Receptive field (and jump) layer by layer, against the input size."""
    defined = table.dropna(subset=["rf_h"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(defined) + 3), 3.8))
    for column, marker, label in (
        ("rf_h", "o", "receptive field (pixels)"),
        ("jump_h", ".", "jump (effective stride)"),
    ):
        ax.plot(defined.index, defined[column].astype(float), marker=marker, label=label)
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
        corner, width, height = (left - 0.5, top - 0.5), right - left + 1, bottom - top + 1
        ax.add_patch(
            plt.Rectangle(
                corner, width, height, fill=False, linewidth=2, edgecolor=color, label=label
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
    title = f"Most expensive layers (top {len(ranked)})"
    ax.set(xlabel="MFLOPs per image (2 x MACs)", ylabel="", title=title)
    fig.tight_layout()
    return save(fig, path)
