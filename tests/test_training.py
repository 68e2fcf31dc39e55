"""Training: the loop's early stopping, exact resume after an interruption, class weights, stale state."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from helpers.data.fashion_mnist import fashion_mnist_labels
from helpers.loading import Augment, InputSpec, tf_batches
from helpers.paths import RunFiles
from helpers.training import Checkpoint, Trainer, load_run_model, set_seeds


class Interrupt(Exception):
    pass


class InterruptAfter(keras.callbacks.Callback):
    """Raises at the end of one epoch, as a SIGINT or a killed kernel would stop a fit."""

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


def tiny_model(seed=0) -> keras.Model:
    """A small CNN with dropout, so the dropout generator's state must survive a resume too."""
    set_seeds(seed)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


@pytest.fixture
def batches(fashion_mnist_dir):
    labels = fashion_mnist_labels(fashion_mnist_dir)
    return {
        split: tf_batches(InputSpec(labels, 28, 32, seed=5), split)
        for split in ("train", "val", "test")
    }


def trainer(model, augment=None, ema=False, **options) -> Trainer:
    optimizer = keras.optimizers.Adam(3e-3, use_ema=ema, ema_momentum=0.9)
    return Trainer(model, optimizer, augment=augment, seed=1, **options)


def fit(files, batches, epochs=6, patience=10, callbacks=(), augment=None, ema=False):
    model = tiny_model()
    history = trainer(model, augment, ema).fit(
        batches["train"], batches["val"], epochs, Checkpoint(files, {"run": "a"}),
        patience=patience, verbose=0, callbacks=callbacks,
    )  # fmt: skip
    return model, history


def test_epoch_order_depends_only_on_seed_and_epoch(batches):
    first = np.concatenate([y.numpy().argmax(1) for _, y in batches["train"].epoch(3)])
    again = np.concatenate([y.numpy().argmax(1) for _, y in batches["train"].epoch(3)])
    other = np.concatenate([y.numpy().argmax(1) for _, y in batches["train"].epoch(4)])
    assert first.tolist() == again.tolist() and first.tolist() != other.tolist()
    ordered = np.concatenate([y.numpy().argmax(1) for _, y in batches["test"].epoch(7)])
    assert ordered[:3].tolist() == [0, 1, 2]  # evaluation keeps table order


