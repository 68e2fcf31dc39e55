"""Finding a DeepFashion tree's image files (oddities reported and skipped) and reading labels
from their folder names, folded to one spelling per category."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from helpers.data.checks import folder_entries, visible_entries
from helpers.data.deepfashion.layout import OFFICIAL_SPELLING, Location
from helpers.data.labelset import Report


def folder_label(folder: str) -> str | None:
    """Category from a product folder name: the text after the last ``_``, white space folded, or None."""
    if "_" not in folder:
        return None
    label = " ".join(folder.rsplit("_", 1)[1].split())
    return label or None


def scan_images(location: Location, report: Report) -> list[Path]:
    """Every candidate image file under ``img/<folder>/`` (``os.scandir``: 289k in seconds);
    oddities go to the report."""
    images = []
    boundary = location.root.resolve()
    base = location.image_root
    for entry, rel in visible_entries(
        folder_entries(base / "img", base, report), base, boundary, report
    ):
        if entry.is_dir():
            found = _scan_product_folder(entry, location, boundary, report)
            if found is not None and not found:
                report.skip(rel, "empty-folder", "product folder holds no files")
            images.extend(found or [])
        elif entry.is_file():
            report.skip(rel, "not-in-product-folder", "file directly under img/, no product folder")
    return images


def _scan_product_folder(
    folder: os.DirEntry, location: Location, boundary: Path, report: Report
) -> list[Path] | None:
    entries = folder_entries(Path(folder.path), location.image_root, report)
    if entries is None:
        return None
    found = []
    for entry, rel in visible_entries(entries, location.image_root, boundary, report):
        if entry.is_dir():
            why = "DeepFashion has no folders inside product folders"
            report.skip(rel, "unexpected-subfolder", why)
        else:
            found.append(Path(entry.path))
    return found


def normalise_folder_labels(folders: Sequence[str], report: Report) -> dict[str, str | None]:
    """``{folder: label}``: suffixes folded to the official spelling, or to their most common one
    (each respelled folder reported once)."""
    raw = {folder: folder_label(folder) for folder in folders}
    spellings: dict[str, Counter] = {}
    for label in raw.values():
        if label and label.casefold() not in OFFICIAL_SPELLING:
            spellings.setdefault(label.casefold(), Counter())[label] += 1
    chosen = {
        key: sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
        for key, counts in spellings.items()
    }
    result: dict[str, str | None] = {}
    for folder, label in raw.items():
        if label is None:
            result[folder] = None
            continue
        key = label.casefold()
        result[folder] = OFFICIAL_SPELLING.get(key) or chosen[key]
        original = folder.rsplit("_", 1)[1]
        if original != result[folder]:
            why = f"folder suffix {original!r} read as {result[folder]!r}"
            report.keep(f"img/{folder}", "label-normalised", why)
    return result
