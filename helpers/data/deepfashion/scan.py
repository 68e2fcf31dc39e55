"""Finding a DeepFashion tree's image files and reading labels from their folder names.

Unreadable folders, hidden files, stray files, sub-folders, symbolic links that
loop, dangle or leave the data folder are reported and skipped; folder suffixes
are folded to one spelling per category (see :func:`normalise_folder_labels`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from helpers.data.checks import is_hidden, relative
from helpers.data.deepfashion.layout import OFFICIAL_SPELLING, Location
from helpers.data.labelset import Report


def folder_label(folder: str) -> str | None:
    """Category from a product folder name: the text after the last ``_``, white space folded, or None."""
    if "_" not in folder:
        return None
    label = " ".join(folder.rsplit("_", 1)[1].split())
    return label or None


def scan_images(location: Location, report: Report) -> list[Path]:
    """Every candidate image file under ``img/<folder>/``; oddities go to the report.

    Uses ``os.scandir`` (no extra system call per file) so a 289k-image tree scans in seconds.
    """
    images = []
    boundary = location.root.resolve()
    for entry, rel in _visible(
        _entries(location.image_root / "img", location, report), location, boundary, report
    ):
        if entry.is_dir():
            found = _scan_product_folder(entry, location, boundary, report)
            if found is not None and not found:
                report.skip(rel, "empty-folder", "product folder holds no files")
            images.extend(found or [])
        elif entry.is_file():
            report.skip(rel, "not-in-product-folder", "file directly under img/, no product folder")
    return images


def _visible(entries, location: Location, boundary: Path, report: Report):
    """``(entry, relative path)`` of the entries that are not hidden and whose links stay inside
    the data folder; the others are reported."""
    for entry in entries or []:
        rel = relative(Path(entry.path), location.image_root)
        if is_hidden(Path(entry.name)):
            report.skip(rel, "hidden-file", "hidden file or folder")
        elif _followable(entry, rel, boundary, report):
            yield entry, rel


def _entries(folder: Path, location: Location, report: Report) -> list[os.DirEntry] | None:
    """A folder's entries in name order, or None (reported) when it cannot be read."""
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=lambda e: e.name)
    except OSError as err:
        report.skip(
            relative(folder, location.image_root), "unreadable-folder", err.strerror or str(err)
        )
        return None


def _followable(entry: os.DirEntry, rel: str, boundary: Path, report: Report) -> bool:
    """False (reported) for a link that loops, dangles or leaves the data folder."""
    if not entry.is_symlink():
        return True
    try:
        target = Path(entry.path).resolve(strict=True)
    except RuntimeError:
        report.skip(rel, "symlink-loop", "symbolic link loop")
        return False
    except OSError as err:
        if "loop" in str(err).lower():
            report.skip(rel, "symlink-loop", "symbolic link loop")
        else:
            report.skip(rel, "broken-link", f"symbolic link to a missing target ({err.strerror})")
        return False
    if not target.is_relative_to(boundary):
        report.skip(rel, "outside-data-folder", f"symbolic link to {target}, outside {boundary}")
        return False
    return True


def _scan_product_folder(
    folder: os.DirEntry, location: Location, boundary: Path, report: Report
) -> list[Path] | None:
    entries = _entries(Path(folder.path), location, report)
    if entries is None:
        return None
    found = []
    for entry, rel in _visible(entries, location, boundary, report):
        if entry.is_dir():
            report.skip(
                rel, "unexpected-subfolder", "DeepFashion has no folders inside product folders"
            )
        else:
            found.append(Path(entry.path))
    return found


def normalise_folder_labels(folders: Sequence[str], report: Report) -> dict[str, str | None]:
    """``{folder: label}``: suffixes folded to the official spelling, or to their most common one.

    Every folder whose suffix is respelled is reported once.
    """
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
            report.keep(
                f"img/{folder}",
                "label-normalised",
                f"folder suffix {original!r} read as {result[folder]!r}",
            )
    return result
