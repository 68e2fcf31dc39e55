"""DeepFashion (Category and Attribute Prediction benchmark): labels from folder names or annotations.

Layout read here::

    DATA_DIR/img/<Words>_<Category>/img_00000001.jpg
    DATA_DIR/Anno/list_category_cloth.txt   count line, header, "<name> <type>" rows
    DATA_DIR/Anno/list_category_img.txt     count line, header, "img/<folder>/<file> <1-based id>"
    DATA_DIR/Eval/list_eval_partition.txt   count line, header, "<path> train|val|test"

Folder-name labels are the text after the last ``_`` of the image's folder
(``Reindeer_Pattern_Sweater`` -> ``Sweater``; ``Button-Down`` stays whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.data.checks import check_images, is_hidden, relative
from helpers.data.labelset import SPLITS, LabelSet, Report
from helpers.data.splits import DEFAULT_FRACTIONS, grouped_split, groups_in_several_splits

CATEGORY_CLOTH = Path("Anno/list_category_cloth.txt")
CATEGORY_IMG = Path("Anno/list_category_img.txt")
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
]


class AnnotationError(ValueError):
    """An annotation file that cannot be read at all (named in the message)."""


def folder_label(folder: str) -> str | None:
    """Category from a product folder name: the text after the last ``_``, or None."""
    if "_" not in folder:
        return None
    label = folder.rsplit("_", 1)[1]
    return label or None


@dataclass
class ListFile:
    """One DeepFashion list file: its declared count and its ``(line number, fields)`` rows."""

    path: Path
    declared: int
    header: list[str]
    rows: list[tuple[int, list[str]]]


def read_list_file(path: Path, columns: int, report: Report, root: Path) -> ListFile:
    """Read a count line, a header line and whitespace-padded rows of ``columns`` fields.

    A missing or non-numeric count line or a missing header refuses the file;
    a malformed row is skipped and reported with its line number; a count that
    differs from the rows found is reported.
    """
    rel = relative(path, root)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 2:
        raise AnnotationError(f"{path}: expected a count line and a header line")
    try:
        declared = int(lines[0].strip())
    except ValueError:
        raise AnnotationError(f"{path}:1: count line is not a number: {lines[0]!r}") from None
    header = lines[1].split()
    if len(header) != columns:
        raise AnnotationError(f"{path}:2: expected a {columns}-column header, got {lines[1]!r}")
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


def read_categories(root: Path, report: Report) -> list[tuple[str, int]]:
    """``Anno/list_category_cloth.txt`` as ``[(name, type)]`` in id order."""
    listing = read_list_file(root / CATEGORY_CLOTH, 2, report, root)
    categories = []
    for number, (name, kind) in listing.rows:
        if kind not in {"1", "2", "3"}:
            raise AnnotationError(f"{listing.path}:{number}: category type {kind!r} is not 1, 2 or 3")
        categories.append((name, int(kind)))
    return categories


def read_image_categories(
    root: Path, categories: Sequence[tuple[str, int]], report: Report
) -> dict[str, str]:
    """``Anno/list_category_img.txt`` as ``{relative path: category name}``."""
    listing = read_list_file(root / CATEGORY_IMG, 2, report, root)
    rel = relative(listing.path, root)
    labels: dict[str, str] = {}
    for number, (path, raw_id) in listing.rows:
        try:
            category_id = int(raw_id)
        except ValueError:
            category_id = 0
        if not 1 <= category_id <= len(categories):
            report.skip(f"{rel}:{number}", "bad-row", f"category id {raw_id!r} not in 1..{len(categories)}")
            continue
        labels[path] = categories[category_id - 1][0]
    return labels


def read_partition(root: Path, report: Report) -> dict[str, str]:
    """``Eval/list_eval_partition.txt`` as ``{relative path: train|val|test}``."""
    listing = read_list_file(root / EVAL_PARTITION, 2, report, root)
    rel = relative(listing.path, root)
    splits: dict[str, str] = {}
    for number, (path, split) in listing.rows:
        if split not in SPLITS:
            report.skip(f"{rel}:{number}", "bad-row", f"split {split!r} is not one of {SPLITS}")
            continue
        splits[path] = split
    return splits


def find_root(data_dir: Path) -> Path:
    """The DeepFashion root (the folder holding ``img/``); accepts the ``img`` folder itself."""
    data_dir = Path(data_dir)
    if (data_dir / "img").is_dir():
        return data_dir
    if data_dir.name == "img" and data_dir.is_dir():
        return data_dir.parent
    raise FileNotFoundError(f"{data_dir}: no img/ folder; expected DeepFashion's img/<Words>_<Category>/ layout")


def scan_images(root: Path, report: Report) -> list[Path]:
    """Every candidate image file under ``img/<folder>/``; oddities go to the report."""
    images = []
    for entry in sorted((root / "img").iterdir()):
        rel = relative(entry, root)
        if is_hidden(entry):
            report.skip(rel, "hidden-file", "hidden file or folder")
        elif entry.is_file():
            report.skip(rel, "not-in-product-folder", "file directly under img/, no product folder")
        elif entry.is_dir():
            found = _scan_product_folder(entry, root, report)
            if not found:
                report.skip(rel, "empty-folder", "product folder holds no files")
            images.extend(found)
    return images


def _scan_product_folder(folder: Path, root: Path, report: Report) -> list[Path]:
    found = []
    for entry in sorted(folder.iterdir()):
        rel = relative(entry, root)
        if is_hidden(entry):
            report.skip(rel, "hidden-file", "hidden file or folder")
        elif entry.is_dir():
            report.skip(rel, "unexpected-subfolder", "DeepFashion has no folders inside product folders")
        else:
            found.append(entry)
    return found


def has_annotations(data_dir: Path) -> bool:
    """Whether the official category lists are present."""
    root = find_root(data_dir)
    return (root / CATEGORY_CLOTH).is_file() and (root / CATEGORY_IMG).is_file()


def label_deepfashion(
    data_dir: Path,
    source: str = "auto",
    split: str = "auto",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    check_files: bool = True,
) -> LabelSet:
    """Build the labels table of a DeepFashion tree.

    ``source``: ``folders`` (label from the folder name), ``annotations``
    (``Anno/list_category_img.txt``) or ``auto`` (annotations when present).
    ``split``: ``official`` (``Eval/list_eval_partition.txt``), ``grouped`` (by
    product folder, stratified by label) or ``auto`` (official when present).
    Disagreements between folder names and annotations are reported either way.
    """
    root = find_root(data_dir)
    report = Report()
    annotated = has_annotations(root)
    if source == "auto":
        source = "annotations" if annotated else "folders"
    if source not in {"folders", "annotations"}:
        raise ValueError(f"source must be 'folders', 'annotations' or 'auto', got {source!r}")
    if source == "annotations" and not annotated:
        raise FileNotFoundError(f"{root / CATEGORY_IMG}: not found; use source='folders'")

    files = scan_images(root, report)
    categories = read_categories(root, report) if (root / CATEGORY_CLOTH).is_file() else []
    known = {name for name, _ in categories}
    annotation = read_image_categories(root, categories, report) if annotated else {}

    rows = []
    on_disk = {relative(f, root) for f in files}
    for rel in sorted(set(annotation) - on_disk):
        report.skip(rel, "missing-file", f"listed in {CATEGORY_IMG.as_posix()} but not on disk")
    usable = check_images(files, report, root) if check_files else [True] * len(files)
    for path, ok in zip(files, usable, strict=True):
        if not ok:
            continue
        rel = relative(path, root)
        from_folder = folder_label(path.parent.name)
        from_annotation = annotation.get(rel)
        label = _choose_label(rel, from_folder, from_annotation, source, known, annotated, report)
        if label is not None:
            rows.append({"path": rel, "label": label, "product": path.parent.name})

    table = pd.DataFrame(rows, columns=["path", "label", "product"])
    table = _assign_splits(table, root, split, fractions, seed, report)
    order = [name for name, _ in categories] if categories else sorted(table["label"].unique())
    classes = [c for c in order if c in set(table["label"])]
    return LabelSet(table=table, classes=classes, report=report.frame(), root=root, dataset="deepfashion")


def _choose_label(
    rel: str,
    from_folder: str | None,
    from_annotation: str | None,
    source: str,
    known: set[str],
    annotated: bool,
    report: Report,
) -> str | None:
    """The label of one image under ``source``, reporting every disagreement or gap."""
    img_list, cloth_list = CATEGORY_IMG.as_posix(), CATEGORY_CLOTH.as_posix()
    if source == "folders":
        if from_folder is None:
            report.skip(rel, "no-category-in-folder-name", "folder name has no '_<Category>' suffix")
            return None
        if known and from_folder not in known:
            report.skip(rel, "unknown-category", f"folder suffix {from_folder!r} is not in {cloth_list}")
            return None
        if annotated and from_annotation is None:
            report.keep(rel, "not-in-annotations", f"not listed in {img_list}; folder label used")
    else:
        if from_annotation is None:
            report.skip(rel, "not-in-annotations", f"not listed in {img_list}")
            return None
        if from_folder is None:
            report.keep(rel, "no-category-in-folder-name", "folder name has no '_<Category>'; annotation used")
    if from_folder and from_annotation and from_folder != from_annotation:
        used = from_annotation if source == "annotations" else from_folder
        report.keep(rel, "label-disagreement",
                    f"folder says {from_folder}, annotation says {from_annotation}; using {used}")
    return from_annotation if source == "annotations" else from_folder


def _assign_splits(
    table: pd.DataFrame,
    root: Path,
    split: str,
    fractions: Sequence[float],
    seed: int,
    report: Report,
) -> pd.DataFrame:
    """Official partition when asked or present, else a product-grouped split."""
    has_partition = (root / EVAL_PARTITION).is_file()
    if split == "auto":
        split = "official" if has_partition else "grouped"
    if split == "official":
        if not has_partition:
            raise FileNotFoundError(f"{root / EVAL_PARTITION}: not found; use split='grouped'")
        partition = read_partition(root, report)
        table = table.assign(split=table["path"].map(partition))
        for rel in table.loc[table["split"].isna(), "path"]:
            report.skip(rel, "not-in-partition", f"not listed in {EVAL_PARTITION.as_posix()}")
        table = table.dropna(subset=["split"])
        for product in groups_in_several_splits(table["product"], table["split"]):
            report.keep(f"img/{product}", "product-in-several-splits", "the official partition puts this product in more than one split")
    elif split == "grouped":
        table = table.assign(split=grouped_split(table["product"], table["label"], fractions, seed).values)
    else:
        raise ValueError(f"split must be 'official', 'grouped' or 'auto', got {split!r}")
    return table
