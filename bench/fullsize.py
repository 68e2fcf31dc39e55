"""A DeepFashion-size tree for measuring: 289,222 images of about 300 px in the current official layout.

    python bench/fullsize.py OUT [--images 289222] [--layout current|older] [--distinct 2000]
        [--fashion-mnist DIR]

The real benchmark cannot be downloaded here, so scale questions (labeling time,
loader speed, memory) are answered on this tree: the official folder layout
(``Anno_coarse/``, ``Eval/``, ``Img/img/<Words>_<Category>/img_*.jpg``, or the older
``Anno/``, ``Eval/``, ``img/``), the benchmark's 50-category list with its real
per-category counts (Dress 72,158 down to Halter 17; four categories empty), its
209,222 / 40,000 / 40,000 partition, and JPEGs whose long side is 300 px like
the real ones. ``--distinct`` images are drawn from Fashion-MNIST (upscaled,
tinted, with photographic noise, so they decode like photos) and every other
file is a hard link to one of them: the tree costs about ``distinct`` files of
disk, not 289,222.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from helpers.data.deepfashion import LAYOUTS, OFFICIAL_CATEGORIES
from helpers.data.fashion_mnist import FashionMNISTNotFound, load_fashion_mnist
from helpers.data.sample import WORDS, list_file_text

# Images per category in the official list_category_img.txt (289,222 in all).
OFFICIAL_COUNTS = {
    "Anorak": 160, "Blazer": 7495, "Blouse": 24557, "Bomber": 309, "Button-Down": 330,
    "Cardigan": 13311, "Flannel": 324, "Halter": 17, "Henley": 716, "Hoodie": 4048,
    "Jacket": 10467, "Jersey": 748, "Parka": 676, "Peacoat": 97, "Poncho": 791,
    "Sweater": 13123, "Tank": 15429, "Tee": 36887, "Top": 10078, "Turtleneck": 146,
    "Capris": 77, "Chinos": 527, "Culottes": 486, "Cutoffs": 1669, "Gauchos": 49,
    "Jeans": 7076, "Jeggings": 594, "Jodhpurs": 45, "Joggers": 4416, "Leggings": 5013,
    "Sarong": 32, "Shorts": 19666, "Skirt": 14773, "Sweatpants": 3048, "Sweatshorts": 1106,
    "Trunks": 386, "Caftan": 54, "Cape": 0, "Coat": 2120, "Coverup": 17,
    "Dress": 72158, "Jumpsuit": 6153, "Kaftan": 126, "Kimono": 2294, "Nightdress": 0,
    "Onesie": 70, "Robe": 150, "Romper": 7408, "Shirtdress": 0, "Sundress": 0,
}  # fmt: skip
OFFICIAL_TOTAL = 289_222
OFFICIAL_PARTITION = {"train": 209_222, "val": 40_000, "test": 40_000}
LONG_SIDE = 300
# Height x width shapes seen in the benchmark: long side 300, aspect ratio kept.
SHAPES = ((300, 200), (300, 225), (300, 300), (300, 240), (200, 300), (300, 180))


def category_counts(images: int) -> dict[str, int]:
    """The official per-category counts scaled to ``images`` (largest remainders; empty stay empty)."""
    names = [name for name, _ in OFFICIAL_CATEGORIES]
    exact = np.array([OFFICIAL_COUNTS[n] for n in names], float) * images / OFFICIAL_TOTAL
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts))[: images - counts.sum()]:
        counts[i] += 1
    return dict(zip(names, counts.tolist(), strict=True))


def photo_like(pixels: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A 28x28 Fashion-MNIST image as a tinted ``shape`` RGB photo with sensor-like noise."""
    height, width = shape
    side = min(height, width)
    garment = Image.fromarray(pixels).resize((side, side), Image.BICUBIC)
    canvas = Image.new("L", (width, height), 0)
    canvas.paste(garment, ((width - side) // 2, (height - side) // 2))
    grey = np.asarray(canvas, np.float32) / 255.0
    tint = rng.uniform(0.3, 1.0, 3)
    background = rng.uniform(0.75, 1.0, 3)
    rgb = grey[..., None] * tint + (1 - grey[..., None]) * background
    rgb += rng.normal(0, 0.04, rgb.shape)
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def write_fullsize(
    out_dir: Path,
    images: int = OFFICIAL_TOTAL,
    layout: str = "current",
    distinct: int = 2000,
    seed: int = 0,
    fashion_mnist_dir: Path | None = None,
) -> Path:
    """Write the tree into ``out_dir`` (replaced); return it."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    spec = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    data = load_fashion_mnist(fashion_mnist_dir)
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    image_root = staging / spec.images
    pool = image_root / ".pool"
    pool.mkdir(parents=True)
    sources = []
    picks = rng.choice(len(data.x_train), size=distinct, replace=False)
    for i, index in enumerate(tqdm(picks, desc="distinct JPEGs", leave=False)):
        path = pool / f"{i:05d}.jpg"
        photo_like(data.x_train[index], SHAPES[i % len(SHAPES)], rng).save(path, quality=90)
        sources.append(path)

    listed: list[tuple[str, str]] = []
    counts = category_counts(images)
    for category, count in counts.items():
        start = 0
        product = 0
        while start < count:
            size = min(count - start, int(rng.integers(20, 81)))
            words = "_".join(WORDS[j] for j in rng.choice(len(WORDS), 2, replace=False))
            product += 1
            folder = f"{words}_{product}_{category}"  # the number keeps names unique
            (image_root / "img" / folder).mkdir(parents=True, exist_ok=True)
            for number in range(1, size + 1):
                rel = f"img/{folder}/img_{number:08d}.jpg"
                os.link(sources[int(rng.integers(distinct))], image_root / rel)
                listed.append((rel, category))
            start += size
    shutil.rmtree(pool)

    splits = np.array(["train"] * len(listed), dtype=object)
    shares = np.array(list(OFFICIAL_PARTITION.values()), float) / OFFICIAL_TOTAL
    order = rng.permutation(len(listed))
    val_end = round(shares[1] * len(listed))
    splits[order[:val_end]] = "val"
    splits[order[val_end : val_end + round(shares[2] * len(listed))]] = "test"
    category_id = {name: i for i, (name, _) in enumerate(OFFICIAL_CATEGORIES, start=1)}
    (staging / spec.annotations).mkdir(parents=True)
    (staging / "Eval").mkdir()
    (staging / spec.annotations / "list_category_cloth.txt").write_text(
        list_file_text(
            [(n, str(t)) for n, t in OFFICIAL_CATEGORIES], "category_name  category_type"
        )
    )
    (staging / spec.annotations / "list_category_img.txt").write_text(
        list_file_text([(p, str(category_id[c])) for p, c in listed], "image_name  category_label")
    )
    (staging / "Eval" / "list_eval_partition.txt").write_text(
        list_file_text(
            [(p, s) for (p, _), s in zip(listed, splits, strict=True)],
            "image_name  evaluation_status",
        )
    )
    if layout == "current":
        (staging / "Anno_fine").mkdir()  # the fine-grained subset, not used for categories
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/fullsize.py", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--images", type=int, default=OFFICIAL_TOTAL)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="current")
    parser.add_argument("--distinct", type=int, default=2000, help="distinct JPEG files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fashion-mnist", type=Path, help="its folder (default: searched as helpers.data does)"
    )
    args = parser.parse_args(argv)
    try:
        out = write_fullsize(
            args.out_dir, args.images, args.layout, args.distinct, args.seed, args.fashion_mnist
        )
    except (FashionMNISTNotFound, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"Wrote {args.images:,} images ({args.distinct:,} distinct) in the {args.layout} layout to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
