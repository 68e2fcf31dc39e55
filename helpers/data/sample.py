"""The embedded sample: a DeepFashion-layout tree written from Fashion-MNIST's product images.

Each "product" is a folder ``img/<Words>_<Category>/`` of several photos of one
class, and the three annotation files are written in the benchmark's formats,
with the benchmark's real 50-category list and ids. DeepFashion has no shoes or
bags, so only Fashion-MNIST's six clothing classes are used. The partition is
grouped by product folder. Same images, seed and source: same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from helpers.data.deepfashion import (
    CATEGORY_CLOTH,
    CATEGORY_IMG,
    EVAL_PARTITION,
    OFFICIAL_CATEGORIES,
)
from helpers.data.fashion_mnist import CLASSES, load_fashion_mnist
from helpers.data.labelset import LabelSet
from helpers.data.splits import grouped_split

# Fashion-MNIST class index -> DeepFashion category (a hyphenated one included on purpose).
CATEGORY_OF_CLASS = {0: "Tee", 1: "Jeans", 2: "Sweater", 3: "Dress", 4: "Coat", 6: "Button-Down"}
SAMPLE_FRACTIONS = (0.7, 0.15, 0.15)
IMAGE_SIDE = 112
MARKER = "SAMPLE.json"
WORDS = [
    "Floral",
    "Striped",
    "Classic",
    "Relaxed",
    "Cropped",
    "Sheer",
    "Pleated-Front",
    "Reindeer",
    "Pattern",
    "Lace",
    "Denim",
    "Knit",
    "Cotton",
    "Slim",
    "Boxy",
    "Faux-Fur",
    "Marled",
    "Textured",
    "Longline",
    "Belted",
    "Ruffled",
    "Tie-Front",
    "Graphic",
    "Cable-Knit",
    "Woven",
    "Collared",
    "Hooded",
    "Zip-Up",
    "Button-Front",
    "Distressed",
    "Skinny",
    "High-Rise",
    "Wide-Leg",
    "Midi",
    "Wrap",
    "Tiered",
    "Quilted",
    "Wool",
    "Trench",
    "Double-Breasted",
    "Oversized",
    "Fitted",
    "Vintage",
    "Plaid",
    "Polka-Dot",
    "Chiffon",
    "Heathered",
    "Ribbed",
    "Embroidered",
    "Crochet",
]


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


def write_sample(
    out_dir: Path,
    images: int = 600,
    seed: int = 0,
    fashion_mnist_dir: Path | None = None,
    per_product: tuple[int, int] = (3, 8),
) -> Path:
    """Write a DeepFashion-layout sample of about ``images`` images into ``out_dir``.

    ``out_dir`` is replaced atomically: the tree is written next to it, then
    renamed, so an interrupted write never leaves half a sample behind.
    """
    if images < len(CATEGORY_OF_CLASS) * per_product[0]:
        raise ValueError(f"images must be at least {len(CATEGORY_OF_CLASS) * per_product[0]}")
    data = load_fashion_mnist(fashion_mnist_dir)
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: two processes (a chief and a worker) may write the same sample at once.
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    (staging / "img").mkdir(parents=True)

    products = _plan_products(data.y_train, images, per_product, rng)
    names = product_folder_names([CATEGORY_OF_CLASS[c] for c, _ in products], rng)
    category_id = {name: i for i, (name, _) in enumerate(OFFICIAL_CATEGORIES, start=1)}
    listed: list[tuple[str, str, str]] = []  # (path, category name, folder)
    for name, (_, indices) in tqdm(
        list(zip(names, products, strict=True)), desc="writing sample", leave=False
    ):
        folder = staging / "img" / name
        folder.mkdir()
        for number, index in enumerate(indices, start=1):
            rel = f"img/{name}/img_{number:08d}.jpg"
            _write_jpeg(data.x_train[index], staging / rel)
            listed.append((rel, name.rsplit("_", 1)[1], name))

    splits = grouped_split(
        [f for *_, f in listed], [c for _, c, _ in listed], SAMPLE_FRACTIONS, seed
    )
    (staging / "Anno").mkdir()
    (staging / "Eval").mkdir()
    (staging / "Anno" / CATEGORY_CLOTH).write_text(
        list_file_text(
            [(n, str(t)) for n, t in OFFICIAL_CATEGORIES], "category_name  category_type"
        )
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
    marker = {
        "images": images,
        "seed": seed,
        "source": "Fashion-MNIST train split",
        "classes": {CLASSES[c]: CATEGORY_OF_CLASS[c] for c in sorted(CATEGORY_OF_CLASS)},
        "written": len(listed),
        "products": len(products),
    }
    (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    _publish(staging, out_dir, images, seed)
    return out_dir


def _publish(staging: Path, out_dir: Path, images: int, seed: int) -> None:
    """Rename the finished tree into place; keep another process's identical one if it won."""
    try:
        staging.rename(out_dir)
        return
    except OSError:  # out_dir exists: another writer finished first, or an old sample
        pass
    if _holds_sample(out_dir, images, seed):
        shutil.rmtree(staging, ignore_errors=True)
        return
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)


def _holds_sample(folder: Path, images: int, seed: int) -> bool:
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return False
    info = json.loads(marker.read_text())
    return info.get("images") == images and info.get("seed") == seed


def _plan_products(
    labels: np.ndarray, images: int, per_product: tuple[int, int], rng: np.random.Generator
) -> list[tuple[int, list[int]]]:
    """Split ``images`` evenly over the classes, then into products of a few images each."""
    classes = sorted(CATEGORY_OF_CLASS)
    quotas = [images // len(classes) + (i < images % len(classes)) for i in range(len(classes))]
    products = []
    for label, quota in zip(classes, quotas, strict=True):
        pool = rng.permutation(np.flatnonzero(labels == label))[:quota]
        start = 0
        while start < quota:
            size = int(rng.integers(per_product[0], per_product[1] + 1))
            if quota - start - size < per_product[0]:
                size = quota - start  # fold a too-small remainder into this product
            products.append((label, [int(i) for i in pool[start : start + size]]))
            start += size
    order = rng.permutation(len(products))
    return [products[i] for i in order]


def _write_jpeg(pixels: np.ndarray, path: Path) -> None:
    image = Image.fromarray(pixels, mode="L").resize((IMAGE_SIDE, IMAGE_SIDE), Image.BICUBIC)
    image.convert("RGB").save(path, format="JPEG", quality=90)


def ensure_sample(
    out_dir: Path, images: int, seed: int = 0, fashion_mnist_dir: Path | None = None
) -> Path:
    """Write the sample unless ``out_dir`` already holds one with the same size and seed."""
    if _holds_sample(out_dir, images, seed):
        return Path(out_dir)
    return write_sample(out_dir, images, seed, fashion_mnist_dir)


def sample_dir(images: int) -> Path:
    """Where the embedded sample of ``images`` images is written."""
    from helpers.paths import DATA_DIR

    return DATA_DIR / f"deepfashion-sample-{images}"


def label_sample(data_dir: Path | None = None, sample_images: int = 3000, **options) -> LabelSet:
    """The embedded sample's labels: written first (once per size) when ``data_dir`` lacks it."""
    from helpers.data.deepfashion import label_deepfashion

    folder = ensure_sample(Path(data_dir) if data_dir else sample_dir(sample_images), sample_images)
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
