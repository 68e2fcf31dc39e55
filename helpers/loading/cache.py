"""A disk cache of decoded, resized uint8 images: TFRecord shards written once, read every epoch.

Under ``data/cache/<key>/`` (or ``$CLOTHING_CACHE_DIR``), the key hashing the format, the size
and every item's size and modification time. A training split is written in a seeded random
order; reading shuffles shards, interleaves eight and shuffles a small buffer. Shards are renamed
into place, the manifest last: an interrupted write leaves whole shards for the next to reuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from helpers.atomic import shareable, write_json
from helpers.errors import InputError

CACHE_VERSION = 2  # 2: JPEGs DCT-scaled when shrunk (helpers.images.decode)
SHARD_IMAGES = 1024
SHUFFLE_BUFFER = 1024  # records held while shuffling: about 200 MB at 256x256x3
MANIFEST = "manifest.json"


def cache_key(
    items: np.ndarray, targets: np.ndarray, image_size: int, channels: int, shuffled: bool
) -> str:
    """A digest of everything the cached pixels depend on."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{image_size}|{channels}|{shuffled}".encode())
    for item, target in zip(items, targets, strict=True):
        stat = os.stat(item)
        digest.update(f"{item}|{stat.st_size}|{stat.st_mtime_ns}|{target}\n".encode())
    return digest.hexdigest()[:20]


class DiskCache:
    """One split's cache folder: ``shard-*.tfrecord`` and a manifest."""

    def __init__(self, folder: Path, images: int, image_size: int, channels: int):
        self.folder = Path(folder)
        self.images = images
        self.shape = (image_size, image_size, channels)

    @property
    def shard_paths(self) -> list[Path]:
        count = -(-self.images // SHARD_IMAGES)
        return [self.folder / f"shard-{i:05d}.tfrecord" for i in range(count)]

    @property
    def bytes_needed(self) -> int:
        return self.images * int(np.prod(self.shape))

    def ready(self) -> bool:
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            return False
        try:
            info = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return info.get("images") == self.images and all(p.is_file() for p in self.shard_paths)

    def write(self, items: np.ndarray, targets: np.ndarray, load: Callable, order) -> None:
        """Decode every item (``load(item) -> uint8 image``) into shards, in ``order``."""
        import tensorflow as tf
        from tqdm.auto import tqdm

        self.folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.folder).free
        missing = [i for i, path in enumerate(self.shard_paths) if not path.is_file()]
        needed = self.bytes_needed * len(missing) // max(1, len(self.shard_paths))
        if needed > free:
            raise InputError(
                self.folder,
                f"the disk cache needs {needed / 1e9:.1f} GB and {free / 1e9:.1f} GB are free: "
                "set CLOTHING_CACHE_DIR to a larger disk, or use cache='none' (streaming)",
            )

        def record(item, target):
            label = tf.bitcast(tf.cast(target, tf.int32), tf.uint8)
            return tf.io.serialize_tensor(tf.concat([label, tf.reshape(load(item), [-1])], 0))

        to_write = sum(min(SHARD_IMAGES, self.images - i * SHARD_IMAGES) for i in missing)
        with tqdm(total=self.images, desc="writing the disk cache", leave=False) as bar:
            bar.update(self.images - to_write)
            for shard in missing:
                picked = order[shard * SHARD_IMAGES : (shard + 1) * SHARD_IMAGES]
                records = tf.data.Dataset.from_tensor_slices((items[picked], targets[picked]))
                records = records.map(record, num_parallel_calls=tf.data.AUTOTUNE)
                final = self.shard_paths[shard]
                # A name of its own: several workers may write the same (identical) shard at once.
                handle, partial = tempfile.mkstemp(prefix=f".{final.name}.", dir=self.folder)
                os.close(handle)
                shareable(partial)
                with tf.io.TFRecordWriter(partial) as writer:
                    for serialized in records.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
                        writer.write(serialized)
                        bar.update(1)
                os.replace(partial, final)
        shards = len(self.shard_paths)
        manifest = {"images": self.images, "shape": list(self.shape), "shards": shards}
        write_json(self.folder / MANIFEST, {**manifest, "version": CACHE_VERSION})

    def dataset(self, shuffle: bool, seed: int):
        """``(uint8 image, class index)`` records; shuffled shards, interleaved, buffer-shuffled."""
        import tensorflow as tf

        files = tf.data.Dataset.from_tensor_slices([str(p) for p in self.shard_paths])
        if shuffle:
            files = files.shuffle(len(self.shard_paths), seed=seed, reshuffle_each_iteration=False)
        records = files.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(8, len(self.shard_paths)) if shuffle else 1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=not shuffle,
        )
        if shuffle:
            records = records.shuffle(min(self.images, SHUFFLE_BUFFER), seed=seed)
        shape = self.shape

        def parse(serialized):
            values = tf.io.parse_tensor(serialized, tf.uint8)
            target = tf.bitcast(values[:4], tf.int32)
            return tf.reshape(values[4:], shape), target

        return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
