"""The datasets the series knows, each owning what differs between them.

Code asks ``kind_of(labels)`` (a :class:`DatasetKind`), never a dataset's name, for channels and
how to read items: files under the data folder, or Fashion-MNIST's ``<idx file>#<index>`` rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from helpers import images

if TYPE_CHECKING:
    from helpers.data.labelset import LabelSet

FASHION_MNIST = "fashion_mnist"  # the one dataset that comes as arrays (and a profile's name)


class FileImages:
    """Items are image files under the data folder."""

    channels = 3
    in_memory = False

    def items(self, labels: LabelSet, frame: pd.DataFrame) -> np.ndarray:
        root = Path(labels.root)
        return np.array([str(root / p) for p in frame["path"]], dtype=object)

    def decoder(self, labels: LabelSet, size: int | None = None) -> Callable:
        """``item -> uint8 H x W x C`` as TensorFlow ops (for tf.data); a JPEG that will be shrunk
        to ``size`` decoded at a smaller scale inside libjpeg (:func:`helpers.images.decode`)."""
        import tensorflow as tf

        return lambda path: images.decode(tf.io.read_file(path), self.channels, size)

    def read(self, labels: LabelSet, path: str) -> np.ndarray:
        return images.read_image(Path(labels.root) / path, self.channels)


class ArrayImages:
    """Items are rows of Fashion-MNIST's idx arrays: ``<idx file>#<index>``."""

    channels = 1
    in_memory = True

    def items(self, labels: LabelSet, frame: pd.DataFrame) -> np.ndarray:
        from helpers.data.fashion_mnist import FILES, load_fashion_mnist

        parts = frame["path"].str.rsplit("#", n=1)
        index = parts.str[1].astype(int).to_numpy()
        train = len(load_fashion_mnist(Path(labels.root), download=False).x_train)
        offset = np.where(parts.str[0].to_numpy() == FILES["train"][0], 0, train)
        return (index + offset).astype(np.int64)

    def decoder(self, labels: LabelSet, size: int | None = None) -> Callable:
        import tensorflow as tf

        table = tf.constant(stacked_images(str(labels.root))[..., None])
        return lambda index: tf.gather(table, index)

    def read(self, labels: LabelSet, path: str) -> np.ndarray:
        item = self.items(labels, pd.DataFrame({"path": [path]}))[0]
        return stacked_images(str(labels.root))[item][..., None]


@lru_cache(maxsize=2)
def stacked_images(folder: str) -> np.ndarray:
    """Fashion-MNIST's training then test images in one uint8 array (55 MB)."""
    from helpers.data.fashion_mnist import load_fashion_mnist

    data = load_fashion_mnist(Path(folder), download=False)
    return np.concatenate([data.x_train, data.x_test])


@dataclass(frozen=True)
class DatasetKind:
    """One dataset: its adapter, the options the adapter takes, and how its images are read."""

    name: str
    adapter: Callable[..., LabelSet]
    images: FileImages | ArrayImages
    options: tuple[str, ...] = ()
    needs_data_dir: bool = True
    description: str = ""
    plain_background: bool = False  # garments on a uniform background: a garment mask is meaningful

    @property
    def channels(self) -> int:
        return self.images.channels

    def label(self, data_dir: Path | None, **options: Any) -> LabelSet:
        if unknown := set(options) - set(self.options) - {"seed", "check_files"}:
            takes = f"it takes {list(self.options)}"
            raise ValueError(f"{self.name} takes no option {sorted(unknown)}; {takes}")
        from helpers.data.splits import gap_notes, missing_splits

        labels = self.adapter(data_dir, **options)
        gaps = missing_splits(labels.table, labels.classes)
        labels.notes += gap_notes(gaps, "too few images for the split, or none in its folders")
        return labels


@lru_cache(maxsize=1)
def datasets() -> dict[str, DatasetKind]:
    """Every dataset by name (built on first use: the adapters import pandas and PIL)."""
    from helpers.data.deepfashion import label_deepfashion
    from helpers.data.fashion_mnist import fashion_mnist_labels
    from helpers.data.fashion_mnist_sample import fashion_mnist_sample_labels
    from helpers.data.folders import label_folders
    from helpers.data.kaggle import label_clothing_full, label_product_images
    from helpers.data.sample import label_sample

    files, kind = FileImages(), DatasetKind
    kinds = (
        kind("sample", label_sample, files, ("sample_images",), needs_data_dir=False,
             description="the embedded real photos (CC0), written in DeepFashion's layout"),
        kind("folders", label_folders, files, ("split", "groups", "duplicates", "min_images"),
             description="your own photos: root/<class>/ or root/<split>/<class>/"),
        kind("fashion_mnist_sample", fashion_mnist_sample_labels, files, ("sample_images",),
             needs_data_dir=False, plain_background=True,
             description="a DeepFashion-layout sample written from Fashion-MNIST's product images"),
        kind("deepfashion", label_deepfashion, files, ("source", "split"),
             description="DeepFashion Category and Attribute Prediction (either official layout)"),
        kind(FASHION_MNIST, fashion_mnist_labels, ArrayImages(), needs_data_dir=False,
             description="Fashion-MNIST's 60k/10k idx files", plain_background=True),
        kind("product_images", label_product_images, files, ("label_column", "min_images"),
             description="Kaggle Fashion Product Images (Small): styles.csv + images/"),
        kind("clothing_full", label_clothing_full, files, ("min_images",),
             description="clothing-dataset (full): images.csv + images/ (GitHub) or images_*/ (Kaggle)"),
    )  # fmt: skip
    return {k.name: k for k in kinds}


def dataset_kind(name: str) -> DatasetKind:
    """The dataset called ``name``, or a ValueError listing the known ones."""
    known = datasets()
    if name not in known:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(known)}")
    return known[name]


def kind_of(labels: LabelSet) -> DatasetKind:
    """The :class:`DatasetKind` that knows how to read a label set's images (a bare table: files)."""
    return dataset_kind(labels.dataset or "deepfashion")
