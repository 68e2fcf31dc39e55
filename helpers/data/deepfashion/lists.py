"""DeepFashion's list files: a count line, a header line and whitespace-padded rows. Duplicates
are reported (a conflicting row skips its image), ids leaving the data folder refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.data.deepfashion.layout import CATEGORY_CLOTH, CATEGORY_IMG, Location
from helpers.data.labelset import SPLITS, Report
from helpers.data.text import read_text
from helpers.errors import AnnotationError


@dataclass
class ListFile:
    """One DeepFashion list file: its declared count and its ``(line number, fields)`` rows."""

    path: Path
    declared: int
    header: list[str]
    rows: list[tuple[int, list[str]]]


def read_list_file(path: Path, columns: int, report: Report, location: Location) -> ListFile:
    """Read a count line, a header line and rows of ``columns`` fields: a bad count line or header
    refuses the file, a malformed row is skipped and reported, as is a count the rows miss."""
    rel = location.rel(path)
    lines = read_text(path).splitlines()
    if len(lines) < 2:
        raise AnnotationError(path, "expected a count line and a header line")
    try:
        declared = int(lines[0].strip())
    except ValueError:
        raise AnnotationError(f"{path}:1", f"count line is not a number: {lines[0]!r}") from None
    header = lines[1].split()
    if len(header) != columns:
        raise AnnotationError(f"{path}:2", f"expected a {columns}-column header, got {lines[1]!r}")
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        # Names may contain spaces only in the first column; the last fields are single words.
        fields = line.rsplit(None, columns - 1)
        if len(fields) != columns:
            report.skip(f"{rel}:{number}", "bad-row", f"expected {columns} fields: {line!r}")
            continue
        rows.append((number, [f.strip() for f in fields]))
    if declared != len(rows):
        report.keep(rel, "count-mismatch", f"count line says {declared}, found {len(rows)} rows")
    return ListFile(path, declared, header, rows)


def read_categories(location: Location, report: Report) -> list[tuple[str, int]]:
    """``list_category_cloth.txt`` as ``[(name, type)]`` in id order; repeated names are reported."""
    listing = read_list_file(location.annotations / CATEGORY_CLOTH, 2, report, location)
    rel = location.rel(listing.path)
    categories: list[tuple[str, int]] = []
    first_id: dict[str, int] = {}
    for number, (raw, kind) in listing.rows:
        if kind not in {"1", "2", "3"}:
            where = f"{listing.path}:{number}"
            raise AnnotationError(where, f"category type {kind!r} is not 1, 2 or 3")
        name = " ".join(raw.split())
        key = name.casefold()
        if key in first_id:
            name = categories[first_id[key] - 1][0]
            report.keep(
                f"{rel}:{number}",
                "duplicate-category",
                f"{raw!r} repeats category id {first_id[key]}: ids {first_id[key]} and "
                f"{len(categories) + 1} both mean {name}",
            )
        else:
            first_id[key] = len(categories) + 1
        categories.append((name, int(kind)))
    return categories


@dataclass
class Annotations:
    """``list_category_img.txt``: each image's category, and the images listed with two."""

    labels: dict[str, str]
    conflicts: dict[str, str]


def read_image_categories(
    location: Location, categories: Sequence[tuple[str, int]], report: Report
) -> Annotations:
    """``list_category_img.txt`` as ``{relative path: category name}``; duplicates reported."""
    listing = read_list_file(location.annotations / CATEGORY_IMG, 2, report, location)
    rel = location.rel(listing.path)
    labels: dict[str, str] = {}
    line_of: dict[str, int] = {}
    conflicts: dict[str, str] = {}
    for number, (path, raw_id) in listing.rows:
        try:
            category_id = int(raw_id)
        except ValueError:
            category_id = 0
        where = f"{rel}:{number}"
        if not 1 <= category_id <= len(categories):
            report.skip(where, "bad-row", f"category id {raw_id!r} not in 1..{len(categories)}")
            continue
        if _escapes(path):
            report.skip(where, "outside-data-folder", f"{path!r} leaves the data folder")
            continue
        name = categories[category_id - 1][0]
        if path in labels and path not in conflicts:
            if labels[path] == name:
                report.keep(where, "duplicate-row", f"{path} repeats line {line_of[path]}")
            else:
                conflicts[path] = (
                    f"listed as {labels[path]} on line {line_of[path]} and as {name} on line "
                    f"{number} of {rel}"
                )
            continue
        labels[path] = name
        line_of[path] = number
    for path in conflicts:
        labels.pop(path)
    return Annotations(labels, conflicts)


def read_partition(location: Location, report: Report) -> dict[str, str]:
    """``Eval/list_eval_partition.txt`` as ``{relative path: train|val|test}``; conflicts dropped."""
    listing = read_list_file(location.partition, 2, report, location)
    rel = location.rel(listing.path)
    splits: dict[str, str] = {}
    conflicting: set[str] = set()
    for number, (path, split) in listing.rows:
        if split not in SPLITS:
            report.skip(f"{rel}:{number}", "bad-row", f"split {split!r} is not one of {SPLITS}")
            continue
        if path in splits and splits[path] != split:
            why = f"listed as {splits[path]} and {split} in {rel}"
            report.skip(path, "conflicting-splits", why)
            conflicting.add(path)
        elif path in splits:
            report.keep(f"{rel}:{number}", "duplicate-row", f"{path} is listed twice")
        splits[path] = split
    return {path: split for path, split in splits.items() if path not in conflicting}


def _escapes(path: str) -> bool:
    return path.startswith(("/", "\\")) or ".." in Path(path).parts or ":" in path
