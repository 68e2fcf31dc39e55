"""Keras' ImageDataGenerator over the same labels table (the classic tutorials' loader): PIL
decode, bilinear resize, RGB, rescale 1/255 and its own augmentation; evaluation never shuffles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data import LabelSet
from helpers.data.registry import kind_of
from helpers.images import stored_path
from helpers.loading.augment import image_data_generator
from helpers.loading.pipeline import Batches
from helpers.loading.spec import InputSpec


def split_frame(labels: LabelSet, split: str) -> pd.DataFrame:
    """One split with absolute file paths (ImageDataGenerator needs them); a HEIC or AVIF
    photo's path is its decoded PNG's (:func:`helpers.images.stored_path`), as tf.data reads it."""
    frame = labels.split(split)
    return frame.assign(path=frame["path"].map(lambda p: stored_path(Path(labels.root) / p)))


def split_arrays(labels: LabelSet, split: str) -> tuple[np.ndarray, np.ndarray]:
    """An array dataset's split as ``(N x H x W x C uint8 images, class indices)``."""
    kind = kind_of(labels).images
    if not kind.in_memory:
        raise ValueError(f"{labels.dataset} is read from files, not arrays")
    frame = labels.split(split)
    from helpers.data.registry import stacked_images

    x = stacked_images(str(labels.root))[kind.items(labels, frame)][..., None]
    y = frame["label"].map({c: i for i, c in enumerate(labels.classes)}).to_numpy()
    return x, y


def generator_flow(spec: InputSpec, split: str, shuffle: bool | None = None):
    """The ImageDataGenerator iterator over one split (augmented as ``spec.augment`` says): files
    through ``flow_from_dataframe``, arrays through ``flow``; by default only train shuffles."""
    labels, image_size, batch_size, seed = spec.labels, spec.image_size, spec.batch_size, spec.seed
    shuffle = (split == "train") if shuffle is None else shuffle
    generator = image_data_generator(spec.augment)
    if not kind_of(labels).images.in_memory:
        return generator.flow_from_dataframe(
            split_frame(labels, split),
            x_col="path",
            y_col="label",
            classes=list(labels.classes),
            class_mode="categorical",
            target_size=(image_size, image_size),
            color_mode="rgb",
            interpolation="bilinear",
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            validate_filenames=False,  # the labeler already checked every file
        )
    import keras
    import tensorflow as tf

    x, y = split_arrays(labels, split)
    if image_size != x.shape[1]:
        x = tf.image.resize(x, (image_size, image_size)).numpy()
    targets = keras.utils.to_categorical(y, len(labels.classes))
    return generator.flow(x, targets, batch_size=batch_size, shuffle=shuffle, seed=seed)


def generator_batches(spec: InputSpec, split: str, shuffle: bool | None = None) -> Batches:
    """ImageDataGenerator as :class:`Batches`: epoch ``e`` starts at ``e x steps`` batches seen
    (Keras seeds each batch with ``seed + batches seen``), so a resumed run gets the same batches."""
    import tensorflow as tf

    flow = generator_flow(spec, split, shuffle)
    labels, image_size, augment = spec.labels, spec.image_size, spec.augment
    channels = kind_of(labels).channels
    signature = (
        tf.TensorSpec((None, image_size, image_size, channels), tf.float32),
        tf.TensorSpec((None, len(labels.classes)), tf.float32),
    )

    def make(epoch: int):
        def batches():
            flow.total_batches_seen = epoch * len(flow)
            flow.index_array = None
            for index in range(len(flow)):
                x, y = flow[index]
                yield x.astype(np.float32), y.astype(np.float32)

        return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)

    active = augment is not None and augment.active
    return Batches(flow.n, spec.batch_size, make, cache="generator", augments=active)
