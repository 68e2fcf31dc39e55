"""A user's own photos: one folder per class, optionally under split folders.

Two layouts, the convention of Keras ``image_dataset_from_directory``,
torchvision ``ImageFolder`` and fastai ``ImageDataLoaders.from_folder``::

    root/<class>/<image>                      # split here, stratified by class
    root/<split>/<class>/<image>              # split from the folders

Split folders are ``train``, ``validation``/``val``/``valid`` and ``test`` (any
case). A missing validation (or test) folder is carved from ``train``, said in
one note. Class names are the folder names. When a table of groups is known
(``groups``: a CSV with an ``image`` column and a ``sender_id`` or ``group``
column, such as the clothing dataset's ``images.csv``; found automatically as
``images.csv`` or ``photos.csv`` in the data folder), every photo carries its group, carved and
computed splits keep each group whole, and the notes say how many groups the
folders' own split puts on both sides. ``split="grouped"`` ignores the folders'
split and makes a group-disjoint one. Hidden files, stray files, folders deeper
than the layout and links that leave the data folder are reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.checks import check_images, folder_entries, visible_entries
from helpers.data.labelset import GROUP_COLUMN, SPLITS, LabelSet, Report
from helpers.data.splits import DEFAULT_FRACTIONS, grouped_split, groups_in_several_splits
from helpers.data.text import read_csv_table
from helpers.errors import AnnotationError, InputError

SPLIT_FOLDERS = {
    "train": "train",
    "validation": "val",
    "val": "val",
    "valid": "val",
    "test": "test",
}
# Tables of photo ids and contributors found beside the class folders: the clothing dataset's
# images.csv, and the embedded photos' own photos.csv.
GROUPS_FILES = ("images.csv", "photos.csv")
GROUP_COLUMNS = ("sender_id", "group")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def label_folders(
    data_dir: Path,
    split: str = "auto",
    groups: Path | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    check_files: bool = True,
) -> LabelSet:
    """Labels of a folder-per-class tree (see the module docstring).

    ``split``: ``official`` (the split folders; an error without them), ``grouped``
    (computed, group-disjoint) or ``auto`` (the folders' own when present).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(root, "no such folder")
    if split not in {"auto", "official", "grouped"}:
        raise ValueError(f"split must be 'auto', 'official' or 'grouped', got {split!r}")
    report = Report()
    rows, split_layout = _scan(root, report)
    if split == "official" and not split_layout:
        raise InputError(root, "no train/validation/test folders: use split='grouped' or 'auto'")
    table = pd.DataFrame(rows, columns=["path", "label", "split"])
    if check_files and len(table):
        table = table[check_images([root / p for p in table["path"]], report, root)]
    table = table.reset_index(drop=True)
    notes: list[str] = []
    group_of = _read_groups(groups, root, report, notes)
    if group_of is not None:
        table[GROUP_COLUMN] = _groups_of(table["path"], group_of)
    groups_known = group_of is not None
    keys = table[GROUP_COLUMN] if groups_known else table["path"]
    if split_layout and split != "grouped":
        table["split"] = _carve_missing(table, keys, fractions, seed, notes)
        if groups_known:
            spanning = groups_in_several_splits(table[GROUP_COLUMN], table["split"])
            notes.append(
                f"{len(spanning)} of {table[GROUP_COLUMN].nunique()} groups have photos in more "
                "than one of the folders' splits (the split is not group-disjoint; "
                "split='grouped' makes one that is)"
            )
    else:
        table["split"] = (
            grouped_split(keys, table["label"], fractions, seed).to_numpy() if len(table) else []
        )
        how = (
            f"grouped by {table[GROUP_COLUMN].nunique()} groups"
            if groups_known
            else "image by image"
        )
        notes.append(f"split computed: stratified by class, {how}")
    classes = sorted(table["label"].unique())
    return LabelSet(table, classes, report.frame(), root, "folders", notes)


def _scan(root: Path, report: Report) -> tuple[list[tuple[str, str, str]], bool]:
    """``(path, label, split)`` of every candidate file and whether split folders were found."""
    boundary = root.resolve()
    top = list(visible_entries(folder_entries(root, root, report), root, boundary, report))
    split_dirs = [(e, rel) for e, rel in top if e.is_dir() and e.name.casefold() in SPLIT_FOLDERS]
    rows: list[tuple[str, str, str]] = []
    if split_dirs:
        for entry, rel in top:
            if (entry, rel) in split_dirs:
                continue
            issue = "not-a-split-folder" if entry.is_dir() else "stray-file"
            report.skip(
                rel, issue, "beside the split folders; not train, validation, val, valid or test"
            )
        for entry, _ in split_dirs:
            split = SPLIT_FOLDERS[entry.name.casefold()]
            rows += _class_folders(Path(entry.path), root, boundary, report, split)
    else:
        rows = _class_folders(root, root, boundary, report, "")
    return rows, bool(split_dirs)


def _class_folders(
    folder: Path, root: Path, boundary: Path, report: Report, split: str
) -> list[tuple[str, str, str]]:
    """Files of each class folder directly under ``folder``; deeper folders and stray files reported."""
    rows = []
    for entry, rel in visible_entries(folder_entries(folder, root, report), root, boundary, report):
        if not entry.is_dir():
            if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                report.skip(rel, "not-in-class-folder", "an image outside any class folder")
            elif folder != root:
                report.skip(rel, "stray-file", "not inside a class folder")
            else:  # README, LICENSE, images.csv beside the class folders
                report.skip(rel, "stray-file", "not an image folder")
            continue
        found = 0
        entries = folder_entries(Path(entry.path), root, report)
        for item, item_rel in visible_entries(entries, root, boundary, report):
            if item.is_dir():
                report.skip(
                    item_rel, "unexpected-subfolder", f"a folder inside class folder {entry.name!r}"
                )
            else:
                rows.append((item_rel, entry.name, split))
                found += 1
        if not found and entries is not None:
            report.skip(rel, "empty-folder", "class folder holds no files")
    return rows


def _read_groups(
    groups: Path | None, root: Path, report: Report, notes: list[str]
) -> dict[str, str] | None:
    """``{photo id or relative path: group}`` from ``groups`` (or ``images.csv`` in ``root``), or None."""
    found = [root / name for name in GROUPS_FILES if (root / name).is_file()]
    path = Path(groups) if groups else (found[0] if found else None)
    if path is None:
        return None
    if not path.is_file():
        raise InputError(path, "no such groups file")
    table = read_csv_table(path, ["image"])
    column = next((c for c in GROUP_COLUMNS if c in table.columns), None)
    if column is None:
        raise AnnotationError(path, f"needs a column {' or '.join(GROUP_COLUMNS)} beside image")
    notes.append(f"groups from {path} (column {column!r})")
    keys = table["image"].str.strip()
    return dict(zip(keys, table[column].str.strip(), strict=True))


def _groups_of(paths: pd.Series, group_of: dict[str, str]) -> pd.Series:
    """Each path's group, looked up by relative path then by file stem; unknown photos are their own."""

    def lookup(path: str) -> str:
        stem = Path(path).stem
        return group_of.get(path) or group_of.get(stem) or f"photo:{path}"

    return paths.map(lookup)


def _carve_missing(
    table: pd.DataFrame, keys: pd.Series, fractions: Sequence[float], seed: int, notes: list[str]
) -> np.ndarray:
    """The folders' splits, with val (and test) carved from train when their folder is missing."""
    splits = table["split"].to_numpy().copy()
    missing = [s for s in SPLITS[1:] if s not in set(splits)]
    if not missing or "train" not in set(splits):
        return splits
    train = np.flatnonzero(splits == "train")
    share = dict(zip(SPLITS, fractions, strict=True))
    wanted = (1.0 - sum(share[s] for s in missing), *(share[s] for s in missing))
    names = ("train", *missing)
    carved = grouped_split(
        keys.iloc[train], table["label"].iloc[train], _three(names, wanted), seed
    ).to_numpy()
    splits[train] = carved
    for name in missing:
        notes.append(
            f"no {'validation' if name == 'val' else name} folder: {int((carved == name).sum())} "
            f"images carved from train as {name}"
        )
    return splits


def _three(names: Sequence[str], shares: Sequence[float]) -> tuple[float, float, float]:
    """Fractions in SPLITS order for a carve into ``names`` (the others get none)."""
    total = sum(shares)
    by_name = {n: s / total for n, s in zip(names, shares, strict=True)}
    return tuple(by_name.get(s, 0.0) for s in SPLITS)  # type: ignore[return-value]
