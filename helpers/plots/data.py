"""Figures of the data: classes per split, sample images, augmented batches."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from helpers.data import LabelSet
from helpers.data.registry import kind_of
from helpers.plots.common import save


def class_distribution(labels: LabelSet, path: Path | None = None) -> plt.Figure:
    """Images per class, stacked by split; readable at DeepFashion's 46 classes."""
    counts = labels.counts().drop(columns="total")
    long = counts.reset_index().melt(id_vars="label", var_name="split", value_name="images")
    height = max(3.0, 0.28 * len(labels.classes) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height))
    sns.barplot(data=long, y="label", x="images", hue="split", order=labels.classes, ax=ax)
    title = f"Images per class and split ({len(labels.table)} images)"
    ax.set(title=title, ylabel="", xlabel="images")
    if ax.get_legend():  # none for an empty table
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), title="split")
    fig.tight_layout()
    return save(fig, path)


def sample_grid(
    labels: LabelSet, per_class: int = 6, seed: int = 0, path: Path | None = None
) -> plt.Figure:
    """A few training images of every class, one row per class, read by the training reader."""
    train = labels.split("train")
    rows = max(1, len(labels.classes))
    fig, axes = plt.subplots(rows, per_class, figsize=(1.4 * per_class, 1.5 * rows), squeeze=False)
    for row, label in enumerate(labels.classes):
        members = train[train["label"] == label]
        picked = members.sample(min(per_class, len(members)), random_state=seed)["path"].tolist()
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            if col < len(picked):
                image = kind_of(labels).images.read(labels, picked[col])
                gray = image.shape[-1] == 1  # squeeze only the channel: a 1x1 image stays 2-D
                ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None)
        axes[row][0].set_title(label, loc="left", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def batch_grid(rows: dict[str, np.ndarray], path: Path | None = None) -> plt.Figure:
    """Images side by side, one row per named batch (e.g. originals and augmented copies)."""
    count = min(len(batch) for batch in rows.values())
    size = (1.6 * count, 1.8 * len(rows))
    fig, axes = plt.subplots(len(rows), count, figsize=size, squeeze=False)
    for r, (name, batch) in enumerate(rows.items()):
        for c in range(count):
            image = np.clip(batch[c], 0, 1)
            axes[r][c].imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None)
            axes[r][c].axis("off")
        axes[r][0].set_title(name, loc="left", fontsize=9)
    fig.tight_layout()
    return save(fig, path)
