"""A user's own photos: ``root/<class>/<image>`` or ``root/<split>/<class>/<image>``.

Missing validation/test folders are carved from train; a groups table keeps each contributor whole
in computed splits; hidden, stray, non-UTF-8, escaping-link and byte-identical files are reported,
never guessed; class names that differ only in case or spaces are merged, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.checks import check_images, folder_entries, identical_files, visible_entries
from helpers.data.labelset import (
    GROUP_COLUMN,
    SPLITS,
    LabelSet,
    Report,
    drop_rare_classes,
    merge_label_variants,
)
from helpers.data.splits import (
    DEFAULT_FRACTIONS,
    connected_groups,
    grouped_split,
    groups_in_several_splits,
)
from helpers.data.text import read_csv_table
from helpers.errors import AnnotationError, InputError

SPLIT_FOLDERS = {
    "train": "train",
    "validation": "val",
    "val": "val",
    "valid": "val",
    "test": "test",
}
GROUPS_FILES = ("images.csv", "photos.csv")  # photo ids and contributors beside the class folders
# Near-duplicate pairs (path_a, path_b) from python -m helpers.health: a computed split keeps them
DUPLICATES_FILE = "duplicates.csv"
GROUP_COLUMNS = ("sender_id", "group")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def label_folders(
    data_dir: Path, split: str = "auto", groups: Path | None = None,
    duplicates: Path | None = None, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0,
    check_files: bool = True, min_images: int = 1,
) -> LabelSet:  # fmt: skip
    """Labels of a folder-per-class tree; ``split``: ``official`` (the split folders, required),
    ``grouped`` (computed, group-disjoint) or ``auto`` (the folders' own when present)."""
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
    notes: list[str] = []
    table = merge_label_variants(table.reset_index(drop=True), notes)
    table = drop_rare_classes(table, min_images, report, "class folders")
    group_of = _read_groups(groups, root, report, notes)
    if group_of is not None:
        table[GROUP_COLUMN] = _groups_of(table["path"], *group_of, notes)
    groups_known = group_of is not None
    keys = table[GROUP_COLUMN] if groups_known else table["path"]
    pairs = _duplicate_pairs(duplicates, root, notes)
    if pairs is not None:
        key_of = dict(zip(table["path"], keys, strict=True))
        linked = [(key_of[a], key_of[b]) for a, b in pairs if a in key_of and b in key_of]
        keys = connected_groups(keys, linked)
    if split_layout and split != "grouped":
        table["split"] = _carve_missing(table, keys, fractions, seed, notes)
        if groups_known:
            spanning = groups_in_several_splits(table[GROUP_COLUMN], table["split"])
            notes.append(f"{len(spanning)} of {table[GROUP_COLUMN].nunique()} groups have photos "
                "in more than one of the folders' splits (the split is not group-disjoint; "
                "split='grouped' makes one that is)")  # fmt: skip
        if pairs is not None:
            cut = groups_in_several_splits(keys, table["split"])
            cuts = f"the folders' own split cuts {len(cut)} of {keys.nunique()} groups"
            notes.append(f"{cuts} (with near-duplicates)")
    else:
        table["split"] = (
            grouped_split(keys, table["label"], fractions, seed).to_numpy() if len(table) else []
        )
        grouped = groups_known or pairs is not None
        how = f"grouped by {keys.nunique()} groups" if grouped else "image by image"
        notes.append(f"split computed: stratified by class, {how}")
    if check_files:
        notes += identical_files(table, root, report)
    classes = sorted(table["label"].unique())
    return LabelSet(table, classes, report.frame(), root, "folders", notes)


def _duplicate_pairs(duplicates: Path | None, root: Path, notes: list[str]) -> list | None:
    """``(path_a, path_b)`` pairs of ``duplicates`` (or ``duplicates.csv`` in ``root``), or None."""
    path = Path(duplicates) if duplicates else root / DUPLICATES_FILE
    if not path.is_file():
        if duplicates:
            raise InputError(path, "no such duplicates file")
        return None
    table = read_csv_table(path, ["path_a", "path_b"])
    why = "a computed split keeps them together"
    notes.append(f"{len(table)} near-duplicate pairs from {path}: {why}")
    return list(zip(table["path_a"].str.strip(), table["path_b"].str.strip(), strict=True))


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
            where = "beside the split folders; not train, validation, val, valid or test"
            report.skip(rel, issue, where)
        for entry, _ in split_dirs:
            entries = folder_entries(Path(entry.path), root, report)
            listed = visible_entries(entries, root, boundary, report)
            split = SPLIT_FOLDERS[entry.name.casefold()]
            rows += _class_folders(listed, root, boundary, report, split)
    else:
        rows = _class_folders(top, root, boundary, report, "")
    return rows, bool(split_dirs)


def _class_folders(
    listed, root: Path, boundary: Path, report: Report, split: str
) -> list[tuple[str, str, str]]:
    """Files of each class folder in ``listed``; deeper folders and stray files reported."""
    rows = []
    for entry, rel in listed:
        if not entry.is_dir():
            if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                report.skip(rel, "not-in-class-folder", "an image outside any class folder")
            elif split:
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
) -> tuple[Path, dict[str, str]] | None:
    """The groups file and ``{photo id or relative path: group}``, or None; an id given two groups
    is refused."""
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
    pairs = pd.DataFrame({"image": table["image"].str.strip(), "group": table[column].str.strip()})
    pairs = pairs.drop_duplicates()
    if clashes := pairs["image"][pairs["image"].duplicated()].unique().tolist():
        raise AnnotationError(path, f"ids listed with different groups: {', '.join(clashes[:10])}")
    return path, dict(zip(pairs["image"], pairs["group"], strict=True))


def _groups_of(
    paths: pd.Series, source: Path, group_of: dict[str, str], notes: list[str]
) -> pd.Series:
    """Each path's group, by relative path then by file stem; unknown photos are their own."""
    found = paths.map(lambda p: group_of.get(p) or group_of.get(Path(p).stem) or f"photo:{p}")
    alone = int(found.str.startswith("photo:").sum())
    if alone and alone == len(paths):
        why = f"none of its {len(group_of)} ids is a photo's file name or relative path"
        raise AnnotationError(source, why)
    if alone:
        notes.append(f"{alone} of {len(paths)} photos are not in {source}: each is its own group")
    return found


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
    wanted = {"train": 1.0 - sum(share[s] for s in missing)} | {s: share[s] for s in missing}
    total = sum(wanted.values())
    three = tuple(wanted.get(s, 0.0) / total for s in SPLITS)
    carved = grouped_split(keys.iloc[train], table["label"].iloc[train], three, seed).to_numpy()
    splits[train] = carved
    for name in missing:
        folder = "validation" if name == "val" else name
        count = int((carved == name).sum())
        notes.append(f"no {folder} folder: {count} images carved from train as {name}")
    return splits
