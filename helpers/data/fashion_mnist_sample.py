"""The Fashion-MNIST-derived sample (a named option): DeepFashion-layout product folders of 112 px
upscaled images of its six clothing classes, with the benchmark's 50-category list and a partition
grouped by product. Same images, seed and source: same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from helpers.data.deepfashion import OFFICIAL_CATEGORIES
from helpers.data.fashion_mnist import CLASSES, load_fashion_mnist
from helpers.data.labelset import LabelSet
from helpers.data.sample import (
    SAMPLE_FRACTIONS,
    holds_sample,
    product_folder_names,
    publish,
    staging_folder,
    write_annotations,
)
from helpers.data.splits import grouped_split

# Fashion-MNIST class index -> DeepFashion category (a hyphenated one included on purpose).
CATEGORY_OF_CLASS = {0: "Tee", 1: "Jeans", 2: "Sweater", 3: "Dress", 4: "Coat", 6: "Button-Down"}
IMAGE_SIDE = 112


def write_fashion_mnist_sample(
    out_dir: Path,
    images: int = 600,
    seed: int = 0,
    fashion_mnist_dir: Path | None = None,
    per_product: tuple[int, int] = (3, 8),
) -> Path:
    """Write a DeepFashion-layout sample of about ``images`` Fashion-MNIST images into ``out_dir``
    (atomically: written beside it, then renamed)."""
    if images < len(CATEGORY_OF_CLASS) * per_product[0]:
        raise ValueError(f"images must be at least {len(CATEGORY_OF_CLASS) * per_product[0]}")
    data = load_fashion_mnist(fashion_mnist_dir)
    rng = np.random.default_rng(seed)
    staging = staging_folder(Path(out_dir))
    products = _plan_products(data.y_train, images, per_product, rng)
    names = product_folder_names([CATEGORY_OF_CLASS[c] for c, _ in products], rng)
    listed: list[tuple[str, str, str]] = []  # (path, category name, folder)
    for name, (_, indices) in tqdm(
        list(zip(names, products, strict=True)), desc="writing sample", leave=False
    ):
        (staging / "img" / name).mkdir()
        for number, index in enumerate(indices, start=1):
            rel = f"img/{name}/img_{number:08d}.jpg"
            image = Image.fromarray(data.x_train[index], mode="L")
            image = image.resize((IMAGE_SIDE, IMAGE_SIDE), Image.BICUBIC).convert("RGB")
            image.save(staging / rel, format="JPEG", quality=90)
            listed.append((rel, name.rsplit("_", 1)[1], name))
    splits = grouped_split(
        [f for *_, f in listed], [c for _, c, _ in listed], SAMPLE_FRACTIONS, seed
    )
    write_annotations(staging, listed, list(splits), OFFICIAL_CATEGORIES)
    marker = {
        "images": images,
        "seed": seed,
        "source": "Fashion-MNIST train split",
        "classes": {CLASSES[c]: CATEGORY_OF_CLASS[c] for c in sorted(CATEGORY_OF_CLASS)},
        "written": len(listed),
        "products": len(products),
    }
    publish(staging, Path(out_dir), marker)
    return Path(out_dir)


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


def fashion_mnist_sample_labels(
    data_dir: Path | None = None, sample_images: int = 3000, **options
) -> LabelSet:
    """The Fashion-MNIST-derived sample's labels, written first when missing."""
    from helpers.data.deepfashion import label_deepfashion
    from helpers.paths import DATA_DIR

    folder = Path(data_dir) if data_dir else DATA_DIR / f"fashion-mnist-sample-{sample_images}"
    if not holds_sample(folder, sample_images, 0, "Fashion-MNIST train split"):
        write_fashion_mnist_sample(folder, sample_images, 0)
    labels = label_deepfashion(folder, **options)
    labels.dataset = "fashion_mnist_sample"
    return labels
