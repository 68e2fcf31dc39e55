"""Training: checkpoints, history, class weights passed to fit, and resume after an interruption."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from helpers.paths import RunFiles
from helpers.training import TrainingFiles, compile_model, fit_model, load_run_model, set_seeds


def tiny_model() -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    return compile_model(keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)))


def tiny_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 8, 8, 1)).astype("float32") + y[:, None, None, None]
    return x, keras.utils.to_categorical(y, 2)


class Interrupt(Exception):
    pass


class InterruptAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt(f"interrupted after epoch {epoch}")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_fit_writes_model_history_and_best_checkpoint(tmp_path):
    set_seeds(0)
    x, y = tiny_data()
    run = RunFiles(tmp_path / "run")
    history = fit_model(tiny_model(), (x, y), (x, y), run, epochs=3, verbose=0)
    assert run.model.exists() and TrainingFiles(run).best_weights.exists()
    assert history["epoch"].tolist() == [0, 1, 2]
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(history.columns)
    assert not TrainingFiles(run).resuming()
    model = load_run_model(run)
    assert model.predict(x[:2], verbose=0).shape == (2, 2)


def test_interrupted_fit_resumes_where_it_stopped(tmp_path):
    set_seeds(0)
    x, y = tiny_data()
    run = RunFiles(tmp_path / "run")
    with pytest.raises(Interrupt):
        fit_model(
            tiny_model(),
            (x, y),
            (x, y),
            run,
            epochs=5,
            patience=10,
            verbose=0,
            extra_callbacks=[InterruptAfter(1)],
        )
    files = TrainingFiles(run)
    assert files.resuming()
    assert pd.read_csv(run.history)["epoch"].tolist() == [0, 1]
    recorder = EpochRecorder()
    history = fit_model(
        tiny_model(),
        (x, y),
        (x, y),
        run,
        epochs=5,
        patience=10,
        verbose=0,
        extra_callbacks=[recorder],
    )
    assert recorder.epochs == [2, 3, 4]  # epochs 0 and 1 were not trained again
    assert history["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert not files.resuming()


def test_class_weights_reach_fit(tmp_path, monkeypatch):
    model = tiny_model()
    seen = {}
    original = model.fit

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "fit", spy)
    x, y = tiny_data()
    fit_model(
        model,
        (x, y),
        (x, y),
        RunFiles(tmp_path / "run"),
        epochs=1,
        class_weight={0: 3.0, 1: 0.5},
        verbose=0,
    )
    assert seen["class_weight"] == {0: 3.0, 1: 0.5}


def test_fresh_fit_starts_a_new_history(tmp_path):
    x, y = tiny_data()
    run = RunFiles(tmp_path / "run")
    fit_model(tiny_model(), (x, y), (x, y), run, epochs=2, verbose=0)
    history = fit_model(tiny_model(), (x, y), (x, y), run, epochs=1, verbose=0)
    assert history["epoch"].tolist() == [0]


def test_missing_model_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.keras: not found"):
        load_run_model(RunFiles(tmp_path))
