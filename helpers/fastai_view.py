"""A look at the data through fastai, optional (``pip install -r requirements-fastai.txt``: PyTorch)."""

import importlib.util
import sys

import pandas as pd

from helpers.data import LabelSet
from helpers.data.registry import kind_of


def fastai_vision():
    """``fastai.vision.all``, or None when fastai is not installed (the one place it is imported)."""
    if importlib.util.find_spec("fastai") is None:
        return None
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        # triton's C extension segfaults when it loads after TensorFlow; torch copes without it.
        sys.modules["triton"] = None
    import fastai.vision.all as vision

    return vision


def show_fastai_batch(labels: LabelSet, image_size: int = 128, seed: int = 0):
    """fastai's ``show_batch()`` of the data, or None (fastai absent, images as arrays)."""
    if kind_of(labels).images.in_memory:
        print(f"fastai's show_batch reads image files; {labels.dataset} comes as arrays: skipped.")
        return None
    vision = fastai_vision()
    if vision is None:
        print(
            "fastai is not installed (it needs PyTorch): pip install -r requirements-fastai.txt "
            "to see its show_batch here. Everything else works without it."
        )
        return None
    loaders = vision.ImageDataLoaders.from_df(
        train_valid_frame(labels), path=labels.root, fn_col="path", label_col="label",
        valid_col="is_valid", item_tfms=vision.Resize(image_size), bs=16, seed=seed, num_workers=0,
    )  # fmt: skip
    loaders.show_batch(max_n=9)
    return loaders


def train_valid_frame(labels: LabelSet) -> pd.DataFrame:
    """The train and validation rows with fastai's ``is_valid`` column (what its splitters read)."""
    return labels.table[labels.table["split"] != "test"].assign(
        is_valid=lambda t: t["split"] == "val"
    )
