"""Dataset adapters. Each returns a :class:`LabelSet`: labels table, ordered classes, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.data.labelset import LabelSet, Report, summarize_report


def label_dataset(dataset: str, data_dir: Path | None, **options: Any) -> LabelSet:
    """Run the adapter of the dataset called ``dataset`` over ``data_dir``."""
    from helpers.data.registry import dataset_kind

    return dataset_kind(dataset).label(data_dir, **options)


__all__ = ["LabelSet", "Report", "label_dataset", "summarize_report"]
