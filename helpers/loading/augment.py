"""Augmentation settings, as Keras preprocessing layers (tf.data path) and as ImageDataGenerator."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Augment:
    """Augmentation settings, all off by default (angles in degrees, as ImageDataGenerator takes them)."""

    horizontal_flip: bool = False
    shift: float = 0.0  # fraction of the image size
    rotation: float = 0.0
    zoom: float = 0.0  # fraction of the image size
    shear: float = 0.0
    erasing: float = 0.0  # probability of random erasing (tf.data only)
    # photos: smallest share a random resized crop keeps (aspect 3/4 to 4/3; ImageDataGenerator zooms)
    crop_area: float = 0.0
    # photos: brightness and contrast jitter by up to this, saturation half as much (IDG: brightness)
    colour: float = 0.0

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


def image_data_generator(augment: Augment | None = None):
    """A rescaling ImageDataGenerator with the requested augmentation (photos read upright)."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    _read_upright_in_image_data_generator()
    augment = augment or Augment()
    zoom = augment.zoom or (1 - augment.crop_area**0.5 if augment.crop_area else 0.0)
    brightness = (1 - augment.colour, 1 + augment.colour) if augment.colour else None
    return ImageDataGenerator(
        rescale=1.0 / 255,
        horizontal_flip=augment.horizontal_flip,
        width_shift_range=augment.shift,
        height_shift_range=augment.shift,
        rotation_range=augment.rotation,
        zoom_range=zoom,
        shear_range=augment.shear,
        brightness_range=brightness,
        fill_mode="nearest",
    )


def augmentation_layers(augment: Augment, seed: int = 0):
    """The same augmentations as Keras preprocessing layers (applied in the training step)."""
    import keras

    layers, nearest = [], {"fill_mode": "nearest", "seed": seed}
    if augment.crop_area:
        layers.append(random_resized_crop(augment.crop_area, seed=seed))
    if augment.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if augment.shift:
        layers.append(keras.layers.RandomTranslation(augment.shift, augment.shift, **nearest))
    if augment.rotation:
        layers.append(keras.layers.RandomRotation(augment.rotation / 360.0, **nearest))
    if augment.zoom:
        layers.append(keras.layers.RandomZoom(augment.zoom, **nearest))
    if augment.shear:
        factor = math.tan(math.radians(augment.shear))  # RandomShear takes a factor, not degrees
        layers.append(keras.layers.RandomShear(factor, factor, **nearest))
    if augment.erasing:
        erasing = keras.layers.RandomErasing
        layers.append(erasing(augment.erasing, scale=(0.02, 0.25), value_range=(0, 1), seed=seed))
    if augment.colour:
        strength = augment.colour
        layers += [
            keras.layers.RandomContrast(strength, value_range=(0, 1), seed=seed),
            keras.layers.RandomBrightness(strength, value_range=(0, 1), seed=seed),  # clips
            keras.layers.RandomSaturation((0.5 - strength / 4, 0.5 + strength / 4), seed=seed),
        ]
    return keras.Sequential(layers, name="augmentation")


def random_resized_crop(min_area: float, seed: int = 0):
    """A layer cropping a random box of ``min_area`` to all of each image (aspect 3/4 to 4/3),
    resized back: the crop torchvision and timm train photographs with. Training only; its draws
    come from a ``SeedGenerator``, a variable a checkpoint saves. (Class built on first use.)"""
    import keras
    import tensorflow as tf

    class RandomResizedCropLayer(keras.layers.Layer):
        def __init__(self, min_area: float, seed: int = 0, **kwargs):
            super().__init__(**kwargs)
            self.min_area, self.seed = min_area, seed
            self.generator = keras.random.SeedGenerator(seed)

        def call(self, images, training=True):
            if not training:
                return images
            count = tf.shape(images)[0]
            size = tf.shape(images)[1:3]

            def uniform(low=0.0, high=1.0):
                return keras.random.uniform([count], low, high, seed=self.generator)

            area = uniform(self.min_area)
            ratio = tf.exp(uniform(-0.2877, 0.2877))  # log(3/4), log(4/3)
            height = tf.minimum(tf.sqrt(area / ratio), 1.0)
            width = tf.minimum(tf.sqrt(area * ratio), 1.0)
            top = uniform() * (1.0 - height)
            left = uniform() * (1.0 - width)
            boxes = tf.stack([top, left, top + height, left + width], axis=1)
            cropped = tf.image.crop_and_resize(images, boxes, tf.range(count), size, "bilinear")
            return tf.cast(cropped, images.dtype)

        def get_config(self):
            return {**super().get_config(), "min_area": self.min_area, "seed": self.seed}

    return RandomResizedCropLayer(min_area, seed=seed, name="random_resized_crop")


def _upright_load_img(load_img):
    """``load_img`` that first turns a JPEG upright by its EXIF orientation, as the one reader
    (:func:`helpers.images.decode`) does; files without the tag go straight through."""
    import io

    from PIL import Image, ImageOps

    def load(path, *args, **kwargs):
        with Image.open(path) as image:
            if image.getexif().get(0x0112, 1) == 1:
                return load_img(path, *args, **kwargs)
            buffer = io.BytesIO()
            ImageOps.exif_transpose(image).save(buffer, format="PNG")  # lossless
        buffer.seek(0)
        return load_img(buffer, *args, **kwargs)

    load.upright = True
    return load


def _read_upright_in_image_data_generator() -> None:
    """Make ImageDataGenerator's file iterators read phone photos upright (EXIF orientation).

    The one reach into a private Keras module: only ``keras.src.legacy.preprocessing.image``'s
    reference to ``image_utils`` is replaced, so ``keras.utils.load_img`` is untouched."""
    import types

    from keras.src.legacy.preprocessing import image as legacy

    if getattr(legacy.image_utils.load_img, "upright", False):
        return
    original = legacy.image_utils
    proxy = types.SimpleNamespace(
        **{n: getattr(original, n) for n in dir(original) if not n.startswith("__")}
    )
    proxy.load_img = _upright_load_img(original.load_img)
    legacy.image_utils = proxy
