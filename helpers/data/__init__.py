"""Dataset adapters. Each returns a :class:`LabelSet`: labels table, ordered classes, report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.data.deepfashion import label_deepfashion
from helpers.data.fashion_mnist import fashion_mnist_labels
from helpers.data.kaggle import label_clothing_full, label_product_images
from helpers.data.labelset import LabelSet, Report, summarize_report

ADAPTERS: dict[str, Callable[..., LabelSet]] = {
    "deepfashion": label_deepfashion,
    "product_images": label_product_images,
    "clothing_full": label_clothing_full,
    "fashion_mnist": fashion_mnist_labels,
}


def label_dataset(dataset: str, data_dir: Path | None, **options: Any) -> LabelSet:
    """Run the adapter named ``dataset`` over ``data_dir``."""
    if dataset not in ADAPTERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(ADAPTERS)}")
    return ADAPTERS[dataset](data_dir, **options)


__all__ = ["ADAPTERS", "LabelSet", "Report", "label_dataset", "summarize_report"]
