"""DeepFashion (Category and Attribute Prediction benchmark): labels from folder names or annotations.

Both official layouts are recognised from the download root (or its ``Img/`` or ``img/`` folder)::

    current:  ROOT/Anno_coarse/list_category_cloth.txt   (also Anno_fine/, README)
              ROOT/Anno_coarse/list_category_img.txt
              ROOT/Eval/list_eval_partition.txt
              ROOT/Img/img/<Words>_<Category>/img_00000001.jpg   (unzipped from Img/img.zip)
    older:    ROOT/Anno/..., ROOT/Eval/..., ROOT/img/<Words>_<Category>/...

List files have a count line, a header line and whitespace-padded rows; image
names in them read ``img/<folder>/<file>``, relative to the folder holding
``img/``, and so are the labels table's paths. Folder-name labels are the text
after the last ``_`` of the image's folder (``Reindeer_Pattern_Sweater`` ->
``Sweater``; ``Button-Down`` stays whole).

Label hygiene, each case reported: a folder suffix is stripped of surrounding
white space and matched to the benchmark's 50 names ignoring case (``tee``,
``TEE`` and ``Tee `` all read ``Tee``); suffixes outside that list are merged
ignoring case under their most common spelling. Duplicated category names,
duplicated image rows (a conflicting one skips the image), a UTF-8 byte-order
mark (accepted) and files that are not UTF-8 (refused, naming the byte) are
reported; symbolic links that leave the data folder, and link loops, are skipped.
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
    OFFICIAL_SPELLING,
    Location,
    locate,
)
from helpers.data.deepfashion.lists import (
    Annotations,
    read_categories,
    read_image_categories,
    read_list_file,
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
    "OFFICIAL_SPELLING",
    "Location",
    "folder_label",
    "label_deepfashion",
    "locate",
    "read_list_file",
]


def label_deepfashion(
    data_dir: Path,
    source: str = "auto",
    split: str = "auto",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    check_files: bool = True,
) -> LabelSet:
    """Build the labels table of a DeepFashion copy.

    ``source``: ``folders`` (label from the folder name), ``annotations``
    (``list_category_img.txt``) or ``auto`` (annotations when present).
    ``split``: ``official`` (``Eval/list_eval_partition.txt``), ``grouped`` (by
    product folder, stratified by label) or ``auto`` (official when present).
    Disagreements between folder names and annotations are reported either way.
    """
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
        report.keep(
            location.rel(location.annotations / CATEGORY_CLOTH),
            "missing-file",
            "not found: the benchmark's official 50-category list is used for the category ids",
        )
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
        if self.source == "folders":
            if from_folder is None:
                report.skip(
                    rel, "no-category-in-folder-name", "folder name has no '_<Category>' suffix"
                )
                return None
            if self.known and from_folder not in self.known:
                report.skip(
                    rel,
                    "unknown-category",
                    f"folder suffix {from_folder!r} is not a listed category",
                )
                return None
            if self.annotated and from_annotation is None and rel not in self.annotation.conflicts:
                report.keep(
                    rel,
                    "not-in-annotations",
                    f"not listed in {self.listed_name}; folder label used",
                )
        else:
            if from_annotation is None:
                report.skip(rel, "not-in-annotations", f"not listed in {self.listed_name}")
                return None
            if from_folder is None:
                report.keep(
                    rel,
                    "no-category-in-folder-name",
                    "folder name has no '_<Category>'; annotation used",
                )
        if from_folder and from_annotation and from_folder != from_annotation:
            used = from_annotation if self.source == "annotations" else from_folder
            report.keep(
                rel,
                "label-disagreement",
                f"folder says {from_folder}, annotation says {from_annotation}; using {used}",
            )
        return from_annotation if self.source == "annotations" else from_folder


def _assign_splits(
    table: pd.DataFrame,
    location: Location,
    split: str,
    fractions: Sequence[float],
    seed: int,
    report: Report,
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
        for product in groups_in_several_splits(table["product"], table["split"]):
            report.keep(
                f"img/{product}",
                "product-in-several-splits",
                "the official partition puts this product in more than one split",
            )
    elif split == "grouped":
        split_of = grouped_split(table["product"], table["label"], fractions, seed)
        table = table.assign(split=split_of.values)
    else:
        raise ValueError(f"split must be 'official', 'grouped' or 'auto', got {split!r}")
    return table
