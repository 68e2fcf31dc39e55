"""The tf.data path: file paths (or array rows) shuffled, decoded in parallel, uint8 until the end.

The ``cache`` setting: ``none`` streams (decodes every epoch), ``memory`` decodes once into uint8
in memory, ``disk`` into TFRecord shards (:mod:`helpers.loading.cache`), ``auto`` picks memory
while it fits a quarter of RAM (:func:`plan_caches`). A training split's order in epoch ``e``
depends only on ``(seed, e)``; streaming and the disk cache let parallel decoding reorder nearby
images, the memory cache and arrays (Fashion-MNIST) do not.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from helpers import images
from helpers.data import LabelSet
from helpers.data.labelset import SPLITS
from helpers.data.registry import kind_of
from helpers.loading.cache import DiskCache, cache_key
from helpers.loading.spec import InputSpec
from helpers.paths import cache_root

CACHE_MODES = ("auto", "memory", "disk", "none")


def memory_budget() -> int:
    """Bytes of decoded images a run may keep in memory: a quarter of physical RAM."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def uint8_bytes(images: int, image_size: int, channels: int) -> int:
    return images * image_size * image_size * channels


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: a function of the run's seed and the epoch only."""
    return (seed * 1_000_003 + epoch * 7_919 + 17) % 2**31


@dataclass
class Batches:
    """One split's batches: ``epoch(e)`` is the tf.data dataset of epoch ``e``; ``cache`` says how
    images are fed (a cache mode, ``arrays`` or ``generator``); ``augments``: the loader augments
    (ImageDataGenerator); ``sharded_files``: multi-worker runs may split it by file."""

    images: int
    batch_size: int
    make: Callable[[int], object]
    cache: str = "none"
    augments: bool = False
    sharded_files: bool = False
    files: int = 0

    def epoch(self, epoch: int = 0):
        return self.make(epoch)

    def __len__(self) -> int:
        return math.ceil(self.images / self.batch_size)

    def __iter__(self):
        return iter(self.epoch(0))


def tf_batches(spec: InputSpec, split: str, shuffle: bool | None = None) -> Batches:
    """tf.data batches ``(x float32 in [0, 1], y one-hot)`` of one split of ``spec``'s labels, in
    table order unless shuffled (default: the training split only). Augmentation is the training
    step's (``spec.augment`` is not applied here)."""
    import tensorflow as tf

    labels, image_size, batch_size = spec.labels, spec.image_size, spec.batch_size
    cache, seed = spec.cache, spec.seed
    if cache not in CACHE_MODES:
        raise ValueError(f"cache must be one of {CACHE_MODES}, got {cache!r}")
    shuffle = (split == "train") if shuffle is None else shuffle
    frame = labels.split(split)
    kind = kind_of(labels).images
    items = kind.items(labels, frame)
    targets = frame["label"].map({c: i for i, c in enumerate(labels.classes)}).to_numpy(np.int32)
    classes = len(labels.classes)
    decode = kind.decoder(labels, image_size)  # a JPEG shrunk inside libjpeg where it can be
    count = len(frame)
    autotune = tf.data.AUTOTUNE

    def to_model(image, target):
        return tf.cast(image, tf.float32) * (1 / 255), tf.one_hot(target, classes)

    def ordered(rows, epoch: int):
        if not shuffle:
            return rows
        return rows.shuffle(count, seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False)

    if kind.in_memory:

        def load_batch(index, target):
            return to_model(_resized(decode(index), image_size), target)

        def make(epoch: int):
            rows = ordered(tf.data.Dataset.from_tensor_slices((items, targets)), epoch)
            rows = rows.batch(batch_size).map(load_batch, num_parallel_calls=autotune)
            return rows.prefetch(autotune)

        return Batches(count, batch_size, make, cache="arrays")

    def load(item):
        return _resized(decode(item), image_size)

    mode = split_caches(labels, image_size, cache)[split]
    if mode == "memory":
        cached = (
            tf.data.Dataset.from_tensor_slices((items.astype(str), targets))
            .map(lambda item, target: (load(item), target), num_parallel_calls=autotune)
            .cache()
        )

        def make(epoch: int):
            rows = ordered(cached, epoch).map(to_model, num_parallel_calls=autotune)
            return rows.batch(batch_size).prefetch(autotune)

        return Batches(count, batch_size, make, cache="memory")

    if mode == "disk":
        disk = disk_cache(items, targets, image_size, kind.channels, shuffle, load)

        def make(epoch: int):
            rows = disk.dataset(shuffle, epoch_seed(seed, epoch))
            rows = rows.map(to_model, num_parallel_calls=autotune, deterministic=not shuffle)
            return rows.batch(batch_size).prefetch(autotune)

        files = len(disk.shard_paths)
        return Batches(count, batch_size, make, cache="disk", sharded_files=True, files=files)

    paths = tf.data.Dataset.from_tensor_slices((items.astype(str), targets))

    def stream(item, target):  # no uint8 round trip: whole grey levels scaled straight to [0, 1]
        return _levels(decode(item), image_size) * (1 / 255), tf.one_hot(target, classes)

    def make(epoch: int):
        rows = ordered(paths, epoch)
        rows = rows.map(stream, num_parallel_calls=autotune, deterministic=not shuffle)
        return rows.batch(batch_size).prefetch(autotune)

    return Batches(count, batch_size, make, cache="none")