def test_interrupted_fit_resumes_to_the_same_weights_history_and_best_epoch(tmp_path, batches):
    augment = Augment(horizontal_flip=True, shift=0.1)
    whole_files = RunFiles(tmp_path / "whole")
    whole, whole_history = fit(whole_files, batches, augment=augment)

    files = RunFiles(tmp_path / "resumed")
    with pytest.raises(Interrupt):
        fit(files, batches, callbacks=[InterruptAfter(2)], augment=augment)
    assert files.training_state.exists()
    recorder = EpochRecorder()
    resumed, history = fit(files, batches, callbacks=[recorder], augment=augment)

    assert recorder.epochs == [3, 4, 5]  # epochs 0-2 were not trained again
    columns = [c for c in history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(history[columns], whole_history[columns], check_exact=True)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit: the best weights, restored
    saved = json.loads(bytes(np.load(files.training_state)["progress"]).decode())
    assert saved["best_epoch"] == int(whole_history["val_loss"].idxmin())


def test_an_ema_fit_resumes_exactly_and_keeps_the_averaged_weights(tmp_path, batches):
    whole, whole_history = fit(RunFiles(tmp_path / "whole"), batches, epochs=4, ema=True)
    files = RunFiles(tmp_path / "resumed")
    with pytest.raises(Interrupt):
        fit(files, batches, epochs=4, callbacks=[InterruptAfter(1)], ema=True)
    resumed, history = fit(files, batches, epochs=4, ema=True)
    columns = [c for c in history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(history[columns], whole_history[columns], check_exact=True)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Validation scored the averaged weights: the raw ones of the same run score differently.
    _, raw_history = fit(RunFiles(tmp_path / "raw"), batches, epochs=4)
    assert raw_history["loss"].tolist() == pytest.approx(whole_history["loss"].tolist())
    assert raw_history["val_loss"].tolist() != pytest.approx(whole_history["val_loss"].tolist())


def test_a_fixed_epoch_ema_fit_ends_with_the_average_and_evaluates_it(batches):
    model = tiny_model()
    ema = trainer(model, ema=True)
    ema.fit(batches["train"], None, 2, verbose=0)
    raw = tiny_model()
    trainer(raw).fit(batches["train"], None, 2, verbose=0)
    averages = ema.optimizer._model_variables_moving_average
    for variable, average in zip(model.trainable_variables, averages, strict=True):
        np.testing.assert_array_equal(variable.numpy(), average.numpy())
    assert not np.allclose(model.get_weights()[0], raw.get_weights()[0])
    with ema.averaged_weights():  # already the average: unchanged inside, and after
        inside = model.get_weights()[0]
    np.testing.assert_array_equal(inside, model.get_weights()[0])


def test_early_stopping_keeps_its_patience_across_a_resume(tmp_path, fashion_mnist_dir):
    """Stopped at the same epoch whether or not the fit was interrupted (patience 1)."""
    labels = fashion_mnist_labels(fashion_mnist_dir)
    val = labels.table["split"] == "val"  # shuffled validation labels: val_loss soon rises
    labels.table.loc[val, "label"] = (
        labels.table.loc[val, "label"].sample(frac=1, random_state=0).to_numpy()
    )
    batches = {
        split: tf_batches(InputSpec(labels, 28, 32, seed=5), split) for split in ("train", "val")
    }
    files = RunFiles(tmp_path / "a")
    _, whole = fit(files, batches, epochs=30, patience=1)
    assert len(whole) < 30  # it did stop early
    files_b = RunFiles(tmp_path / "b")
    with pytest.raises(Interrupt):
        fit(files_b, batches, epochs=30, patience=1, callbacks=[InterruptAfter(len(whole) - 2)])
    _, resumed = fit(files_b, batches, epochs=30, patience=1)
    assert resumed["epoch"].tolist() == whole["epoch"].tolist()


def test_state_from_other_settings_is_discarded_with_one_line(tmp_path, batches):
    files = RunFiles(tmp_path / "run")
    with pytest.raises(Interrupt):
        fit(files, batches, callbacks=[InterruptAfter(0)])
    lines = []
    model = tiny_model()
    history = trainer(model).fit(
        batches["train"],
        batches["val"],
        2,
        Checkpoint(files, {"run": "b"}),
        verbose=0,
        log=lines.append,
    )
    assert history["epoch"].tolist() == [0, 1]
    assert lines == ["Discarding the checkpoint of an unfinished fit made with run='a' (now 'b')"]


def test_state_of_another_architecture_is_discarded(tmp_path, batches):
    files = RunFiles(tmp_path / "run")
    with pytest.raises(Interrupt):
        fit(files, batches, callbacks=[InterruptAfter(0)])
    inputs = keras.Input((28, 28, 1))
    other = keras.Model(
        inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    )
    lines = []
    trainer(other).fit(
        batches["train"],
        batches["val"],
        1,
        Checkpoint(files, {"run": "a"}),
        verbose=0,
        log=lines.append,
    )
    assert len(lines) == 1 and lines[0].startswith(
        "Discarding an unreadable or mismatched checkpoint"
    )


def test_class_weights_change_the_loss(batches):
    plain = trainer(tiny_model())
    heavy = trainer(tiny_model(), class_weight={i: 5.0 for i in range(10)})
    a = plain.train_epoch(batches["train"], 0)["loss"]
    b = heavy.train_epoch(batches["train"], 0)["loss"]
    assert b == pytest.approx(5 * a, rel=1e-4)  # same first epoch, every example weighted 5


def test_evaluate_counts_every_image(batches):
    logs = trainer(tiny_model()).evaluate(batches["test"])
    assert set(logs) == {"loss", "accuracy", "top3"} and 0 <= logs["accuracy"] <= 1


def test_missing_model_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.keras: not found"):
        load_run_model(RunFiles(tmp_path))


def test_checkpoint_key_holds_the_resolved_precision(tmp_path, fashion_mnist_dir):
    """precision "auto" is float32 here and mixed on a GPU: a checkpoint records which it was,
    so a run moved between the two starts afresh instead of loading the other optimizer's state."""
    from helpers.run import Run

    run = Run.open(
        {
            "profile": "quick", "run_dir": str(tmp_path / "run"), "dataset": "fashion_mnist",
            "data_dir": str(fashion_mnist_dir), "image_size": 28, "epochs": 2, "precision": "auto",
        },
        log=lambda _: None,
    )  # fmt: skip
    with pytest.raises(Interrupt):
        run.train(verbose=0, callbacks=[InterruptAfter(0)])
    saved = json.loads(bytes(np.load(run.files.training_state)["progress"]).decode())
    assert saved["key"]["precision"] == "float32" and saved["epochs_done"] == 1


def test_file_sharded_epoch_takes_the_same_steps_on_every_worker(monkeypatch):
    """Split by file, workers hold unequal rows; each repeats its files and stops after
    images // global batch steps, so no worker waits in a collective for one that ran out."""
    import tensorflow as tf

    from helpers.loading import Batches
    from helpers.training import loop

    rng = np.random.default_rng(0)
    x = rng.random((20, 28, 28, 1)).astype("float32")  # this worker's files: fewer rows than 40
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 20)]
    make = lambda e: tf.data.Dataset.from_tensor_slices((x, y)).batch(8)  # noqa: E731
    rows = Batches(40, 8, make, sharded_files=True, files=3)
    steps = []
    hooks = type("Hooks", (), {"on_train_batch_end": lambda self, step, logs: steps.append(step)})()

    monkeypatch.setattr(loop, "worker_count", lambda strategy: 2)
    trainer(tiny_model()).train_epoch(rows, 0, hooks=hooks)
    assert steps == [0, 1, 2, 3, 4]  # 40 // 8, past the 20 rows here

    monkeypatch.setattr(loop, "worker_count", lambda strategy: 4)  # more workers than files
    steps.clear()
    trainer(tiny_model()).train_epoch(rows, 0, hooks=hooks)
    assert steps == [0, 1, 2]  # split by data instead: one pass over what is here
