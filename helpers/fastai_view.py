"""The DeepFashion write-up's look at its data through fastai: optional (fastai needs PyTorch).

``pip install -r requirements-fastai.txt`` (about 6 GB) or ``pip install .[fastai]``
enables it; without fastai the function says so and returns None.
"""

from __future__ import annotations

from helpers.data import LabelSet
from helpers.data.registry import kind_of


def show_fastai_batch(labels: LabelSet, image_size: int = 128, seed: int = 0):
    """fastai's ``ImageDataLoaders.from_df(...).show_batch()``, or None when fastai is absent
    or the dataset comes as arrays (fastai reads image files)."""
    if kind_of(labels).images.in_memory:
        print(f"fastai's show_batch reads image files; {labels.dataset} comes as arrays: skipped.")
        return None
    try:
        from fastai.vision.all import ImageDataLoaders, Resize
    except ImportError:
        print(
            "fastai is not installed (it needs PyTorch): pip install -r requirements-fastai.txt "
            "to see its show_batch here. Everything else works without it."
        )
        return None
    frame = labels.table[labels.table["split"] != "test"].assign(
        is_valid=lambda t: t["split"] == "val"
    )
    loaders = ImageDataLoaders.from_df(
        frame,
        path=labels.root,
        fn_col="path",
        label_col="label",
        valid_col="is_valid",
        item_tfms=Resize(image_size),
        bs=16,
        seed=seed,
        num_workers=0,
    )
    loaders.show_batch(max_n=9)
    return loaders
