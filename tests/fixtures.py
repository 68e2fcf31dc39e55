"""Builders of the small datasets the tests run on: nothing is downloaded or shipped."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.data.deepfashion import OFFICIAL_CATEGORIES


def jpeg_bytes(color=(200, 30, 30), size=(24, 20), mode="RGB") -> bytes:
    """A small valid JPEG (or PNG for modes JPEG cannot hold)."""
    image = Image.new("RGB", size, color).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG" if mode in {"RGBA", "P", "LA"} else "JPEG", quality=90)
    return buffer.getvalue()


def write_image(path: Path, color=(200, 30, 30), mode="RGB", size=(24, 20)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(color, size, mode))
    return path


def truncated_jpeg() -> bytes:
    """A JPEG cut in the middle of its entropy-coded data."""
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    return data[: len(data) // 2]


def category_id(name: str) -> int:
    return [n for n, _ in OFFICIAL_CATEGORIES].index(name) + 1


def list_file(rows: list[tuple[str, str]], header: str, declared: int | None = None) -> str:
    width = max(len(a) for a, _ in rows) + 6
    count = len(rows) if declared is None else declared
    return "\n".join([str(count), header, *(f"{a:<{width}}{b}" for a, b in rows)]) + "\n"


# Good images of the tree: (relative path, folder label).
GOOD = [
    ("img/Reindeer_Pattern_Sweater/img_00000001.jpg", "Sweater"),
    ("img/Reindeer_Pattern_Sweater/img_00000002.jpg", "Sweater"),
    ("img/Reindeer_Pattern_Sweater/img_00000003.jpg", "Sweater"),
    ("img/Sheer_Pleated-Front_Blouse/img_00000001.jpg", "Blouse"),
    ("img/Sheer_Pleated-Front_Blouse/img_00000002.jpg", "Blouse"),
    ("img/Cotton_Oxford_Button-Down/img_00000001.jpg", "Button-Down"),
    ("img/Cotton_Oxford_Button-Down/img_00000002.jpg", "Button-Down"),
    ("img/Lace_Swing_Tank/img_00000001.jpg", "Tank"),
    ("img/Lace_Swing_Tank/img_00000002.jpg", "Tank"),
    ("img/Lace_Swing_Tank/img_00000003.jpg", "Tank"),
]
# Kept, converted to RGB on load.
GRAYSCALE = "img/Sheer_Pleated-Front_Blouse/img_00000003.jpg"
CMYK = "img/Cotton_Oxford_Button-Down/img_00000003.jpg"
RGBA = "img/Lace_Swing_Tank/img_00000004.png"
# Skipped.
EMPTY = "img/Floral_Maxi_Dress/img_00000001.jpg"
NOT_IMAGE = "img/Floral_Maxi_Dress/img_00000002.jpg"
TRUNCATED = "img/Floral_Maxi_Dress/img_00000003.jpg"
DS_STORE = "img/Floral_Maxi_Dress/.DS_Store"
NO_UNDERSCORE = "img/Dress/img_00000001.jpg"
EMPTY_FOLDER = "img/Ribbed_Knit_Skirt"
STRAY = "img/stray.jpg"
MISSING = "img/Reindeer_Pattern_Sweater/img_00000009.jpg"
# Annotated with another category than its folder says.
DISAGREES = "img/Reindeer_Pattern_Sweater/img_00000003.jpg"


def make_deepfashion_tree(root: Path, annotations: bool = True, partition: bool = True) -> Path:
    """A tiny DeepFashion tree holding every bad-file case the labeler must handle."""
    colors = [(220, 40, 40), (40, 200, 40), (40, 40, 210), (200, 200, 40)]
    for i, (rel, _) in enumerate(GOOD):
        write_image(root / rel, colors[i % len(colors)])
    write_image(root / GRAYSCALE, mode="L")
    write_image(root / CMYK, mode="CMYK")
    write_image(root / RGBA, mode="RGBA")
    (root / EMPTY).parent.mkdir(parents=True, exist_ok=True)
    (root / EMPTY).write_bytes(b"")
    (root / NOT_IMAGE).write_text("this is not an image\n")
    (root / TRUNCATED).write_bytes(truncated_jpeg())
    (root / DS_STORE).write_bytes(b"\x00\x00\x00\x01Bud1")
    write_image(root / NO_UNDERSCORE)
    (root / EMPTY_FOLDER).mkdir(parents=True)
    write_image(root / STRAY)
    (root / "img" / ".hidden_folder").mkdir()
    if annotations:
        (root / "Anno").mkdir()
        (root / "Anno/list_category_cloth.txt").write_text(
            list_file([(n, str(t)) for n, t in OFFICIAL_CATEGORIES], "category_name  category_type")
        )
        listed = [(rel, label) for rel, label in GOOD if rel != DISAGREES]
        listed += [
            (DISAGREES, "Cardigan"),
            (GRAYSCALE, "Blouse"),
            (CMYK, "Button-Down"),
            (RGBA, "Tank"),
            (MISSING, "Sweater"),
            (TRUNCATED, "Dress"),
        ]
        rows = [(rel, str(category_id(label))) for rel, label in listed]
        # The count line is off by one, as happens in hand-edited copies.
        (root / "Anno/list_category_img.txt").write_text(
            list_file(rows, "image_name  category_label", declared=len(rows) + 1)
        )
    if partition:
        (root / "Eval").mkdir()
        split_of = {
            "Reindeer_Pattern_Sweater": "train",
            "Sheer_Pleated-Front_Blouse": "train",
            "Cotton_Oxford_Button-Down": "val",
            "Lace_Swing_Tank": "test",
            "Floral_Maxi_Dress": "test",
        }
        rows = [(rel, split_of[rel.split("/")[1]]) for rel, _ in GOOD]
        rows += [
            (p, split_of[p.split("/")[1]]) for p in (GRAYSCALE, CMYK, RGBA, MISSING, TRUNCATED)
        ]
        (root / "Eval/list_eval_partition.txt").write_text(
            list_file(rows, "image_name  evaluation_status")
        )
    return root


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file of unsigned bytes, gzipped, as Fashion-MNIST ships them."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def make_fashion_mnist(folder: Path, train: int = 240, test: int = 60, seed: int = 0) -> Path:
    """Fake Fashion-MNIST: every class is a different bright rectangle on black, with noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def images(n):
        labels = np.arange(n) % 10
        x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            top = 2 + 2 * label
            x[i, top : top + 6, 4:24] = 200 + label * 5
        return x, labels.astype(np.uint8)

    for prefix, n in (("train", train), ("t10k", test)):
        x, y = images(n)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    return folder


