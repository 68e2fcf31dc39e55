"""Compile and fit: early stopping, best-model checkpoint, resume after interruption, history CSV.

``fit_model`` writes into a run folder: ``checkpoints/best.weights.h5`` (best
validation loss), ``checkpoints/backup/`` (Keras' BackupAndRestore: an
interrupted fit resumes at the epoch it stopped), ``history.csv`` (one row per
epoch, kept across a resume) and finally ``model.keras`` with the best weights.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import pandas as pd

from helpers.paths import RunFiles, write_json


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and the backend so a run can be repeated."""
    keras.utils.set_random_seed(seed)


def compile_model(model: keras.Model, learning_rate: float = 1e-3, optimizer=None) -> keras.Model:
    """Adam (or ``optimizer``), categorical cross-entropy, accuracy and top-3 accuracy."""
    metrics = ["accuracy"]
    if model.output_shape[-1] > 3:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(k=3, name="top3"))
    optimizer = optimizer or keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=metrics)
    return model


def warmup_cosine_adamw(
    total_steps: int,
    peak_learning_rate: float = 3e-3,
    warmup_fraction: float = 0.05,
    weight_decay: float = 5e-4,
) -> keras.optimizers.Optimizer:
    """AdamW whose learning rate rises linearly from 0 for the first steps, then follows a cosine to 0."""
    warmup = max(1, int(total_steps * warmup_fraction))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=peak_learning_rate,
        warmup_steps=warmup,
    )
    return keras.optimizers.AdamW(schedule, weight_decay=weight_decay)


class EpochTimer(keras.callbacks.Callback):
    """Adds ``seconds`` (wall time of the epoch) to the logs, so the history CSV records it."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = round(time.perf_counter() - self._started, 2)


@dataclass(frozen=True)
class TrainingFiles:
    """Where one run's training state lives."""

    run: RunFiles

    @property
    def checkpoints(self):
        return self.run.root / "checkpoints"

    @property
    def best_weights(self):
        return self.checkpoints / "best.weights.h5"

    @property
    def backup(self):
        return self.checkpoints / "backup"

    def resuming(self) -> bool:
        """Whether an interrupted fit left a backup to resume from."""
        return self.backup.exists() and any(self.backup.iterdir())


def fit_model(
    model: keras.Model,
    train,
    validation,
    run: RunFiles,
    epochs: int,
    class_weight: dict[int, float] | None = None,
    patience: int = 3,
    verbose: int | str = "auto",
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
) -> pd.DataFrame:
    """Fit with early stopping (patience, best weights restored), checkpoints and resume.

    ``train`` is a tf.data dataset, a Keras iterator or an ``(x, y)`` tuple of
    arrays. A fresh fit starts a new ``history.csv``; a resumed one (backup present)
    appends to it. ``class_weight`` is passed straight to ``model.fit``.
    Returns the history of every epoch so far, and saves ``model.keras``.
    """
    files = TrainingFiles(run.ensure())
    files.checkpoints.mkdir(parents=True, exist_ok=True)
    if not files.resuming():
        run.history.unlink(missing_ok=True)
        files.best_weights.unlink(missing_ok=True)
    callbacks = [
        EpochTimer(),  # first, so the loggers below see its "seconds"
        keras.callbacks.BackupAndRestore(str(files.backup)),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        ),
        keras.callbacks.ModelCheckpoint(
            str(files.best_weights), monitor="val_loss", save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.CSVLogger(str(run.history), append=True),
        *(extra_callbacks or []),
    ]
    x, y = train if isinstance(train, tuple) else (train, None)
    model.fit(
        x,
        y,
        validation_data=validation,
        epochs=epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=verbose,
    )
    if files.best_weights.exists():
        model.load_weights(str(files.best_weights))
    model.save(run.model)
    shutil.rmtree(files.backup, ignore_errors=True)
    return read_history(run)


