"""Image loading: Keras' ImageDataGenerator flows and a tf.data path over the same labels table,
both resized, RGB, in [0, 1]. Evaluation batches never shuffle: row ``i`` is the split's row ``i``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from helpers.data import LabelSet
from helpers.data.labelset import SPLITS
from helpers.data.registry import kind_of
from helpers.loading.augment import Augment, augmentation_layers, image_data_generator
from helpers.loading.generators import (
    generator_batches,
    generator_flow,
    split_arrays,
)
from helpers.loading.pipeline import CACHE_MODES, Batches, plan_caches, split_caches, tf_batches
from helpers.loading.spec import InputSpec
from helpers.loading.throughput import compare_pipelines, images_per_second, loader_throughput

LOADERS = ("tf.data", "ImageDataGenerator")


def split_batches(spec: InputSpec) -> dict[str, Batches]:
    """Train (shuffled), val and test (table order) batches of ``spec``'s loader; ``cache='auto'``
    shares the memory budget between the splits, train first (:func:`split_caches`)."""
    if spec.loader not in LOADERS:
        raise ValueError(f"loader must be one of {LOADERS}, got {spec.loader!r}")
    if spec.loader == "ImageDataGenerator":  # it augments the training split itself
        plain = replace(spec, augment=None)
        return {
            s: generator_batches(spec if s == "train" else plain, s, s == "train") for s in SPLITS
        }
    plan = split_caches(spec.labels, spec.image_size, spec.cache)
    return {s: tf_batches(replace(spec, cache=plan[s]), s, s == "train") for s in SPLITS}


def class_weights(labels: LabelSet) -> dict[int, float]:
    """'balanced' class weights from the training split: ``n / (k * count)`` per class index."""
    from sklearn.utils.class_weight import compute_class_weight

    train = labels.split("train")["label"]
    present = [c for c in labels.classes if c in set(train)]
    weights = compute_class_weight("balanced", classes=np.array(present), y=train.to_numpy())
    by_name = dict(zip(present, weights, strict=True))
    return {i: float(by_name.get(c, 0.0)) for i, c in enumerate(labels.classes)}


def load_inputs(labels: LabelSet, rows: pd.DataFrame, image_size: int) -> np.ndarray:
    """Model inputs (``N x H x W x C`` in [0, 1]) for a few rows of the labels table, in their
    order, all in memory at once (for galleries and calibration sets)."""
    channels = kind_of(labels).channels
    if rows.empty:
        return np.zeros((0, image_size, image_size, channels), np.float32)
    table = rows[["path", "label", "split"]].assign(split="test")
    subset = LabelSet(table, labels.classes, root=labels.root, dataset=labels.dataset)
    batches = tf_batches(InputSpec(subset, image_size, len(rows)), "test", shuffle=False)
    return next(iter(batches))[0].numpy()


def augmentation_preview(
    labels: LabelSet, augment: Augment, image_size: int = 128, count: int = 6, seed: int = 0
) -> dict[str, np.ndarray]:
    """The same training images: as loaded, augmented by ImageDataGenerator, and by Keras layers."""
    train = labels.split("train")
    picked = train.sample(min(count, len(train)), random_state=seed)
    original = load_inputs(labels, picked, image_size)
    generator = image_data_generator(augment).flow(
        original * 255.0, batch_size=len(original), shuffle=False, seed=seed
    )
    return {
        "original": original,
        "ImageDataGenerator": generator[0],
        "Keras layers (tf.data)": np.asarray(
            augmentation_layers(augment, seed)(original, training=True)
        ),
    }


__all__ = [
    "CACHE_MODES",
    "LOADERS",
    "Augment",
    "Batches",
    "InputSpec",
    "augmentation_layers",
    "augmentation_preview",
    "class_weights",
    "compare_pipelines",
    "generator_batches",
    "generator_flow",
    "image_data_generator",
    "images_per_second",
    "load_inputs",
    "loader_throughput",
    "plan_caches",
    "split_arrays",
    "split_batches",
    "split_caches",
    "tf_batches",
]
