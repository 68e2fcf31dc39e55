"""Image loading: Keras' ImageDataGenerator flows and a tf.data fast path over the same table.

Both read the labels table (``path, label, split``) relative to the data folder,
resize to ``image_size`` with bilinear interpolation, convert to RGB and scale
to [0, 1], so without augmentation they yield the same pixels for the same
files. Evaluation iterators never shuffle: row ``i`` of a prediction is row ``i``
of the split.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from helpers.data import LabelSet
from helpers.data.fashion_mnist import FILES, load_fashion_mnist

AUTOTUNE = tf.data.AUTOTUNE


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


def image_data_generator(augment: Augment | None = None) -> ImageDataGenerator:
    """A rescaling ImageDataGenerator with the requested augmentation."""
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


def split_frame(labels: LabelSet, split: str) -> pd.DataFrame:
    """One split with absolute file paths (ImageDataGenerator needs them)."""
    frame = labels.split(split)
    return frame.assign(path=frame["path"].map(lambda p: str(Path(labels.root) / p)))


def dataframe_flow(
    labels: LabelSet,
    split: str,
    image_size: int = 256,
    batch_size: int = 32,
    shuffle: bool | None = None,
    augment: Augment | None = None,
    seed: int = 0,
):
    """``flow_from_dataframe`` over one split; shuffles only the training split by default."""
    shuffle = (split == "train") if shuffle is None else shuffle
    return image_data_generator(augment).flow_from_dataframe(
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


def fashion_mnist_arrays(labels: LabelSet, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (``N x 28 x 28 x 1`` uint8) and class indices of a Fashion-MNIST split."""
    data = load_fashion_mnist(labels.root, download=False)
    frame = labels.split(split)
    parts = frame["path"].str.rsplit("#", n=1)
    index = parts.str[1].astype(int).to_numpy()
    from_train = (parts.str[0] == FILES["train"][0]).to_numpy()
    x = np.empty((len(frame), 28, 28), np.uint8)
    x[from_train] = data.x_train[index[from_train]]
    x[~from_train] = data.x_test[index[~from_train]]
    y = frame["label"].map({c: i for i, c in enumerate(labels.classes)}).to_numpy()
    return x[..., None], y


def array_flow(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    batch_size: int = 32,
    shuffle: bool = False,
    augment: Augment | None = None,
    seed: int = 0,
):
    """ImageDataGenerator ``flow`` over arrays (Fashion-MNIST)."""
    targets = tf.keras.utils.to_categorical(y, num_classes)
    return image_data_generator(augment).flow(
        x, targets, batch_size=batch_size, shuffle=shuffle, seed=seed
    )


def generator_flow(
    labels: LabelSet,
    split: str,
    image_size: int = 256,
    batch_size: int = 32,
    shuffle: bool | None = None,
    augment: Augment | None = None,
    seed: int = 0,
):
    """The ImageDataGenerator iterator for any dataset: files through ``flow_from_dataframe``, arrays through ``flow``."""
    shuffle = (split == "train") if shuffle is None else shuffle
    if labels.dataset == "fashion_mnist":
        x, y = fashion_mnist_arrays(labels, split)
        if image_size != x.shape[1]:
            x = tf.image.resize(x, (image_size, image_size)).numpy()
        return array_flow(
            x, y, len(labels.classes), batch_size, shuffle=shuffle, augment=augment, seed=seed
        )
    return dataframe_flow(
        labels, split, image_size, batch_size, shuffle=shuffle, augment=augment, seed=seed
    )


