"""Train and score a zoo model on an in-memory dataset (Fashion-MNIST) on any Keras backend: on
TensorFlow the one training loop, elsewhere (JAX) Keras' own ``fit`` with the same recipes.
"""

from __future__ import annotations

import math
import os
import time

import keras
import numpy as np
import pandas as pd

from helpers.data import LabelSet
from helpers.loading.augment import augmentation_layers
from helpers.recipes import Recipe


def trained_on() -> str:
    """The Keras backend and the device it computes on, e.g. ``jax on NVIDIA H100 80GB HBM3``."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        name = device.device_kind if device.platform != "cpu" else "CPU"
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
        name = details.get("device_name", "GPU") if gpus else "CPU"
    else:
        name = "default device"
    return f"{backend} on {name}"


def training_threads() -> int:
    """Threads TensorFlow computes with; on another backend, the CPU count."""
    if keras.backend.backend() == "tensorflow":
        from helpers.latency import tf_threads

        return tf_threads()
    return os.cpu_count() or 1


def scaled_arrays(labels: LabelSet, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A split as float32 images in [0, 1] (as the tf.data path feeds them) and one-hot targets."""
    from helpers.loading import split_arrays

    x, y = split_arrays(labels, split)
    return x.astype("float32") / 255, np.eye(len(labels.classes), dtype="float32")[y]


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Batches in one epoch, the last one partial (as ``tf_batches`` counts them)."""
    return math.ceil(images / batch_size)


def train_split(
    model: keras.Model,
    how: Recipe,
    labels: LabelSet,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    split: str = "train",
    verbose: int = 2,
) -> tuple[pd.DataFrame, int]:
    """Train ``model`` in place on ``split`` with recipe ``how``; the per-epoch history (loss,
    accuracy, seconds) and how many images one epoch saw."""
    if keras.backend.backend() == "tensorflow":
        from helpers.loading import InputSpec, tf_batches
        from helpers.training.loop import Trainer

        spec = InputSpec(labels, model.input_shape[1], batch_size, seed)
        train = tf_batches(spec, split, shuffle=True)
        trainer = Trainer(
            model, how.optimizer(epochs * len(train)), augment=how.augment,
            label_smoothing=how.label_smoothing, seed=seed,
        )  # fmt: skip
        return trainer.fit(train, None, epochs, verbose=verbose), train.images
    x, y = scaled_arrays(labels, split)
    return fit_arrays(model, how, x, y, epochs, batch_size, seed, verbose), len(x)


class _EpochSeconds(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = time.perf_counter() - self.started


def fit_arrays(
    model: keras.Model,
    how: Recipe,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    verbose: int = 2,
) -> pd.DataFrame:
    """Keras' ``fit`` with recipe ``how``: ``model`` wrapped behind the recipe's augmentation
    layers (active in training only), so ``model`` itself holds the trained weights."""
    inputs = keras.Input(model.input_shape[1:])
    augment = how.augment if how.augment is not None and how.augment.active else None
    outputs = model(augmentation_layers(augment, seed)(inputs) if augment else inputs)
    trained = keras.Model(inputs, outputs)
    trained.compile(
        optimizer=how.optimizer(epochs * steps_per_epoch(len(x), batch_size)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=how.label_smoothing),
        metrics=["accuracy"],
    )
    history = trained.fit(
        x, y, batch_size, epochs, verbose=verbose, shuffle=True, callbacks=[_EpochSeconds()]
    )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", np.arange(len(frame)))  # 0-based, as the loop counts
    return frame


def score_split(model: keras.Model, labels: LabelSet, split: str) -> dict[str, float]:
    """Cross-entropy and accuracy on ``split``, and accuracy with horizontal-flip test-time
    augmentation (the mean of the predictions for each image and its mirror image)."""
    x, y = scaled_arrays(labels, split)
    plain = np.asarray(model.predict(x, batch_size=500, verbose=0))
    mirrored = np.asarray(model.predict(x[:, :, ::-1], batch_size=500, verbose=0))
    truth = y.argmax(1)
    picked = np.clip(plain[np.arange(len(truth)), truth], 1e-7, 1.0)
    return {
        "loss": float(-np.mean(np.log(picked))),
        "accuracy": float(np.mean(plain.argmax(1) == truth)),
        "accuracy_flip_tta": float(np.mean((plain + mirrored).argmax(1) == truth)),
    }
