"""How fast the loaders feed, and how far their pixels differ, on the same (at most
``max_images``) files."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from helpers.data import LabelSet
from helpers.loading.generators import generator_flow
from helpers.loading.pipeline import tf_batches
from helpers.loading.spec import InputSpec


def images_per_second(batches, max_images: int | None = None) -> tuple[float, int]:
    """Iterate a dataset or Keras iterator once (at most ``max_images``): (images/s, images),
    timed from the first batch on (the steady rate, without either loader's start-up)."""
    # A Keras iterator repeats forever when iterated: index it for one epoch.
    keras_iterator = hasattr(batches, "__getitem__")
    iterator = iter((batches[i] for i in range(len(batches))) if keras_iterator else batches)
    first = next(iterator, None)
    if first is None:
        return 0.0, 0
    started = time.perf_counter()
    seen = 0
    for x, _ in iterator:
        seen += int(x.shape[0])
        if max_images is not None and seen + int(first[0].shape[0]) >= max_images:
            break
    elapsed = time.perf_counter() - started
    return seen / max(elapsed, 1e-9), seen + int(first[0].shape[0])


def loader_throughput(
    labels: LabelSet,
    image_size: int = 256,
    batch_size: int = 32,
    split: str = "train",
    max_images: int = 2000,
    caches: tuple[str, ...] = ("none", "memory"),
) -> pd.DataFrame:
    """Images per second of ImageDataGenerator and tf.data (per cache mode) over the same files,
    shuffled as in training; cached modes twice (filling the cache, then reading it)."""
    subset = first_images(labels, split, max_images)
    rows = []
    spec = InputSpec(subset, image_size, batch_size)
    flow = generator_flow(spec, split, shuffle=True)
    rows.append(_row("ImageDataGenerator", "", 1, *images_per_second(flow)))
    for cache in caches:
        batches = tf_batches(dataclasses.replace(spec, cache=cache), split, shuffle=True)
        for epoch in range(1, 3 if cache in {"memory", "disk"} else 2):
            rows.append(_row("tf.data", cache, epoch, *images_per_second(batches.epoch(epoch))))
    table = pd.DataFrame(rows)
    rates = table["images_per_s"]
    table["vs_ImageDataGenerator"] = (rates / rates.iloc[0]).round(2)
    return table


def _row(loader: str, cache: str, epoch: int, rate: float, seen: int) -> dict:
    names = {"none": "streaming", "memory": "memory cache", "disk": "disk cache"}
    return {
        "loader": loader if not cache else f"{loader} ({names.get(cache, cache)})",
        "pass": epoch,
        "images": seen,
        "images_per_s": round(rate, 1),
    }


def first_images(labels: LabelSet, split: str, max_images: int) -> LabelSet:
    """The same labels with ``split`` cut to its first ``max_images`` rows."""
    frame = labels.table
    keep = frame["split"] != split
    keep |= frame.groupby("split").cumcount() < max_images
    return dataclasses.replace(labels, table=frame[keep])


def compare_pipelines(
    labels: LabelSet, split: str = "test", image_size: int = 256, batch_size: int = 32
) -> pd.Series:
    """First batch of both loaders on the same files: shapes, ranges, and how far the pixels differ."""
    spec = InputSpec(labels, image_size, batch_size)
    x_generator, y_generator = generator_flow(spec, split, shuffle=False)[0]
    x_fast, y_fast = (t.numpy() for t in next(iter(tf_batches(spec, split).epoch(0))))
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
