"""DeepFashion (Category and Attribute Prediction benchmark): labels from folder names or annotations.

A folder's label is the text after its last ``_`` (``Reindeer_Pattern_Sweater`` -> ``Sweater``),
matched to the benchmark's 50 names ignoring case and white space; other spellings are merged.
Every repair is reported (duplicated names or rows, encodings, links leaving the data folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.data.checks import check_images, relative
from helpers.data.deepfashion.layout import (
    CATEGORY_CLOTH,
    CATEGORY_IMG,
    EVAL_PARTITION,
    LAYOUTS,
    OFFICIAL_CATEGORIES,
    Location,
    locate,
)
from helpers.data.deepfashion.lists import (
    Annotations,
    read_categories,
    read_image_categories,
    read_partition,
)
from helpers.data.deepfashion.scan import folder_label, normalise_folder_labels, scan_images
from helpers.data.labelset import LabelSet, Report
from helpers.data.splits import DEFAULT_FRACTIONS, grouped_split, groups_in_several_splits
from helpers.errors import InputError

__all__ = [
    "CATEGORY_CLOTH",
    "CATEGORY_IMG",
    "EVAL_PARTITION",
    "LAYOUTS",
    "OFFICIAL_CATEGORIES",
    "folder_label",
    "label_deepfashion",
]


def label_deepfashion(
    data_dir: Path,
    source: str = "auto",
    split: str = "auto",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    check_files: bool = True,
) -> LabelSet:
    """The labels table of a DeepFashion copy, labelled by ``source`` (``folders``, ``annotations``
    or ``auto``: annotations when present) and split by ``split`` (``official``, ``grouped`` by
    product, or ``auto``: official when present); disagreements are reported either way."""
    location = locate(data_dir)
    report = Report()
    annotated = location.annotations is not None and (location.annotations / CATEGORY_IMG).is_file()
    if source == "auto":
        source = "annotations" if annotated else "folders"
    if source not in {"folders", "annotations"}:
        raise ValueError(f"source must be 'folders', 'annotations' or 'auto', got {source!r}")
    if source == "annotations" and not annotated:
        raise InputError(
            location.root / LAYOUTS[location.layout].annotations / CATEGORY_IMG,
            "not found; use source='folders'",
        )
    files = scan_images(location, report)
    has_cloth = (
        location.annotations is not None and (location.annotations / CATEGORY_CLOTH).is_file()
    )
    categories = read_categories(location, report) if has_cloth else []
    if annotated and not categories:  # ids without their names: the benchmark's own list
        why = "not found: the benchmark's official 50-category list is used for the category ids"
        report.keep(location.rel(location.annotations / CATEGORY_CLOTH), "missing-file", why)
        categories = list(OFFICIAL_CATEGORIES)
    known = {name for name, _ in categories}
    annotation = (
        read_image_categories(location, categories, report) if annotated else Annotations({}, {})
    )
    on_disk = {relative(f, location.image_root) for f in files}
    listed_name = location.rel(location.annotations / CATEGORY_IMG) if annotated else ""
    for rel in sorted(set(annotation.labels) - on_disk):
        report.skip(rel, "missing-file", f"listed in {listed_name} but not on disk")
    usable = (
        check_images(files, report, location.image_root) if check_files else [True] * len(files)
    )
    folder_labels = normalise_folder_labels(sorted({f.parent.name for f in files}), report)
    choose = LabelChooser(source, known, annotated, annotation, listed_name, report)
    rows = []
    for path, ok in zip(files, usable, strict=True):
        if ok:
            rel = relative(path, location.image_root)
            label = choose(rel, folder_labels[path.parent.name])
            if label is not None:
                rows.append({"path": rel, "label": label, "product": path.parent.name})

    table = pd.DataFrame(rows, columns=["path", "label", "product"])
    table = _assign_splits(table, location, split, fractions, seed, report)
    order = [name for name, _ in categories] if categories else sorted(table["label"].unique())
    present = set(table["label"])
    classes = [c for c in dict.fromkeys(order) if c in present]
    return LabelSet(
        table=table,
        classes=classes,
        report=report.frame(),
        root=location.image_root,
        dataset="deepfashion",
        notes=[location.describe()],
    )


@dataclass
class LabelChooser:
    """The label of one image under ``source``, reporting every disagreement or gap."""

    source: str
    known: set[str]
    annotated: bool
    annotation: Annotations
    listed_name: str
    report: Report

    def __call__(self, rel: str, from_folder: str | None) -> str | None:
        report = self.report
        if rel in self.annotation.conflicts:
            if self.source == "annotations":
                report.skip(rel, "conflicting-labels", self.annotation.conflicts[rel])
                return None
            report.keep(
                rel, "conflicting-labels", self.annotation.conflicts[rel] + "; folder label used"
            )
        from_annotation = self.annotation.labels.get(rel)
        no_suffix, listed = "no-category-in-folder-name", self.listed_name
        if self.source == "folders":
            if from_folder is None:
                report.skip(rel, no_suffix, "folder name has no '_<Category>' suffix")
                return None
            if self.known and from_folder not in self.known:
                why = f"folder suffix {from_folder!r} is not a listed category"
                report.skip(rel, "unknown-category", why)
                return None
            if self.annotated and from_annotation is None and rel not in self.annotation.conflicts:
                report.keep(rel, "not-in-annotations", f"not listed in {listed}; folder label used")
        else:
            if from_annotation is None:
                report.skip(rel, "not-in-annotations", f"not listed in {listed}")
                return None
            if from_folder is None:
                report.keep(rel, no_suffix, "folder name has no '_<Category>'; annotation used")
        used = from_annotation if self.source == "annotations" else from_folder
        if from_folder and from_annotation and from_folder != from_annotation:
            why = f"folder says {from_folder}, annotation says {from_annotation}; using {used}"
            report.keep(rel, "label-disagreement", why)
        return used


def _assign_splits(
    table: pd.DataFrame, location: Location, split: str, fractions, seed: int, report: Report
) -> pd.DataFrame:
    """Official partition when asked or present, else a product-grouped split."""
    if split == "auto":
        split = "official" if location.partition else "grouped"
    if split == "official":
        if not location.partition:
            raise InputError(location.root / EVAL_PARTITION, "not found; use split='grouped'")
        partition = read_partition(location, report)
        table = table.assign(split=table["path"].map(partition))
        listed = location.rel(location.partition)
        for rel in table.loc[table["split"].isna(), "path"]:
            report.skip(rel, "not-in-partition", f"not listed in {listed}")
        table = table.dropna(subset=["split"])
        why = "the official partition puts this product in more than one split"
        for product in groups_in_several_splits(table["product"], table["split"]):
            report.keep(f"img/{product}", "product-in-several-splits", why)
    elif split == "grouped":
        split_of = grouped_split(table["product"], table["label"], fractions, seed)
        table = table.assign(split=split_of.values)
    else:
        raise ValueError(f"split must be 'official', 'grouped' or 'auto', got {split!r}")
    return table
