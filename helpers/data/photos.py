"""The embedded real photos: CC0 phone photos of clothing, the source of the default sample.

``data/photos/`` holds whole photos from alexeygrigorev/clothing-dataset-small (CC0 1.0), one
folder per class, and ``photos.csv``: each photo's source id, contributor and class (itself a
``folders`` dataset). ``bench/embed_photos.py`` rebuilds it from the published set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.text import read_csv_table
from helpers.errors import InputError
from helpers.paths import DATA_DIR

PHOTOS_DIR = DATA_DIR / "photos"
POOL_FILE = "photos.csv"
POOL_COLUMNS = ["file", "image", "sender_id", "label", "source_split"]
# The small set's folder names -> the full set's label spelling, and DeepFashion's category type.
CLASSES = {
    "t-shirt": ("T-Shirt", 1),
    "longsleeve": ("Longsleeve", 1),
    "shirt": ("Shirt", 1),
    "outwear": ("Outwear", 1),
    "pants": ("Pants", 2),
    "shorts": ("Shorts", 2),
    "skirt": ("Skirt", 2),
    "dress": ("Dress", 3),
}
LICENCE = "CC0-1.0"
SOURCE = "alexeygrigorev/clothing-dataset-small (GitHub)"


def read_pool(folder: Path = PHOTOS_DIR) -> pd.DataFrame:
    """The embedded photos' table, or an InputError saying how to get them."""
    path = Path(folder) / POOL_FILE
    if not path.is_file():
        raise InputError(path, "not found: the embedded photos are missing (a partial checkout?)")
    return read_csv_table(path, POOL_COLUMNS)


def choose_photos(pool: pd.DataFrame, images: int, seed: int) -> pd.DataFrame:
    """About ``images`` photos of the pool, each class in its pool share (deterministic)."""
    if images >= len(pool):
        return pool.sort_values("file").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    shuffled = pool.sort_values("file").iloc[rng.permutation(len(pool))]
    share = shuffled["label"].value_counts(normalize=True)
    quota = (share * images).round().astype(int).clip(lower=3)
    picked = [shuffled[shuffled["label"] == label].head(n) for label, n in quota.items()]
    return pd.concat(picked).sort_values("file").reset_index(drop=True)
