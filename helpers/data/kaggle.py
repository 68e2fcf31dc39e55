"""Two Kaggle clothing sets: Fashion Product Images (Small) and clothing-dataset-full.

* ``product_images``: ``styles.csv`` (id, gender, masterCategory, subCategory,
  articleType, baseColour, season, year, usage, productDisplayName) and
  ``images/<id>.jpg``. Some display names hold unquoted commas, which break a
  plain CSV reader: the extra fields are joined back into the name when the
  other columns still read as they should (gender, season and year from their
  known values); a comma in an earlier field would shift every column after it,
  so such a row is skipped and reported rather than mislabelled.
* ``clothing_full``: ``images.csv`` (image, sender_id, label, kids) and
  ``images/<image>.jpg`` (as published on GitHub) or Kaggle's
  ``images_compressed/`` or ``images_original/`` — the folder holding more of the
  listed images is used. ``sender_id`` is the contributor: the split keeps each
  contributor's photos in one split (one person photographed many garments,
  some several times), and the table carries it as ``group``.

Ids must be plain names (digits for ``styles.csv``): ``abc`` or ``../styles``
are reported, never used as paths. An id listed twice keeps one row when the
labels agree and drops both (reported) when they do not. Files are UTF-8 (a
byte-order mark is fine); anything unreadable is refused naming the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.data.checks import check_images
from helpers.data.labelset import GROUP_COLUMN, LabelSet, Report
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
TABLE = ["path", "label", "id"]


def _columns_read_right(fields: list[str]) -> bool:
    """Whether a styles row's gender, season and year are where they belong."""
    gender, season, year = fields[1].strip(), fields[6].strip(), fields[7].strip()
    return gender in GENDERS and season in SEASONS and (year == "" or year.isdigit())


def read_styles(path: Path, report: Report) -> pd.DataFrame:
    """``styles.csv`` rows, display names with commas put back together; shifted rows skipped."""
    reader = csv.reader(io.StringIO(read_text(path)))
    header = next(reader, None)
    if header is None or [h.strip() for h in header[: len(STYLES_COLUMNS)]] != STYLES_COLUMNS:
        raise AnnotationError(
            f"{path}:1", f"expected the header {','.join(STYLES_COLUMNS)}, got {header}"
        )
    last = len(STYLES_COLUMNS) - 1
    rows = []
    for number, fields in enumerate(reader, start=2):
        if not fields:
            continue
        where = f"{path.name}:{number}"
        if len(fields) < last:
            report.skip(where, "bad-row", f"{len(fields)} fields, expected {len(STYLES_COLUMNS)}")
            continue
        if not _columns_read_right(fields):
            report.skip(
                where, "bad-row",
                f"{len(fields)} fields and gender/season/year out of place: an unquoted comma "
                "before productDisplayName shifts the columns",
            )  # fmt: skip
            continue
        rows.append([*fields[:last], ",".join(fields[last:])])
    return pd.DataFrame(rows, columns=STYLES_COLUMNS)


def read_images_csv(path: Path) -> pd.DataFrame:
    """``images.csv`` as text columns, or an AnnotationError naming the file and the problem."""
    return read_csv_table(path, CLOTHING_FULL_COLUMNS)


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
        raise ValueError(
            f"label_column must be one of {STYLES_COLUMNS[1:-1]}, got {label_column!r}"
        )
    report = Report()
    styles = read_styles(root / "styles.csv", report)
    table = pd.DataFrame(
        {"id": styles["id"].str.strip(), "label": styles[label_column].str.strip()}
    ).assign(path=lambda t: "images/" + t["id"] + ".jpg")
    table = _plain_ids(table, report, "styles.csv", digits=True)
    listing = Listing(
        root, "styles.csv", "product_images", (), min_images, fractions, seed, check_files
    )
    return _finish(table, report, listing)


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
    folders = [f for f in CLOTHING_FULL_FOLDERS if (root / f).is_dir()]
    if not folders:
        raise AnnotationError(root, f"neither {' nor '.join(CLOTHING_FULL_FOLDERS)} exists")
    listed = read_images_csv(root / "images.csv")
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
        report.keep(
            folder, "folder-chosen", f"holds the most listed images of {', '.join(folders)}"
        )
    table = table.assign(path=folder + "/" + table["id"] + ".jpg")
    listing = Listing(
        root, "images.csv", "clothing_full", tuple(dropped_labels), min_images, fractions, seed,
        check_files,
    )  # fmt: skip
    return _finish(table, report, listing)