STYLES_HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"


def make_product_images(root: Path) -> Path:
    """A tiny Fashion Product Images (Small): commas in names, a missing image, a rare class."""
    rows = [
        "1001,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt",
        "1002,Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,Puma Men, Women Blue T-shirt",
        "1003,Women,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Red Tee",
        "1004,Women,Apparel,Bottomwear,Jeans,Blue,Fall,2011,Casual,Levis Women, Slim, Blue Jeans",
        "1005,Men,Apparel,Bottomwear,Jeans,Black,Fall,2011,Casual,Black Jeans",
        "1006,Men,Apparel,Bottomwear,Jeans,Grey,Fall,2011,Casual,Grey Jeans",
        "1007,Women,Accessories,Bags,Handbags,Brown,Winter,2016,Casual,Lone Handbag",
        "1008,Men,Apparel,Topwear,Tshirts,White,Summer,2012,Casual,Missing Image Tee",
        "1009,Men,Apparel,Topwear,Tshirts,White,Summer,2012",
    ]
    (root / "images").mkdir(parents=True)
    (root / "styles.csv").write_text("\n".join([STYLES_HEADER, *rows]) + "\n")
    for product_id in (1001, 1002, 1003, 1004, 1005, 1006, 1007):
        write_image(root / "images" / f"{product_id}.jpg")
    return root


def make_clothing_full(root: Path, folder: str = "images_compressed") -> Path:
    """A tiny clothing-dataset-full with the labels that are dropped by default."""
    rows = [
        ("a1", "101", "Pants", "False"),
        ("a2", "101", "Pants", "False"),
        ("a3", "102", "T-Shirt", "False"),
        ("a4", "103", "T-Shirt", "True"),
        ("a5", "104", "Not sure", "False"),
        ("a6", "104", "Skip", "False"),
        ("a7", "105", "Other", "False"),
        ("a8", "105", "Shoes", "False"),
        ("a9", "106", "Shoes", "False"),
        ("a10", "107", "Pants", "False"),
    ]
    (root / folder).mkdir(parents=True)
    lines = ["image,sender_id,label,kids", *(",".join(r) for r in rows)]
    (root / "images.csv").write_text("\n".join(lines) + "\n")
    for image, *_ in rows:
        if image != "a10":  # listed, not on disk
            write_image(root / folder / f"{image}.jpg")
    return root


def colour_model():
    """Reads an image's mean colour: class = the brightest channel (red, green, blue); no training needed."""
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(
        3, activation="softmax", kernel_initializer=keras.initializers.Identity(10.0)
    )(x)
    return keras.Model(inputs, outputs)


def load_bench(name: str):
    """A benchmark script of ``bench/`` as a module (they are scripts, not a package)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in the script look their module up by name
    spec.loader.exec_module(module)
    return module
