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

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.data.checks import check_images, is_hidden, relative
from helpers.data.labelset import SPLITS, LabelSet, Report
from helpers.data.splits import DEFAULT_FRACTIONS, grouped_split, groups_in_several_splits
from helpers.data.text import read_text
from helpers.errors import AnnotationError, InputError

CATEGORY_CLOTH = "list_category_cloth.txt"
CATEGORY_IMG = "list_category_img.txt"
EVAL_PARTITION = Path("Eval/list_eval_partition.txt")

# The benchmark's 50 categories in file order (ids are 1-based positions);
# type 1 = upper body, 2 = lower body, 3 = full body.
OFFICIAL_CATEGORIES: list[tuple[str, int]] = [
    *[(name, 1) for name in (
        "Anorak Blazer Blouse Bomber Button-Down Cardigan Flannel Halter Henley Hoodie "
        "Jacket Jersey Parka Peacoat Poncho Sweater Tank Tee Top Turtleneck").split()],
    *[(name, 2) for name in (
        "Capris Chinos Culottes Cutoffs Gauchos Jeans Jeggings Jodhpurs Joggers Leggings "
        "Sarong Shorts Skirt Sweatpants Sweatshorts Trunks").split()],
    *[(name, 3) for name in (
        "Caftan Cape Coat Coverup Dress Jumpsuit Kaftan Kimono Nightdress Onesie Robe "
        "Romper Shirtdress Sundress").split()],
]  # fmt: skip
OFFICIAL_SPELLING = {name.casefold(): name for name, _ in OFFICIAL_CATEGORIES}


@dataclass(frozen=True)
class LayoutSpec:
    """Where one official layout keeps its annotations and the folder holding ``img/``."""

    annotations: str
    images: str


LAYOUTS = {
    "current": LayoutSpec(annotations="Anno_coarse", images="Img"),
    "older": LayoutSpec(annotations="Anno", images="."),
}


@dataclass(frozen=True)
class Location:
    """A DeepFashion copy on disk: its root, the folder holding ``img/``, and the lists found."""

    root: Path
    image_root: Path
    annotations: Path | None
    partition: Path | None
    layout: str

    def rel(self, path: Path) -> str:
        """A path as the report shows it: relative to the download root, POSIX form."""
        return relative(path, self.root)

    def describe(self) -> str:
        parts = [f"DeepFashion, {self.layout} layout, at {self.root}"]
        parts.append(f"images in {self.rel(self.image_root / 'img')}/")
        parts.append(
            f"annotations in {self.rel(self.annotations)}/"
            if self.annotations
            else "no annotation lists (labels from folder names)"
        )
        parts.append(
            f"partition {self.rel(self.partition)}"
            if self.partition
            else "no official partition (split grouped by product)"
        )
        return "; ".join(parts)