def _plain_ids(table: pd.DataFrame, report: Report, source: str, digits: bool) -> pd.DataFrame:
    """Rows whose id is a plain file name (digits only for styles.csv); the rest reported."""
    valid = table["id"].map(lambda i: i.isdigit() if digits else bool(PLAIN_NAME.match(i)))
    valid = valid.astype(bool)  # an empty object Series would select columns, not rows
    for bad in table.loc[~valid, "id"]:
        kind = "a number" if digits else "a plain file name"
        report.skip(source, "bad-id", f"id {bad!r} is not {kind}: not used as a path")
    return table.loc[valid]


@dataclass(frozen=True)
class Listing:
    """Where a Kaggle table came from (its folder, its CSV, the dataset) and how to clean it."""

    root: Path
    source: str
    dataset: str
    dropped_labels: tuple[str, ...] = ()
    min_images: int = 1
    fractions: Sequence[float] = DEFAULT_FRACTIONS
    seed: int = 0
    check_files: bool = True


def _finish(table: pd.DataFrame, report: Report, listing: Listing) -> LabelSet:
    """Shared steps: empty labels, dropped labels, duplicate ids, missing and bad files, rare classes, split."""
    root, source, dropped_labels = listing.root, listing.source, listing.dropped_labels
    min_images, fractions, seed = listing.min_images, listing.fractions, listing.seed
    check_files, dataset = listing.check_files, listing.dataset
    table = _drop_unlabeled(table, report, source)
    dropped = table["label"].isin(set(dropped_labels))
    for label, count in table.loc[dropped, "label"].value_counts().sort_index().items():
        report.skip(source, "dropped-label", f"{count} rows labelled {label!r}")
    table = _deduplicate(table[~dropped], report, source)
    table = _keep_existing_images(table, root, report, source, check_files)
    table = _drop_rare(table, min_images, report, source)
    grouped = GROUP_COLUMN in table.columns
    keys = table[GROUP_COLUMN] if grouped else table["id"]
    split = grouped_split(keys, table["label"], fractions, seed) if len(table) else []
    table = table.assign(split=list(split))
    notes = []
    if grouped:
        spanning = groups_in_several_splits(keys, table["split"])
        notes.append(
            f"split grouped by contributor (sender_id): {keys.nunique()} contributors, "
            f"{len(spanning)} in more than one split"
        )
    columns = ["path", "label", "split", *([GROUP_COLUMN] if grouped else [])]
    classes = sorted(table["label"].unique())
    return LabelSet(table[columns], classes, report.frame(), root, dataset, notes)


def _drop_unlabeled(table: pd.DataFrame, report: Report, source: str) -> pd.DataFrame:
    empty = table["label"] == ""
    for path in table.loc[empty, "path"]:
        report.skip(path, "no-label", f"empty label in {source}")
    return table[~empty]


def _deduplicate(table: pd.DataFrame, report: Report, source: str) -> pd.DataFrame:
    """One row per id: repeated rows that agree are merged, rows that disagree are all dropped."""
    repeated = table[table["id"].duplicated(keep=False)]
    conflicting = set()
    for identifier, rows in repeated.groupby("id"):
        labels = sorted(set(rows["label"]))
        if len(labels) > 1:
            conflicting.add(identifier)
            report.skip(
                rows["path"].iloc[0],
                "conflicting-labels",
                f"id {identifier} is listed as {' and '.join(labels)} in {source}",
            )
        else:
            report.keep(
                rows["path"].iloc[0],
                "duplicate-id",
                f"id {identifier} is listed {len(rows)} times in {source}",
            )
    table = table[~table["id"].isin(conflicting)]
    return table.drop_duplicates("id")


def _keep_existing_images(
    table: pd.DataFrame, root: Path, report: Report, source: str, check_files: bool
) -> pd.DataFrame:
    exists = table["path"].map(lambda p: (root / p).is_file()).astype(bool)
    for path in table.loc[~exists, "path"]:
        report.skip(path, "missing-file", f"listed in {source} but not on disk")
    table = table.loc[exists]
    boundary = root.resolve()
    inside = table["path"].map(lambda p: (root / p).resolve().is_relative_to(boundary)).astype(bool)
    for path in table.loc[~inside, "path"]:
        report.skip(
            path, "outside-data-folder", f"a link to {(root / path).resolve()}, outside {boundary}"
        )
    table = table.loc[inside]
    if check_files and len(table):
        table = table[check_images([root / p for p in table["path"]], report, root)]
    return table.reset_index(drop=True)


def _drop_rare(table: pd.DataFrame, min_images: int, report: Report, source: str) -> pd.DataFrame:
    counts = table["label"].value_counts()
    rare = counts[counts < min_images]
    for label, count in rare.sort_index().items():
        report.skip(source, "rare-class", f"{label!r} has {count} images, fewer than {min_images}")
    return table[~table["label"].isin(rare.index)].reset_index(drop=True)