def decode_image(path: tf.Tensor, image_size: int) -> tf.Tensor:
    """Read, decode (JPEG with PIL's accurate IDCT, or PNG/GIF/BMP), RGB, resize; uint8 like PIL."""
    data = tf.io.read_file(path)
    is_jpeg = tf.strings.substr(data, 0, 2) == b"\xff\xd8"
    image = tf.cond(
        is_jpeg,
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False),
    )
    image = tf.image.resize(image, (image_size, image_size), method="bilinear", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.ensure_shape(image, (image_size, image_size, 3))


def augmentation_layers(augment: Augment, seed: int = 0) -> tf.keras.Sequential:
    """The same augmentations as Keras preprocessing layers (for tf.data)."""
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


def tf_dataset(
    labels: LabelSet,
    split: str,
    image_size: int = 256,
    batch_size: int = 32,
    shuffle: bool | None = None,
    augment: Augment | None = None,
    cache: bool | str = True,
    seed: int = 0,
) -> tf.data.Dataset:
    """tf.data over one split: parallel decode and resize, cache, shuffle, batch, augment, prefetch.

    ``cache=True`` keeps the resized uint8 images in memory (0.6 GB for 3,000
    images at 256x256); for a full DeepFashion copy pass a file path, or False.
    """
    shuffle = (split == "train") if shuffle is None else shuffle
    index = {c: i for i, c in enumerate(labels.classes)}
    if labels.dataset == "fashion_mnist":
        x, y = fashion_mnist_arrays(labels, split)
        images = tf.data.Dataset.from_tensor_slices(x)
        images = images.map(
            lambda im: _fashion_mnist_pixels(im, image_size), num_parallel_calls=AUTOTUNE
        )
    else:
        frame = split_frame(labels, split)
        y = frame["label"].map(index).to_numpy()
        images = tf.data.Dataset.from_tensor_slices(frame["path"].to_numpy())
        images = images.map(lambda p: decode_image(p, image_size), num_parallel_calls=AUTOTUNE)
    targets = tf.data.Dataset.from_tensor_slices(tf.one_hot(y, len(labels.classes)))
    dataset = tf.data.Dataset.zip((images, targets))
    if cache:
        dataset = dataset.cache(cache if isinstance(cache, str) else "")
    # Scale after the cache, image by image (parallel map threads beat one op per batch here),
    # multiplying by 1/255 exactly as ImageDataGenerator's rescale does.
    dataset = dataset.map(
        lambda a, b: (tf.cast(a, tf.float32) * (1 / 255), b), num_parallel_calls=AUTOTUNE
    )
    if shuffle:
        dataset = dataset.shuffle(min(len(y), 10_000), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment is not None and augment.active:
        layers = augmentation_layers(augment, seed)
        dataset = dataset.map(
            lambda a, b: (layers(a, training=True), b), num_parallel_calls=AUTOTUNE
        )
    return dataset.prefetch(AUTOTUNE)


def _fashion_mnist_pixels(image: tf.Tensor, image_size: int) -> tf.Tensor:
    if image_size != 28:
        image = tf.image.resize(image, (image_size, image_size), method="bilinear")
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image


def class_weights(labels: LabelSet) -> dict[int, float]:
    """'balanced' class weights from the training split: ``n / (k * count)`` per class index."""
    train = labels.split("train")["label"]
    present = [c for c in labels.classes if c in set(train)]
    weights = compute_class_weight("balanced", classes=np.array(present), y=train.to_numpy())
    by_name = dict(zip(present, weights, strict=True))
    return {i: float(by_name.get(c, 0.0)) for i, c in enumerate(labels.classes)}


def images_per_second(batches, max_batches: int | None = None) -> tuple[float, int]:
    """Iterate a Keras iterator or tf.data dataset once; return (images per second, images)."""
    steps = len(batches) if max_batches is None and hasattr(batches, "__len__") else max_batches
    started = time.perf_counter()
    seen = 0
    for step, (x, _) in enumerate(batches):
        seen += int(x.shape[0])
        if steps is not None and step + 1 >= steps:
            break
    elapsed = time.perf_counter() - started
    return seen / max(elapsed, 1e-9), seen


LOADERS = ("tf.data", "ImageDataGenerator")


def split_loaders(
    labels: LabelSet,
    image_size: int,
    batch_size: int,
    loader: str = "tf.data",
    augment: Augment | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Train (shuffled, augmented if asked), val and test (in table order) loaders of one kind."""
    if loader not in LOADERS:
        raise ValueError(f"loader must be one of {LOADERS}, got {loader!r}")
    loaders = {}
    for split in ("train", "val", "test"):
        train = split == "train"
        make = tf_dataset if loader == "tf.data" else generator_flow
        loaders[split] = make(
            labels,
            split,
            image_size,
            batch_size,
            shuffle=train,
            augment=augment if train else None,
            seed=seed,
        )
    return loaders


def loader_throughput(
    labels: LabelSet,
    image_size: int = 256,
    batch_size: int = 32,
    split: str = "train",
    epochs: int = 2,
) -> pd.DataFrame:
    """Images per second of both loaders over the same files, epoch by epoch, in this process.

    tf.data's first epoch decodes and caches; later epochs read the cache.
    """
    rows = []
    for name in LOADERS:
        make = tf_dataset if name == "tf.data" else generator_flow
        batches = make(labels, split, image_size, batch_size, shuffle=False)
        for epoch in range(1, epochs + 1):
            rate, seen = images_per_second(batches)
            rows.append(
                {"loader": name, "epoch": epoch, "images": seen, "images_per_s": round(rate, 1)}
            )
    table = pd.DataFrame(rows)
    base = table[table["loader"] == "ImageDataGenerator"].set_index("epoch")["images_per_s"]
    table["vs_ImageDataGenerator"] = (table["images_per_s"] / table["epoch"].map(base)).round(2)
    return table


def load_inputs(labels: LabelSet, rows: pd.DataFrame, image_size: int) -> np.ndarray:
    """Model inputs (``N x H x W x C`` in [0, 1]) for some rows of the labels table, in their order."""
    if rows.empty:
        channels = 1 if labels.dataset == "fashion_mnist" else 3
        return np.zeros((0, image_size, image_size, channels), np.float32)
    subset = LabelSet(
        rows[["path", "label", "split"]].assign(split="test"),
        labels.classes,
        root=labels.root,
        dataset=labels.dataset,
    )
    batches = tf_dataset(subset, "test", image_size, batch_size=max(1, len(rows)), cache=False)
    return next(iter(batches))[0].numpy()


def augmentation_preview(
    labels: LabelSet, augment: Augment, image_size: int = 128, count: int = 6, seed: int = 0
) -> dict[str, np.ndarray]:
    """The same training images: as loaded, augmented by ImageDataGenerator, and by Keras layers."""
    picked = labels.split("train").sample(min(count, len(labels.split("train"))), random_state=seed)
    original = load_inputs(labels, picked, image_size)
    generator = image_data_generator(augment).flow(
        original * 255.0, batch_size=len(original), shuffle=False, seed=seed
    )
    return {
        "original": original,
        "ImageDataGenerator": generator[0],
        "Keras layers (tf.data)": augmentation_layers(augment, seed)(
            original, training=True
        ).numpy(),
    }


def compare_pipelines(
    labels: LabelSet, split: str = "test", image_size: int = 256, batch_size: int = 32
) -> pd.Series:
    """First batch of both loaders on the same files: shapes, ranges, and how far the pixels differ."""
    x_generator, y_generator = generator_flow(labels, split, image_size, batch_size, shuffle=False)[
        0
    ]
    x_fast, y_fast = (
        t.numpy()
        for t in next(iter(tf_dataset(labels, split, image_size, batch_size, cache=False)))
    )
    difference = np.abs(x_generator - x_fast) * 255
    return pd.Series(
        {
            "ImageDataGenerator batch": f"{x_generator.shape} {x_generator.dtype} [{x_generator.min():.2f}, {x_generator.max():.2f}]",
            "tf.data batch": f"{x_fast.shape} {x_fast.dtype} [{x_fast.min():.2f}, {x_fast.max():.2f}]",
            "same labels in the same order": bool(np.array_equal(y_generator, y_fast)),
            "max pixel difference (grey levels)": round(float(difference.max()), 2),
            "mean pixel difference (grey levels)": round(float(difference.mean()), 4),
        }
    )
