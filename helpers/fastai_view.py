"""The DeepFashion write-up's look at its data through fastai: optional (fastai needs PyTorch).

``pip install -r requirements-fastai.txt`` (about 6 GB) or ``pip install .[fastai]``
enables it; without fastai the function says so and returns None.
"""

from __future__ import annotations

import importlib.util
import sys

import pandas as pd

from helpers.data import LabelSet
from helpers.data.registry import kind_of


def fastai_vision():
    """``fastai.vision.all``, or None when fastai is not installed.

    The one place fastai is imported. Why the ``triton`` line: PyPI's PyTorch (a CUDA build,
    seen with torch 2.14.1 and triton 3.8) imports triton, whose C extension segfaults when it
    loads after TensorFlow (2.21) in the same process, killing a notebook's kernel. Where
    TensorFlow is loaded and triton is not, triton is marked absent, so torch runs without it
    (it is only for ``torch.compile`` on GPUs).
    """
    if importlib.util.find_spec("fastai") is None:
        return None
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        sys.modules["triton"] = None  # ``import triton`` now raises ImportError; torch copes
    import fastai.vision.all as vision

    return vision


def show_fastai_batch(labels: LabelSet, image_size: int = 128, seed: int = 0):
    """fastai's ``ImageDataLoaders.from_df(...).show_batch()``, or None when fastai is absent
    or the dataset comes as arrays (fastai reads image files)."""
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
        train_valid_frame(labels),
        path=labels.root,
        fn_col="path",
        label_col="label",
        valid_col="is_valid",
        item_tfms=vision.Resize(image_size),
        bs=16,
        seed=seed,
        num_workers=0,
    )
    loaders.show_batch(max_n=9)
    return loaders


def train_valid_frame(labels: LabelSet) -> pd.DataFrame:
    """The train and validation rows with fastai's ``is_valid`` column (what its splitters read)."""
    return labels.table[labels.table["split"] != "test"].assign(
        is_valid=lambda t: t["split"] == "val"
    )
