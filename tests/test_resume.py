"""Exact resume on the recipes photos train with: a fit killed between epochs, mid-epoch or by
SIGKILL, any number of times, ends with the uninterrupted fit's history and weights to the bit."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.loading import Augment
from helpers.loading.augment import augmentation_layers
from helpers.models import build_untrained
from helpers.run import Run

COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
PHOTO_RUN = {"model": "fashion_cnn", "recipe": "photo", "image_size": 32, "epochs": 5}
# The fine-tuning recipe (head-first probe, batch norm frozen, AdamW warm-up and cosine, label
# smoothing, photo augmentation) on a small model with batch norm and dropout: efficientnet_lite0
# costs a minute a fit on 2 cores; its own random draws are checked below.
FINETUNE_RUN = {"model": "fashion_cnn", "recipe": "finetune", "image_size": 32, "epochs": 4}


class Killed(Exception):
    pass


class Kill(keras.callbacks.Callback):
    """Raises after this fit's ``batches``-th training batch (mid-epoch) or at the end of
    ``epoch`` (after its state was saved), as a kill at that moment would stop the process."""

    def __init__(self, batches: int | None = None, epoch: int | None = None):
        super().__init__()
        self.batches, self.epoch, self.seen = batches, epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            raise Killed(f"killed after batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Killed(f"killed after epoch {epoch}")


class Fingerprints(keras.callbacks.Callback):
    """Every epoch's weights (a SHA-256 of them, the last one of each epoch kept) and the
    epochs begun, across all the fits it is given to."""

    def __init__(self):
        super().__init__()
        self.weights, self.begun = {}, []

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = digest(self.model.get_weights())


def digest(weights) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()


def write_photos(root: Path, per_split=(8, 3, 2), size=40) -> Path:
    """``root/{train,val,test}/<colour>/*.jpg``: textured photos (noise, stripes) of a class
    colour, so a crop, flip or colour jitter changes what the model sees."""
    rng = np.random.default_rng(0)
    for split, count in zip(("train", "val", "test"), per_split, strict=True):
        for name, colour in COLOURS.items():
            for i in range(count):
                stripes = (np.arange(size) // (3 + i % 4) % 2 * 60)[None, :, None]
                noise = rng.integers(-50, 50, (size, size, 3))
                pixels = np.clip(np.array(colour) + stripes + noise, 0, 255).astype(np.uint8)
                path = root / split / name / f"{name}{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path, quality=90)
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos"))


def parameters(run_dir: Path, photos: Path, run: dict) -> dict:
    return {
        "profile": "quick", "run_dir": str(run_dir), "dataset": "folders",
        "data_dir": str(photos), "batch_size": 8, "cache": "memory", "patience": 10, **run,
    }  # fmt: skip


def train(run_dir: Path, photos: Path, run: dict, kills=(), fingerprints=None):
    """Train, killed (in-process) by each of ``kills`` in turn and started again each time."""
    fingerprints = fingerprints or Fingerprints()
    for kill in kills:
        with pytest.raises(Killed):
            Run.open(parameters(run_dir, photos, run), log=lambda _: None).train(
                verbose=0, callbacks=[fingerprints, kill]
            )
    trained = Run.open(parameters(run_dir, photos, run), log=lambda _: None).train(
        verbose=0, callbacks=[fingerprints]
    )
    return trained, fingerprints


def assert_same_fit(resumed, whole, run_dir: Path, whole_dir: Path) -> None:
    """Every epoch's history columns and weights, the best weights kept and history.csv: equal."""
    (trained, prints), (trained_whole, prints_whole) = resumed, whole
    columns = [c for c in trained_whole.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(
        trained.history[columns], trained_whole.history[columns], check_exact=True
    )
    assert prints.weights == prints_whole.weights  # every epoch's weights, the last epoch's too
    for a, b in zip(trained.model.get_weights(), trained_whole.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the best epoch's weights, restored and saved
    csv = [pd.read_csv(d / "history.csv")[columns] for d in (run_dir, whole_dir)]
    pd.testing.assert_frame_equal(*csv, check_exact=True)


@pytest.fixture(scope="module")
def whole_photo_run(photos, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("whole-photo")
    return train(run_dir, photos, PHOTO_RUN), run_dir


def test_photo_recipe_resumes_exactly_after_kills_between_and_within_epochs(
    photos, whole_photo_run, tmp_path
):
    """3 batches an epoch: killed mid-epoch 1, after epoch 2, in the first batch of epoch 3 (each
    time from the state saved before), then run to the end."""
    kills = [Kill(batches=5), Kill(epoch=2), Kill(batches=1)]
    resumed = train(tmp_path / "run", photos, PHOTO_RUN, kills)
    assert resumed[1].begun == [0, 1, 1, 2, 3, 3, 4]  # each kill resumed from its last saved epoch
    whole, whole_dir = whole_photo_run
    assert whole[1].begun == [0, 1, 2, 3, 4]
    assert_same_fit(resumed, whole, tmp_path / "run", whole_dir)


def test_finetune_recipe_resumes_exactly_after_kills_between_and_within_epochs(photos, tmp_path):
    """Killed after epoch 0, then (resumed at epoch 1) in the middle of epoch 2."""
    whole = train(tmp_path / "whole", photos, FINETUNE_RUN)
    kills = [Kill(epoch=0), Kill(batches=5)]
    resumed = train(tmp_path / "run", photos, FINETUNE_RUN, kills)
    assert resumed[1].begun == [0, 1, 2, 2, 3]
    assert_same_fit(resumed, whole, tmp_path / "run", tmp_path / "whole")


def test_a_sigkilled_training_process_resumes_exactly(photos, whole_photo_run, tmp_path):
    """``python -m helpers.train`` killed with SIGKILL once an epoch is done (wherever it then
    is), then started again: the history and weights of the uninterrupted run."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "helpers.train", "--verbose", "0", "--run-dir", str(run_dir)]
    for name, value in parameters(run_dir, photos, PHOTO_RUN).items():
        if name != "run_dir":
            command += ["-p", name, str(value)]
    history, log = run_dir / "history.csv", tmp_path / "train.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not history.exists():
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "no epoch within 300 s"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    assert not (run_dir / "model.keras").exists()  # killed before the end
    resumed = train(run_dir, photos, PHOTO_RUN)
    assert resumed[1].begun[0] >= 1  # resumed, not started again
    (whole, whole_prints), _ = whole_photo_run
    columns = [c for c in whole.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(
        resumed[0].history[columns], whole.history[columns], check_exact=True
    )
    assert all(resumed[1].weights[e] == whole_prints.weights[e] for e in resumed[1].weights)
    assert digest(resumed[0].model.get_weights()) == digest(whole.model.get_weights())


@pytest.mark.parametrize("name", ["fashion_cnn", "efficientnet_lite0"])
def test_a_models_training_draws_depend_only_on_its_variables(name):
    """Dropout (and anything else random in training mode) draws from the model's variables."""
    images = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
    first = build_untrained(name, (32, 32, 3), 3)
    first(images, training=True)
    saved = [v.numpy() for v in first.variables]
    expected = np.asarray(first(images, training=True))
    second = build_untrained(name, (32, 32, 3), 3)
    for variable, value in zip(second.variables, saved, strict=True):
        variable.assign(value)
    np.testing.assert_array_equal(np.asarray(second(images, training=True)), expected)


@pytest.mark.parametrize(
    "augment",
    [
        Augment(crop_area=0.35),
        Augment(horizontal_flip=True, shift=0.1, rotation=10, zoom=0.1, shear=5),
        Augment(erasing=0.5, colour=0.2),
    ],
)
def test_augmentation_draws_depend_only_on_its_variables(augment):
    """Every random draw of the augmentation comes from its variables (what a checkpoint saves):
    a fresh copy given another's variables makes the same next draw."""
    images = np.random.default_rng(0).random((4, 24, 24, 3)).astype("float32")
    first = augmentation_layers(augment, seed=3)
    first.build(images.shape)
    first(images, training=True)  # move the generators on
    saved = [v.numpy() for v in first.variables]
    expected = np.asarray(first(images, training=True))
    second = augmentation_layers(augment, seed=3)
    second.build(images.shape)
    assert len(second.variables) == len(saved)
    for variable, value in zip(second.variables, saved, strict=True):
        variable.assign(value)
    np.testing.assert_array_equal(np.asarray(second(images, training=True)), expected)
