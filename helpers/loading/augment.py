"""Augmentation settings, as Keras preprocessing layers (tf.data path) and as ImageDataGenerator."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Augment:
    """Augmentation settings, all off by default.

    ``shift`` and ``zoom`` are fractions of the image size, ``rotation`` and
    ``shear`` angles in degrees (as ImageDataGenerator takes them), ``erasing``
    the probability of random erasing (tf.data only: ImageDataGenerator has none).
    """

    horizontal_flip: bool = False
    shift: float = 0.0
    rotation: float = 0.0
    zoom: float = 0.0
    shear: float = 0.0
    erasing: float = 0.0

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def image_data_generator(augment: Augment | None = None):
    """A rescaling ImageDataGenerator with the requested augmentation."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    augment = augment or Augment()
    return ImageDataGenerator(
        rescale=1.0 / 255,
        horizontal_flip=augment.horizontal_flip,
        width_shift_range=augment.shift,
        height_shift_range=augment.shift,
        rotation_range=augment.rotation,
        zoom_range=augment.zoom,
        shear_range=augment.shear,
        fill_mode="nearest",
    )


def augmentation_layers(augment: Augment, seed: int = 0):
    """The same augmentations as Keras preprocessing layers (applied in the training step)."""
    import keras

    layers = []
    if augment.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if augment.shift:
        layers.append(
            keras.layers.RandomTranslation(
                augment.shift, augment.shift, fill_mode="nearest", seed=seed
            )
        )
    if augment.rotation:
        layers.append(
            keras.layers.RandomRotation(augment.rotation / 360.0, fill_mode="nearest", seed=seed)
        )
    if augment.zoom:
        layers.append(keras.layers.RandomZoom(augment.zoom, fill_mode="nearest", seed=seed))
    if augment.shear:
        factor = math.tan(math.radians(augment.shear))  # RandomShear takes a factor, not degrees
        layers.append(keras.layers.RandomShear(factor, factor, fill_mode="nearest", seed=seed))
    if augment.erasing:
        layers.append(
            keras.layers.RandomErasing(
                augment.erasing, scale=(0.02, 0.25), value_range=(0, 1), seed=seed
            )
        )
    return keras.Sequential(layers, name="augmentation")