def record_training(
    run: RunFiles,
    model_name: str,
    model: keras.Model,
    history: pd.DataFrame,
    test_scores: dict[str, float],
    **extra,
) -> dict:
    """Write ``training.json``: what was trained, for how long, and how it scored on the test split."""
    best = history.loc[history["val_loss"].idxmin()]
    record = {
        "model": model_name,
        "params": int(model.count_params()),
        "input_shape": list(model.input_shape[1:]),
        "classes": int(model.output_shape[-1]),
        "chance_accuracy": round(1 / model.output_shape[-1], 4),
        "epochs_run": len(history),
        "best_epoch": int(best["epoch"]),
        "best_val_accuracy": round(float(best.get("val_accuracy", float("nan"))), 4),
        "train_seconds": round(float(history["seconds"].sum()), 1)
        if "seconds" in history
        else None,
        "test": {k: round(float(v), 4) for k, v in test_scores.items()},
        **extra,
    }
    write_json(run.training, record)
    return record


def read_history(run: RunFiles) -> pd.DataFrame:
    """The training history CSV (one row per epoch)."""
    if not run.history.exists():
        raise FileNotFoundError(f"{run.history}: not found; train a model first (03_training)")
    return pd.read_csv(run.history)


def recipe(model_name: str, total_steps: int):
    """``(optimizer, augmentation)`` for a zoo model.

    Our models train with AdamW (linear warm-up, then cosine) and shift + flip
    augmentation (their dropout regularises the rest); the seed models as their
    write-ups did: Adam at 1e-3, no augmentation.
    """
    from helpers.loading import Augment

    if model_name.startswith("ours"):
        return warmup_cosine_adamw(total_steps), Augment(horizontal_flip=True, shift=0.1)
    return keras.optimizers.Adam(1e-3), None


def train_run_model(cfg, labels, verbose: int | str = 2) -> tuple[keras.Model, pd.DataFrame, dict]:
    """What 03_training does: build the zoo model, fit it with its recipe, score the test split, save everything."""
    import math

    from helpers.loading import split_loaders
    from helpers.models import build_model

    set_seeds(cfg.seed)
    steps = cfg.epochs * math.ceil(len(labels.split("train")) / cfg.batch_size)
    optimizer, augment = recipe(cfg.model, steps)
    model = compile_model(
        build_model(cfg.model, cfg.input_shape, len(labels.classes)), optimizer=optimizer
    )
    data = split_loaders(
        labels, cfg.image_size, cfg.batch_size, cfg.loader, augment=augment, seed=cfg.seed
    )
    history = fit_model(
        model, data["train"], data["val"], cfg.run, epochs=cfg.epochs, verbose=verbose
    )
    scores = model.evaluate(data["test"], return_dict=True, verbose=0)
    record = record_training(
        cfg.run, cfg.model, model, history, scores, loader=cfg.loader, image_size=cfg.image_size
    )
    return model, history, record


def trained_model(cfg, labels) -> keras.Model:
    """The run's trained model; trains it first (as 03_training would) when the run folder has none."""
    if not cfg.run.model.exists():
        print(
            f"No trained model in {cfg.run.root}: training {cfg.model} for {cfg.epochs} epochs first"
        )
        train_run_model(cfg, labels)
    return load_run_model(cfg.run)


def model_for_run(run: RunFiles, name: str, input_shape, num_classes: int) -> keras.Model:
    """The run's trained model when 03_training saved one, else the untrained zoo model ``name``.

    Receptive fields and FLOPs do not depend on the weights, so 04 and 05 can
    run before (or without) training.
    """
    if run.model.exists():
        print(f"Using the trained model {run.model}")
        return load_run_model(run)
    from helpers.models import BACKBONES, build_model

    print(
        f"No trained model in {run.root}: using an untrained {name} (fields and costs do not depend on weights)"
    )
    return build_model(
        name,
        input_shape,
        num_classes,
        **({"weights": None} if name in BACKBONES else {}),
    )


def load_run_model(run: RunFiles) -> keras.Model:
    """The run's trained model (``model.keras``), naming the file if it is missing."""
    import helpers.models  # noqa: F401  (registers the custom preprocessing layer)

    if not run.model.exists():
        raise FileNotFoundError(f"{run.model}: not found; run 03_training first")
    return keras.models.load_model(run.model)