def locate(data_dir: Path) -> Location:
    """Find a DeepFashion copy from its download root, its ``Img/`` or its ``img/`` folder."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise InputError(data_dir, "no such folder")
    candidates = [data_dir]
    if data_dir.name in {"img", "Img"}:
        candidates.append(data_dir.parent)
        if data_dir.parent.name == "Img":
            candidates.append(data_dir.parent.parent)
    for root in reversed(candidates):  # the outermost one that holds images wins
        for layout, spec in LAYOUTS.items():
            image_root = root / spec.images if spec.images != "." else root
            if (image_root / "img").is_dir():
                return Location(
                    root=root,
                    image_root=image_root,
                    annotations=_annotation_folder(root),
                    partition=root / EVAL_PARTITION if (root / EVAL_PARTITION).is_file() else None,
                    layout=layout,
                )
    for root in candidates:
        for zipped in (root / "Img" / "img.zip", root / "img.zip"):
            if zipped.is_file():
                raise InputError(
                    zipped,
                    f"the images are still zipped: unpack them with `cd {zipped.parent} && unzip -q "
                    f"{zipped.name}` (or `python -m zipfile -e {zipped.name} .`), then point data_dir "
                    f"at {root}",
                )
    raise InputError(
        data_dir,
        "no img/ or Img/img/ folder: expected DeepFashion's layout (Anno_coarse/ or Anno/, Eval/, "
        "Img/img/<Words>_<Category>/img_*.jpg)",
    )


def _annotation_folder(root: Path) -> Path | None:
    for name in ("Anno_coarse", "Anno"):
        folder = root / name
        if (folder / CATEGORY_IMG).is_file() or (folder / CATEGORY_CLOTH).is_file():
            return folder
    return None


def folder_label(folder: str) -> str | None:
    """Category from a product folder name: the text after the last ``_``, white space folded, or None."""
    if "_" not in folder:
        return None
    label = " ".join(folder.rsplit("_", 1)[1].split())
    return label or None


@dataclass
class ListFile:
    """One DeepFashion list file: its declared count and its ``(line number, fields)`` rows."""

    path: Path
    declared: int
    header: list[str]
    rows: list[tuple[int, list[str]]]


def read_list_file(path: Path, columns: int, report: Report, location: Location) -> ListFile:
    """Read a count line, a header line and whitespace-padded rows of ``columns`` fields.

    A missing or non-numeric count line or a missing header refuses the file;
    a malformed row is skipped and reported with its line number; a count that
    differs from the rows found is reported.
    """
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
            raise AnnotationError(
                f"{listing.path}:{number}", f"category type {kind!r} is not 1, 2 or 3"
            )
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
        if not 1 <= category_id <= len(categories):
            report.skip(
                f"{rel}:{number}", "bad-row", f"category id {raw_id!r} not in 1..{len(categories)}"
            )
            continue
        if _escapes(path):
            report.skip(f"{rel}:{number}", "outside-data-folder", f"{path!r} leaves the data folder")
            continue
        name = categories[category_id - 1][0]
        if path in labels and path not in conflicts:
            if labels[path] == name:
                report.keep(
                    f"{rel}:{number}", "duplicate-row", f"{path} repeats line {line_of[path]}"
                )
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
            report.skip(path, "conflicting-splits", f"listed as {splits[path]} and {split} in {rel}")
            conflicting.add(path)
        elif path in splits:
            report.keep(f"{rel}:{number}", "duplicate-row", f"{path} is listed twice")
        splits[path] = split
    return {path: split for path, split in splits.items() if path not in conflicting}


def _escapes(path: str) -> bool:
    return path.startswith(("/", "\\")) or ".." in Path(path).parts or ":" in path


def scan_images(location: Location, report: Report) -> list[Path]:
    """Every candidate image file under ``img/<folder>/``; oddities go to the report.

    Uses ``os.scandir`` (no extra system call per file) so a 289k-image tree scans in seconds.
    """
    images = []
    boundary = location.root.resolve()
    for entry in _entries(location.image_root / "img", location, report) or []:
        rel = relative(Path(entry.path), location.image_root)
        if is_hidden(Path(entry.name)):
            report.skip(rel, "hidden-file", "hidden file or folder")
        elif not _followable(entry, rel, boundary, report):
            continue
        elif entry.is_dir():
            found = _scan_product_folder(entry, location, boundary, report)
            if found is not None and not found:
                report.skip(rel, "empty-folder", "product folder holds no files")
            images.extend(found or [])
        elif entry.is_file():
            report.skip(rel, "not-in-product-folder", "file directly under img/, no product folder")
    return images


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
    for entry in entries:
        rel = relative(Path(entry.path), location.image_root)
        if is_hidden(Path(entry.name)):
            report.skip(rel, "hidden-file", "hidden file or folder")
        elif not _followable(entry, rel, boundary, report):
            continue
        elif entry.is_dir():
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
    has_cloth = location.annotations is not None and (location.annotations / CATEGORY_CLOTH).is_file()
    categories = read_categories(location, report) if has_cloth else []
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
            report.keep(rel, "conflicting-labels", self.annotation.conflicts[rel] + "; folder label used")
        from_annotation = self.annotation.labels.get(rel)
        if self.source == "folders":
            if from_folder is None:
                report.skip(rel, "no-category-in-folder-name", "folder name has no '_<Category>' suffix")
                return None
            if self.known and from_folder not in self.known:
                report.skip(rel, "unknown-category", f"folder suffix {from_folder!r} is not a listed category")
                return None
            if self.annotated and from_annotation is None and rel not in self.annotation.conflicts:
                report.keep(rel, "not-in-annotations", f"not listed in {self.listed_name}; folder label used")
        else:
            if from_annotation is None:
                report.skip(rel, "not-in-annotations", f"not listed in {self.listed_name}")
                return None
            if from_folder is None:
                report.keep(rel, "no-category-in-folder-name", "folder name has no '_<Category>'; annotation used")
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
