"""Fashion-MNIST from its four idx ``.gz`` files, looked up without the internet first.

Lookup order: an explicit folder, ``data/fashion-mnist/``, the Debian/Ubuntu package's folder,
the Keras cache, then Keras' own download. ``python -m helpers.data.fashion_mnist`` says where.
"""

from __future__ import annotations

import gzip
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.labelset import LabelSet
from helpers.paths import DATA_DIR

CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SEARCH_PATH = [
    DATA_DIR / "fashion-mnist",
    Path("/usr/share/datasets/fashion-mnist"),
    Path.home() / ".keras" / "datasets" / "fashion-mnist",
]
HOW_TO_GET = (
    "Fashion-MNIST not found. Install the Debian/Ubuntu package (apt-get install "
    "dataset-fashion-mnist), or put the four files {files} into {folder}/."
)


class FashionMNISTNotFound(FileNotFoundError):
    """None of the lookup places holds the four idx files."""


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for pair in FILES.values() for name in pair)


def find_fashion_mnist(path: Path | None = None, download: bool = True) -> Path:
    """The first folder in the lookup order that holds all four files."""
    if path is not None:
        if _complete(Path(path)):
            return Path(path)
        raise FashionMNISTNotFound(f"{path}: does not hold the four Fashion-MNIST .gz files")
    for folder in SEARCH_PATH:
        if _complete(folder):
            return folder
    if download:
        try:
            import keras

            keras.datasets.fashion_mnist.load_data()
        except Exception as err:  # any network or Keras failure: fall through to the message
            print(f"Keras download failed: {err}", file=sys.stderr)
        if _complete(SEARCH_PATH[-1]):
            return SEARCH_PATH[-1]
    names = ", ".join(name for pair in FILES.values() for name in pair)
    raise FashionMNISTNotFound(HOW_TO_GET.format(files=names, folder=SEARCH_PATH[0]))


def read_idx(path: Path) -> np.ndarray:
    """Read an idx1 (labels) or idx3 (images) file, gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an idx file of unsigned bytes")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    offset = 4 + 4 * dims
    expected = int(np.prod(shape))
    if len(data) - offset != expected:
        raise ValueError(
            f"{path}: header promises {expected} bytes of data, file has {len(data) - offset}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


@dataclass
class FashionMNIST:
    """The arrays (uint8 images ``N x 28 x 28``, int labels) per split, and the classes."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    folder: Path
    classes: tuple[str, ...] = tuple(CLASSES)


def load_fashion_mnist(path: Path | None = None, download: bool = True) -> FashionMNIST:
    """Load the official 60k/10k split from the first folder found."""
    folder = find_fashion_mnist(path, download)
    arrays = {}
    for split, (images, labels) in FILES.items():
        x, y = read_idx(folder / images), read_idx(folder / labels)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{folder}: {images} and {labels} do not match ({x.shape}, {y.shape})")
        arrays[split] = (x, y.astype(np.int64))
    return FashionMNIST(*arrays["train"], *arrays["test"], folder=folder)


def fashion_mnist_labels(
    path: Path | None = None, val_fraction: float = 0.1, seed: int = 0
) -> LabelSet:
    """Fashion-MNIST as a labels table (``path`` is ``<idx file>#<index>``): the official test
    split, and ``val_fraction`` of the training images (stratified by class) as validation."""
    data = load_fashion_mnist(path)
    rng = np.random.default_rng(seed)
    split = np.full(len(data.y_train), "train", dtype=object)
    for label in range(len(CLASSES)):
        members = np.flatnonzero(data.y_train == label)
        split[rng.choice(members, round(val_fraction * len(members)), replace=False)] = "val"
    parts = {"train": data.y_train, "test": data.y_test}
    table = pd.DataFrame({
        "path": [f"{FILES[s][0]}#{i}" for s, y in parts.items() for i in range(len(y))],
        "label": [CLASSES[y] for y in np.concatenate(list(parts.values()))],
        "split": np.concatenate([split, np.full(len(data.y_test), "test", dtype=object)]),
    })  # fmt: skip
    return LabelSet(table=table, classes=list(CLASSES), root=data.folder, dataset="fashion_mnist")


def main(argv: list[str] | None = None) -> int:
    """Say where Fashion-MNIST is (downloading through Keras as a last resort)."""
    download = "--no-download" not in (sys.argv[1:] if argv is None else argv)
    try:
        folder = find_fashion_mnist(download=download)
    except FashionMNISTNotFound as err:
        print(err, file=sys.stderr)
        return 1
    print(f"Fashion-MNIST: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
