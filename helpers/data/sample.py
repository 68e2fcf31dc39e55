"""The embedded sample: real CC0 phone photos of clothing, written in DeepFashion's layout.

``img/<Words>_<Category>/img_*.jpg`` (one folder per contributor and class), the benchmark's
list files, a partition grouped by contributor, and ``sources.csv`` (each file's source photo,
class, contributor, licence). Same size, seed and photos: same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from helpers import atomic
from helpers.data.deepfashion import CATEGORY_CLOTH, CATEGORY_IMG, EVAL_PARTITION
from helpers.data.labelset import LabelSet
from helpers.data.photos import CLASSES, LICENCE, PHOTOS_DIR, SOURCE, choose_photos, read_pool
from helpers.data.splits import grouped_split
from helpers.paths import DATA_DIR

SAMPLE_FRACTIONS = (0.7, 0.15, 0.15)
MARKER = "SAMPLE.json"
SOURCES = "sources.csv"
SOURCES_COLUMNS = ["file", "source_image", "source_class", "contributor", "licence"]
PHOTO_SOURCE = f"real photos: {SOURCE}"
WORDS = [
    "Floral", "Striped", "Classic", "Relaxed", "Cropped", "Sheer", "Pleated-Front", "Reindeer",
    "Pattern", "Lace", "Denim", "Knit", "Cotton", "Slim", "Boxy", "Faux-Fur", "Marled", "Textured",
    "Longline", "Belted", "Ruffled", "Tie-Front", "Graphic", "Cable-Knit", "Woven", "Collared",
    "Hooded", "Zip-Up", "Button-Front", "Distressed", "Skinny", "High-Rise", "Wide-Leg", "Midi",
    "Wrap", "Tiered", "Quilted", "Wool", "Trench", "Double-Breasted", "Oversized", "Fitted",
    "Vintage", "Plaid", "Polka-Dot", "Chiffon", "Heathered", "Ribbed", "Embroidered", "Crochet",
]  # fmt: skip


def product_folder_names(categories: Sequence[str], rng: np.random.Generator) -> list[str]:
    """One unique ``<Word>_<Word>_<Category>`` folder name per entry of ``categories``."""
    names: list[str] = []
    taken: set[str] = set()
    for category in categories:
        words = 2
        while True:
            picked = rng.choice(len(WORDS), size=words, replace=False)
            name = "_".join([*(WORDS[i] for i in picked), category])
            if name not in taken:
                break
            words = min(words + 1, 4)
        taken.add(name)
        names.append(name)
    return names


def list_file_text(rows: Sequence[tuple[str, str]], header: str) -> str:
    """A DeepFashion list file: count line, header, left-justified first column."""
    width = max([len(a) for a, _ in rows] + [len(header.split()[0])]) + 8
    lines = [str(len(rows)), header, *(f"{a:<{width}}{b}" for a, b in rows)]
    return "\n".join(lines) + "\n"


def staging_folder(out_dir: Path) -> Path:
    """A fresh folder of its own beside ``out_dir`` (with ``img/``) to write a sample into: two
    processes (a chief and a worker) may write the same sample at once."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    (staging / "img").mkdir()
    return staging


def write_annotations(
    staging: Path,
    listed: Sequence[tuple[str, str, str]],
    splits: Sequence[str],
    categories: Sequence[tuple[str, int]],
) -> None:
    """The three DeepFashion list files for ``listed`` ``(path, category, folder)`` rows."""
    category_id = {name: i for i, (name, _) in enumerate(categories, start=1)}
    (staging / "Anno").mkdir()
    (staging / "Eval").mkdir()
    (staging / "Anno" / CATEGORY_CLOTH).write_text(
        list_file_text([(n, str(t)) for n, t in categories], "category_name  category_type")
    )
    (staging / "Anno" / CATEGORY_IMG).write_text(
        list_file_text(
            [(p, str(category_id[c])) for p, c, _ in listed], "image_name  category_label"
        )
    )
    (staging / EVAL_PARTITION).write_text(
        list_file_text(
            [(p, s) for (p, _, _), s in zip(listed, splits, strict=True)],
            "image_name  evaluation_status",
        )
    )


