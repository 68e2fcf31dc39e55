"""Two Kaggle clothing sets: Fashion Product Images (Small) and clothing-dataset-full.

``product_images``: ``styles.csv`` + ``images/<id>.jpg`` (unquoted commas in display names joined
back; a row whose columns shifted is skipped). ``clothing_full``: ``images.csv`` + the images folder
holding most listed images, split by contributor (``sender_id``). Bad or repeated ids are reported.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from helpers.data.checks import check_images, identical_files
from helpers.data.labelset import (
    GROUP_COLUMN,
    LabelSet,
    Report,
    drop_rare_classes,
    merge_label_variants,
)
from helpers.data.splits import DEFAULT_FRACTIONS, grouped_split, groups_in_several_splits
from helpers.data.text import read_csv_table, read_text
from helpers.errors import AnnotationError

STYLES_COLUMNS = [
    "id", "gender", "masterCategory", "subCategory", "articleType",
    "baseColour", "season", "year", "usage", "productDisplayName",
]  # fmt: skip
GENDERS = {"Men", "Women", "Boys", "Girls", "Unisex"}
SEASONS = {"Fall", "Summer", "Winter", "Spring", ""}
CLOTHING_FULL_COLUMNS = ["image", "sender_id", "label", "kids"]
CLOTHING_FULL_DROPPED = ("Not sure", "Skip", "Other")
# GitHub's layout (alexeygrigorev/clothing-dataset) first, then Kaggle's two copies.
CLOTHING_FULL_FOLDERS = ("images", "images_compressed", "images_original")
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def read_styles(path: Path, report: Report) -> pd.DataFrame:
    """``styles.csv`` rows, display names with commas put back together; shifted rows skipped."""
    reader = csv.reader(io.StringIO(read_text(path)))
    header = next(reader, None)
    if header is None or [h.strip() for h in header[: len(STYLES_COLUMNS)]] != STYLES_COLUMNS:
        expected = ",".join(STYLES_COLUMNS)
        raise AnnotationError(f"{path}:1", f"expected the header {expected}, got {header}")
    last = len(STYLES_COLUMNS) - 1
    rows = []
    for number, fields in enumerate(reader, start=2):
        if not fields:
            continue
        where = f"{path.name}:{number}"
        if len(fields) < last:
            report.skip(where, "bad-row", f"{len(fields)} fields, expected {len(STYLES_COLUMNS)}")
            continue
        gender, season, year = fields[1].strip(), fields[6].strip(), fields[7].strip()
        if not (gender in GENDERS and season in SEASONS and (year == "" or year.isdigit())):
            report.skip(
                where, "bad-row",
                f"{len(fields)} fields and gender/season/year out of place: an unquoted comma "
                "before productDisplayName shifts the columns",
            )  # fmt: skip
            continue
        rows.append([*fields[:last], ",".join(fields[last:])])
    return pd.DataFrame(rows, columns=STYLES_COLUMNS)


def label_product_images(
    data_dir: Path, label_column: str = "articleType", min_images: int = 1,
    fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0, check_files: bool = True,
) -> LabelSet:  # fmt: skip
    """Labels table of Fashion Product Images (Small); each product id is its own group."""
    root = Path(data_dir)
    choices = STYLES_COLUMNS[1:-1]
    if label_column not in choices:
        raise ValueError(f"label_column must be one of {choices}, got {label_column!r}")
    report = Report()
    styles = read_styles(root / "styles.csv", report)
    table = pd.DataFrame(
        {"id": styles["id"].str.strip(), "label": styles[label_column].str.strip()}
    ).assign(path=lambda t: "images/" + t["id"] + ".jpg")
    table = _plain_ids(table, report, "styles.csv", digits=True)
    return _finish(
        table, report, root, "styles.csv", "product_images", (), min_images, fractions, seed,
        check_files,
    )  # fmt: skip


def label_clothing_full(
    data_dir: Path, dropped_labels: Iterable[str] = CLOTHING_FULL_DROPPED, min_images: int = 1,
    fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0, check_files: bool = True,
) -> LabelSet:  # fmt: skip
    """Labels table of clothing-dataset-full; ``dropped_labels`` are removed (and reported)."""
    root = Path(data_dir)
    folders = [f for f in CLOTHING_FULL_FOLDERS if (root / f).is_dir()]
    if not folders:
        raise AnnotationError(root, f"neither {' nor '.join(CLOTHING_FULL_FOLDERS)} exists")
    listed = read_csv_table(root / "images.csv", CLOTHING_FULL_COLUMNS)
    report = Report()
    table = pd.DataFrame({
        "id": listed["image"].str.strip(),
        "label": listed["label"].str.strip(),
        GROUP_COLUMN: listed["sender_id"].str.strip(),
    })  # fmt: skip
    table[GROUP_COLUMN] = table[GROUP_COLUMN].where(
        table[GROUP_COLUMN] != "", "photo:" + table["id"]
    )
    table = _plain_ids(table, report, "images.csv", digits=False)
    folder = max(folders, key=lambda f: sum((root / f / f"{i}.jpg").is_file() for i in table["id"]))
    if len(folders) > 1:
        chosen = f"holds the most listed images of {', '.join(folders)}"
        report.keep(folder, "folder-chosen", chosen)
    table = table.assign(path=folder + "/" + table["id"] + ".jpg")
    return _finish(
        table, report, root, "images.csv", "clothing_full", tuple(dropped_labels), min_images,
        fractions, seed, check_files,
    )  # fmt: skip


def _plain_ids(table: pd.DataFrame, report: Report, source: str, digits: bool) -> pd.DataFrame:
    """Rows whose id is a plain file name (digits only for styles.csv); the rest reported."""
    valid = table["id"].map(lambda i: i.isdigit() if digits else bool(PLAIN_NAME.match(i)))
    valid = valid.astype(bool)  # an empty object Series would select columns, not rows
    for bad in table.loc[~valid, "id"]:
        kind = "a number" if digits else "a plain file name"
        report.skip(source, "bad-id", f"id {bad!r} is not {kind}: not used as a path")
    return table.loc[valid]


def _finish(
    table: pd.DataFrame, report: Report, root: Path, source: str, dataset: str,
    dropped_labels: tuple[str, ...], min_images: int, fractions: Sequence[float], seed: int,
    check_files: bool,
) -> LabelSet:  # fmt: skip
    """Shared steps: empty and dropped labels, duplicate ids, bad files, rare classes, split."""
    empty = table["label"] == ""
    for path in table.loc[empty, "path"]:
        report.skip(path, "no-label", f"empty label in {source}")
    table = table[~empty]
    dropped = table["label"].str.casefold().isin({label.casefold() for label in dropped_labels})
    notes = []
    if dropped.any():
        counts = table.loc[dropped, "label"].value_counts().sort_index()
        for label, count in counts.items():
            report.skip(source, "dropped-label", f"{count} rows labelled {label!r}")
        notes.append(f"not classes, dropped: {', '.join(map(repr, counts.index))}")
    table = merge_label_variants(table[~dropped], notes)
    table = _deduplicate(table, report, source)
    table = _keep_existing_images(table, root, report, source, check_files)
    table = drop_rare_classes(table, min_images, report, source)
    grouped = GROUP_COLUMN in table.columns
    keys = table[GROUP_COLUMN] if grouped else table["id"]
    split = grouped_split(keys, table["label"], fractions, seed) if len(table) else []
    table = table.assign(split=list(split))
    if check_files:
        notes += identical_files(table, root, report)
    if grouped:
        spanning = groups_in_several_splits(keys, table["split"])
        how = f"{keys.nunique()} contributors, {len(spanning)} in more than one split"
        notes.insert(0, f"split grouped by contributor (sender_id): {how}")
    columns = ["path", "label", "split", *([GROUP_COLUMN] if grouped else [])]
    classes = sorted(table["label"].unique())
    return LabelSet(table[columns], classes, report.frame(), root, dataset, notes)


def _deduplicate(table: pd.DataFrame, report: Report, source: str) -> pd.DataFrame:
    """One row per id: repeated rows that agree are merged, rows that disagree are all dropped."""
    repeated = table[table["id"].duplicated(keep=False)]
    conflicting = set()
    for identifier, rows in repeated.groupby("id"):
        labels = sorted(set(rows["label"]))
        first = rows["path"].iloc[0]
        if len(labels) > 1:
            conflicting.add(identifier)
            why = f"id {identifier} is listed as {' and '.join(labels)} in {source}"
            report.skip(first, "conflicting-labels", why)
        else:
            why = f"id {identifier} is listed {len(rows)} times in {source}"
            report.keep(first, "duplicate-id", why)
    table = table[~table["id"].isin(conflicting)]
    return table.drop_duplicates("id")


def _keep_existing_images(
    table: pd.DataFrame, root: Path, report: Report, source: str, check_files: bool
) -> pd.DataFrame:
    exists = table["path"].map(lambda p: (root / p).is_file()).astype(bool)
    for path in table.loc[~exists, "path"]:
        if (root / path).exists():  # a folder or a FIFO: never opened
            report.skip(path, "not-a-regular-file", f"listed in {source}; not a file")
        else:
            report.skip(path, "missing-file", f"listed in {source} but not on disk")
    table = table.loc[exists]
    boundary = root.resolve()
    inside = table["path"].map(lambda p: (root / p).resolve().is_relative_to(boundary)).astype(bool)
    for path in table.loc[~inside, "path"]:
        where = f"a link to {(root / path).resolve()}, outside {boundary}"
        report.skip(path, "outside-data-folder", where)
    table = table.loc[inside]
    if check_files and len(table):
        table = table[check_images([root / p for p in table["path"]], report, root)]
    return table.reset_index(drop=True)
