"""Training and scoring on in-memory arrays, on any Keras backend (helpers.training.in_memory)."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers.data.fashion_mnist import fashion_mnist_labels
from helpers.recipes import recipe
from helpers.training import set_seeds
from helpers.training.in_memory import (
    fit_arrays,
    scaled_arrays,
    score_split,
    steps_per_epoch,
    train_split,
    trained_on,
)


def small_cnn() -> keras.Model:
    set_seeds(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


@pytest.fixture
def labels(fashion_mnist_dir):
    return fashion_mnist_labels(fashion_mnist_dir)


def test_keras_fit_trains_the_model_itself_with_the_recipe(labels):
    model = small_cnn()
    x, y = scaled_arrays(labels, "train")
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1 and y.shape == (len(x), 10)
    before = score_split(model, labels, "test")["accuracy"]
    history = fit_arrays(model, recipe("ours_tiny"), x, y, epochs=6, batch_size=32)
    assert list(history["epoch"]) == list(range(6)) and (history["seconds"] > 0).all()
    after = score_split(model, labels, "test")["accuracy"]
    assert after >= 0.9 > before  # the fake classes are bars at ten heights: easy once trained
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer",
        "Conv2D",
        "Flatten",
        "Dense",
    ]  # fmt: skip  (the augmentation layers wrapped it for training only)


def test_score_split_averages_each_image_with_its_mirror_image(labels):
    set_seeds(1)
    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(flat))
    x, y = scaled_arrays(labels, "val")
    plain = model.predict(x, verbose=0)
    mirrored = model.predict(np.flip(x, axis=2), verbose=0)  # left-right, not up-down
    truth = y.argmax(1)
    scores = score_split(model, labels, "val")
    assert scores["accuracy"] == pytest.approx(np.mean(plain.argmax(1) == truth))
    assert scores["accuracy_flip_tta"] == pytest.approx(
        np.mean((plain + mirrored).argmax(1) == truth)
    )
    expected_loss = -np.mean(np.log(plain[np.arange(len(truth)), truth]))
    assert scores["loss"] == pytest.approx(expected_loss, rel=1e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the TensorFlow loop")
def test_tensorflow_trains_through_the_one_loop(labels):
    model = small_cnn()
    history, images = train_split(model, recipe("ours_tiny"), labels, epochs=1, batch_size=32)
    assert images == len(labels.split("train"))
    assert "top3" in history  # the Trainer's history, not Keras fit's
    assert trained_on().startswith("tensorflow on ")


def test_steps_count_the_last_partial_batch():
    assert steps_per_epoch(64, 32) == 2 and steps_per_epoch(65, 32) == 3


def test_recipe_models_and_in_memory_training_import_without_the_tensorflow_loop():
    code = (
        "import sys, helpers.training, helpers.training.in_memory, helpers.recipes, "
        "helpers.models; print(sorted(m for m in sys.modules if m.startswith('helpers.training')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip()
    assert "helpers.training.in_memory" in loaded
    assert "helpers.training.loop" not in loaded and "helpers.training.distribute" not in loaded
