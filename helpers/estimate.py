"""What one epoch will cost on this machine (time, memory, disk per split), measured in seconds on a
few images read and trained as training will, before committing to it.
"""

import math
import os
import platform
import resource
import time

import numpy as np
import pandas as pd

from helpers.data import LabelSet
from helpers.data.labelset import SPLITS
from helpers.data.registry import kind_of
from helpers.loading import Batches, InputSpec, split_caches, tf_batches
from helpers.loading.cache import SHUFFLE_BUFFER
from helpers.loading.pipeline import uint8_bytes


def loading_rate(labels: LabelSet, image_size: int, batch_size: int, images: int = 256) -> float:
    """Images per second of streaming tf.data over the first ``images`` training images."""
    from helpers.loading.throughput import first_images, images_per_second

    subset = first_images(labels, "train", images)
    batches = tf_batches(InputSpec(subset, image_size, batch_size), "train")
    images_per_second(batches.epoch(0), max_images=batch_size)  # warm up the pipeline
    return images_per_second(batches.epoch(1))[0]


def training_rate(settings, classes: int, steps: int = 3) -> float:
    """Images per second of the run's model training on random batches (after one warm-up step)."""
    import keras
    import tensorflow as tf

    from helpers.models import build_untrained
    from helpers.training import Trainer

    model = build_untrained(settings.model, settings.input_shape, classes)
    trainer = Trainer(model, keras.optimizers.Adam(1e-3))
    batch = settings.batch_size
    x = np.random.default_rng(0).random((batch, *settings.input_shape), dtype=np.float32)
    y = np.eye(classes, dtype=np.float32)[np.arange(batch) % classes]

    make = lambda epoch: tf.data.Dataset.from_tensors((x, y)).repeat(1 if epoch == 0 else steps)  # noqa: E731
    synthetic = Batches(batch * steps, batch, make)
    trainer.train_epoch(synthetic, 0)  # traces the step
    started = time.perf_counter()
    trainer.train_epoch(synthetic, 1)
    return batch * steps / (time.perf_counter() - started)


def epoch_estimate(run, labels: LabelSet, measure_training: bool = True) -> pd.DataFrame:
    """Per split: images, uint8 GB, cache, disk GB; then rates, time per epoch and peak memory."""
    settings = run.settings
    channels = kind_of(labels).channels
    counts = {split: int((labels.table["split"] == split).sum()) for split in SPLITS}
    plan = split_caches(labels, settings.image_size, settings.cache)
    if kind_of(labels).images.in_memory:
        plan = dict.fromkeys(SPLITS, "arrays")
    rows = []
    for split in SPLITS:
        gb = round(uint8_bytes(counts[split], settings.image_size, channels) / 1e9, 2)
        cache = plan[split] if settings.loader == "tf.data" else "ImageDataGenerator"
        rows.append(
            {"split": split, "images": counts[split], "uint8 GB": gb, "cache": cache,
             "memory GB": gb if plan[split] == "memory" else 0.0,
             "disk GB": gb if plan[split] == "disk" else 0.0}
        )  # fmt: skip
    table = pd.DataFrame(rows).set_index("split")
    load = loading_rate(labels, settings.image_size, settings.batch_size)
    train = training_rate(settings, len(labels.classes)) if measure_training else math.nan
    image_bytes = uint8_bytes(1, settings.image_size, channels)
    buffers = (8 * settings.batch_size * image_bytes * 4 + SHUFFLE_BUFFER * image_bytes) / 1e9
    now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kB
    peak = now + table["memory GB"].sum() + buffers
    per_epoch = (counts["train"] + counts["val"]) / min(load, train if measure_training else load)
    trained = "training not measured here (03_training measures it)"
    if measure_training:
        trained = f"training {settings.model} at {settings.image_size}px, batch {settings.batch_size}: {train:,.0f} images/s"
    import tensorflow as tf

    gpus = len(tf.config.list_logical_devices("GPU"))
    gpus = f"{gpus} GPU{'s' if gpus != 1 else ''}" if gpus else "no GPU"
    run.log(
        f"This machine: {os.cpu_count()} CPUs, {gpus}, {platform.machine()}. Loading (streaming) "
        f"{load:,.0f} images/s; {trained}."
    )
    run.log(
        f"Expected per epoch{'' if measure_training else ' of loading'}: {_duration(per_epoch)} "
        f"({counts['train']:,} training + {counts['val']:,} validation images); peak memory about "
        f"{peak:.1f} GB; disk cache {table['disk GB'].sum():.1f} GB (written once, reused)."
    )
    return table


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