def write_sample(
    out_dir: Path, images: int = 600, seed: int = 0, photos_dir: Path = PHOTOS_DIR
) -> Path:
    """Write a DeepFashion-layout sample of about ``images`` embedded photos into ``out_dir``
    (written beside it, then renamed: never half a sample)."""
    pool = read_pool(photos_dir)
    if images < 3 * len(CLASSES):
        raise ValueError(f"images must be at least {3 * len(CLASSES)}")
    rng = np.random.default_rng(seed)
    chosen = choose_photos(pool, images, seed)
    folders = chosen.groupby(["sender_id", "label"], sort=True).ngroup()
    keys = chosen.groupby(["sender_id", "label"], sort=True).size().index
    names = product_folder_names([label for _, label in keys], rng)
    staging = staging_folder(Path(out_dir))
    listed: list[tuple[str, str, str]] = []
    sources = []
    numbers: dict[str, int] = {}
    for row, folder in tqdm(
        list(zip(chosen.itertuples(), folders, strict=True)), desc="writing sample", leave=False
    ):
        name = names[folder]
        numbers[name] = numbers.get(name, 0) + 1
        if numbers[name] == 1:
            (staging / "img" / name).mkdir()
        rel = f"img/{name}/img_{numbers[name]:08d}.jpg"
        shutil.copyfile(Path(photos_dir) / row.file, staging / rel)
        listed.append((rel, row.label, name))
        sources.append((rel, row.image, row.label, row.sender_id, LICENCE))
    contributors = [s[3] for s in sources]
    splits = grouped_split(contributors, [c for _, c, _ in listed], SAMPLE_FRACTIONS, seed)
    categories = [(label, kind) for label, kind in CLASSES.values()]
    write_annotations(staging, listed, list(splits), categories)
    atomic.write_csv(staging / SOURCES, pd.DataFrame(sources, columns=SOURCES_COLUMNS))
    if (Path(photos_dir) / "LICENSE").is_file():
        shutil.copyfile(Path(photos_dir) / "LICENSE", staging / "LICENSE")
    marker = {
        "images": images,
        "seed": seed,
        "source": PHOTO_SOURCE,
        "licence": LICENCE,
        "classes": sorted(chosen["label"].unique()),
        "written": len(listed),
        "products": len(names),
        "contributors": len(set(contributors)),
    }
    publish(staging, Path(out_dir), marker)
    return Path(out_dir)


def publish(staging: Path, out_dir: Path, marker: dict) -> None:
    """Write the marker, then rename the finished tree into place; keep another process's
    identical one if it won the race."""
    (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    try:
        staging.rename(out_dir)
        return
    except OSError:  # out_dir exists: another writer finished first, or an old sample
        pass
    if holds_sample(out_dir, marker["images"], marker["seed"], marker["source"]):
        shutil.rmtree(staging, ignore_errors=True)
        return
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)


def holds_sample(folder: Path, images: int, seed: int, source: str = PHOTO_SOURCE) -> bool:
    """Whether ``folder`` holds a finished sample of that size, seed and source."""
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return False
    info = json.loads(marker.read_text())
    return (info.get("images"), info.get("seed"), info.get("source")) == (images, seed, source)


def label_sample(data_dir: Path | None = None, sample_images: int = 1200, **options) -> LabelSet:
    """The embedded sample's labels: written first (once per size) when ``data_dir`` lacks it."""
    from helpers.data.deepfashion import label_deepfashion

    folder = Path(data_dir) if data_dir else DATA_DIR / f"photo-sample-{sample_images}"
    if not holds_sample(folder, sample_images, 0):
        write_sample(folder, sample_images, 0)
    labels = label_deepfashion(folder, **options)
    labels.dataset = "sample"
    return labels


def tree_digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and bytes: equal digests, equal trees."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
