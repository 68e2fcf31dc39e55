"""Two Kaggle clothing sets: Fashion Product Images (Small) and clothing-dataset-full.

* ``product_images``: ``styles.csv`` (id, gender, masterCategory, subCategory,
  articleType, baseColour, season, year, usage, productDisplayName) and
  ``images/<id>.jpg``. Some display names hold unquoted commas, which break a
  plain CSV reader; the extra fields are joined back into the name.
* ``clothing_full``: ``images.csv`` (image, sender_id, label, kids) and
  ``images_compressed/<image>.jpg`` or ``images_original/<image>.jpg``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from helpers.data.checks import check_images
from helpers.data.labelset import LabelSet, Report
from helpers.data.splits import DEFAULT_FRACTIONS, grouped_split

STYLES_COLUMNS = [
    "id", "gender", "masterCategory", "subCategory", "articleType",
    "baseColour", "season", "year", "usage", "productDisplayName",
]
CLOTHING_FULL_COLUMNS = ["image", "sender_id", "label", "kids"]
CLOTHING_FULL_DROPPED = ("Not sure", "Skip", "Other")
CLOTHING_FULL_FOLDERS = ("images_compressed", "images_original")


def read_styles(path: Path, report: Report) -> pd.DataFrame:
    """``styles.csv`` with display names that contain commas put back together."""
    rows = []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[: len(STYLES_COLUMNS)]] != STYLES_COLUMNS:
            raise ValueError(f"{path}:1: expected the header {','.join(STYLES_COLUMNS)}, got {header}")
        last = len(STYLES_COLUMNS) - 1
        for number, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) < last:
                report.skip(f"{path.name}:{number}", "bad-row", f"{len(fields)} fields, expected {len(STYLES_COLUMNS)}")
                continue
            rows.append([*fields[:last], ",".join(fields[last:])])
    return pd.DataFrame(rows, columns=STYLES_COLUMNS)


def label_product_images(
    data_dir: Path,
    label_column: str = "articleType",
    min_images: int = 1,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    check_files: bool = True,
) -> LabelSet:
    """Labels table of Fashion Product Images (Small); each product id is its own group."""
    root = Path(data_dir)
    if label_column not in STYLES_COLUMNS[1:-1]:
        raise ValueError(f"label_column must be one of {STYLES_COLUMNS[1:-1]}, got {label_column!r}")
    report = Report()
    styles = read_styles(root / "styles.csv", report)
    styles = styles.assign(path="images/" + styles["id"].str.strip() + ".jpg", label=styles[label_column].str.strip())
    styles = _drop_unlabeled(styles, report, "styles.csv")
    styles = _keep_existing_images(styles, root, report, "styles.csv", check_files)
    styles = _drop_rare(styles, min_images, report, "styles.csv")
    styles = styles.assign(split=grouped_split(styles["id"], styles["label"], fractions, seed).values)
    return LabelSet(styles, sorted(styles["label"].unique()), report.frame(), root, "product_images")


def label_clothing_full(
    data_dir: Path,
    dropped_labels: Iterable[str] = CLOTHING_FULL_DROPPED,
    min_images: int = 1,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    check_files: bool = True,
) -> LabelSet:
    """Labels table of clothing-dataset-full; ``dropped_labels`` are removed (and reported)."""
    root = Path(data_dir)
    folder = next((f for f in CLOTHING_FULL_FOLDERS if (root / f).is_dir()), None)
    if folder is None:
        raise FileNotFoundError(f"{root}: neither {' nor '.join(CLOTHING_FULL_FOLDERS)} exists")
    table = pd.read_csv(root / "images.csv", dtype=str, keep_default_na=False)
    missing = set(CLOTHING_FULL_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{root / 'images.csv'}: missing columns {sorted(missing)}")
    report = Report()
    table = table.assign(path=folder + "/" + table["image"].str.strip() + ".jpg", label=table["label"].str.strip())
    table = _drop_unlabeled(table, report, "images.csv")
    dropped = table["label"].isin(set(dropped_labels))
    for label, count in table.loc[dropped, "label"].value_counts().sort_index().items():
        report.skip("images.csv", "dropped-label", f"{count} rows labelled {label!r}")
    table = _keep_existing_images(table[~dropped], root, report, "images.csv", check_files)
    table = _drop_rare(table, min_images, report, "images.csv")
    table = table.assign(split=grouped_split(table["image"], table["label"], fractions, seed).values)
    return LabelSet(table, sorted(table["label"].unique()), report.frame(), root, "clothing_full")


def _drop_unlabeled(table: pd.DataFrame, report: Report, source: str) -> pd.DataFrame:
    empty = table["label"] == ""
    for path in table.loc[empty, "path"]:
        report.skip(path, "no-label", f"empty label in {source}")
    return table[~empty]


def _keep_existing_images(
    table: pd.DataFrame, root: Path, report: Report, source: str, check_files: bool
) -> pd.DataFrame:
    exists = table["path"].map(lambda p: (root / p).is_file())
    for path in table.loc[~exists, "path"]:
        report.skip(path, "missing-file", f"listed in {source} but not on disk")
    table = table[exists]
    if check_files:
        table = table[check_images([root / p for p in table["path"]], report, root)]
    return table.reset_index(drop=True)


def _drop_rare(table: pd.DataFrame, min_images: int, report: Report, source: str) -> pd.DataFrame:
    counts = table["label"].value_counts()
    rare = counts[counts < min_images]
    for label, count in rare.sort_index().items():
        report.skip(source, "rare-class", f"{label!r} has {count} images, fewer than {min_images}")
    return table[~table["label"].isin(rare.index)].reset_index(drop=True)
