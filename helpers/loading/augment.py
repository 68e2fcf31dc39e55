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
    For photographs: ``crop_area`` the smallest share of the image a random resized
    crop keeps (aspect ratio 3/4 to 4/3, as torchvision's ``RandomResizedCrop``;
    ImageDataGenerator zooms instead), ``colour`` the strength of a mild colour
    jitter (brightness and contrast by up to that fraction, saturation half as much;
    ImageDataGenerator jitters brightness only).
    """

    horizontal_flip: bool = False
    shift: float = 0.0
    rotation: float = 0.0
    zoom: float = 0.0
    shear: float = 0.0
    erasing: float = 0.0
    crop_area: float = 0.0
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

    layers = []
    if augment.crop_area:
        layers.append(random_resized_crop(augment.crop_area, seed=seed))
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
    if augment.colour:
        strength = augment.colour
        layers += [
            keras.layers.RandomContrast(strength, value_range=(0, 1), seed=seed),
            keras.layers.RandomBrightness(strength, value_range=(0, 1), seed=seed),  # clips
            keras.layers.RandomSaturation((0.5 - strength / 4, 0.5 + strength / 4), seed=seed),
        ]
    return keras.Sequential(layers, name="augmentation")


def _random_resized_crop_layer():
    """The random resized crop layer class (built on first use: it needs Keras and TensorFlow)."""
    import keras
    import tensorflow as tf

    class RandomResizedCropLayer(keras.layers.Layer):
        """A random box of ``min_area`` to all of each image (aspect 3/4 to 4/3), resized back to
        the image's size: the crop torchvision and timm train photographs with. Training only."""

        def __init__(self, min_area: float, seed: int = 0, **kwargs):
            super().__init__(**kwargs)
            self.min_area, self.seed = min_area, seed
            self.generator = tf.random.Generator.from_seed(seed)

        def call(self, images, training=True):
            if not training:
                return images
            count = tf.shape(images)[0]
            size = tf.shape(images)[1:3]
            area = self.generator.uniform([count], self.min_area, 1.0)
            log_ratio = self.generator.uniform([count], -0.2877, 0.2877)  # log(3/4), log(4/3)
            ratio = tf.exp(log_ratio)
            height = tf.minimum(tf.sqrt(area / ratio), 1.0)
            width = tf.minimum(tf.sqrt(area * ratio), 1.0)
            top = self.generator.uniform([count]) * (1.0 - height)
            left = self.generator.uniform([count]) * (1.0 - width)
            boxes = tf.stack([top, left, top + height, left + width], axis=1)
            cropped = tf.image.crop_and_resize(
                images, boxes, tf.range(count), size, method="bilinear"
            )
            return tf.cast(cropped, images.dtype)

        def get_config(self):
            return {**super().get_config(), "min_area": self.min_area, "seed": self.seed}

    return RandomResizedCropLayer


def random_resized_crop(min_area: float, seed: int = 0):
    """A random resized crop keeping ``min_area`` to all of each image (see the layer)."""
    return _random_resized_crop_layer()(min_area, seed=seed, name="random_resized_crop")


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
    """Make ImageDataGenerator's file iterators read phone photos upright.

    The one place that reaches into a private Keras module: ImageDataGenerator
    (``keras.src.legacy.preprocessing.image``) reads files with PIL through
    ``image_utils.load_img``, which ignores the EXIF orientation that TensorFlow's
    path applies. Only that module's reference is replaced (by a namespace that
    passes everything else through), so ``keras.utils.load_img`` is untouched.
    """
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