def _levels(image, image_size: int):
    """Grey levels (float32) of image(s) at ``image_size``: resized, or as they are when they fit."""
    import tensorflow as tf

    if _fits(image, image_size):
        return tf.cast(image, tf.float32)
    return images.resize_levels(image, image_size)


def _resized(image, image_size: int):
    """uint8 image(s) at ``image_size``; untouched when already that size (Fashion-MNIST at 28)."""
    return image if _fits(image, image_size) else images.resize(image, image_size)


def _fits(image, image_size: int) -> bool:
    return image.shape[-3] == image_size and image.shape[-2] == image_size


def split_caches(labels: LabelSet, image_size: int, cache: str = "auto") -> dict[str, str]:
    """The ``cache`` setting per split: ``auto`` resolved once, by :func:`plan_caches` over the
    run's splits (train first, sharing the memory budget); any other mode for every split."""
    if cache not in CACHE_MODES:
        raise ValueError(f"cache must be one of {CACHE_MODES}, got {cache!r}")
    if cache != "auto":
        return dict.fromkeys(SPLITS, cache)
    counts = {split: int((labels.table["split"] == split).sum()) for split in SPLITS}
    return plan_caches(counts, image_size, kind_of(labels).channels)


def plan_caches(
    counts: dict[str, int], image_size: int, channels: int, budget: int | None = None
) -> dict[str, str]:
    """``auto`` resolved per split, in the order given: ``memory`` while the split's uint8
    images fit what is left of the memory budget, else ``disk`` — except the test split, read
    only a few times per run, which streams (``none``) rather than fill a disk cache."""
    left = memory_budget() if budget is None else budget
    plan = {}
    for split, count in counts.items():
        needed = uint8_bytes(count, image_size, channels)
        plan[split] = "memory" if needed <= left else ("none" if split == "test" else "disk")
        left -= needed if plan[split] == "memory" else 0
    return plan


def disk_cache(
    items: np.ndarray,
    targets: np.ndarray,
    image_size: int,
    channels: int,
    shuffled: bool,
    load: Callable,
    seed_of_order: int = 0,
) -> DiskCache:
    """The disk cache of these items at this size, written first when it does not exist yet."""
    key = cache_key(items, targets, image_size, channels, shuffled)
    cache = DiskCache(cache_root() / key, len(items), image_size, channels)
    if not cache.ready():
        rng = np.random.default_rng(seed_of_order)
        order = rng.permutation(len(items)) if shuffled else np.arange(len(items))
        print(
            f"Writing a disk cache of {len(items):,} images at {image_size}x{image_size} "
            f"({cache.bytes_needed / 1e9:.1f} GB) to {cache.folder}; later epochs and runs reuse it"
        )
        cache.write(items.astype(str), targets, load, order)
    return cache
