"""Training: the one path notebook 03, ``python -m helpers.train`` and the benchmarks share.

TensorFlow is imported only when the loop or a strategy is used, so the recipes, the models and
:mod:`helpers.training.in_memory` also run on another Keras backend (JAX).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import keras
import pandas as pd

from helpers import atomic
from helpers.paths import RunFiles
from helpers.recipes import Recipe, recipe, recipe_for
from helpers.training.state import Checkpoint, Progress

if TYPE_CHECKING:
    from helpers.data import LabelSet
    from helpers.settings import Settings

__all__ = [
    "Checkpoint",
    "Progress",
    "Recipe",
    "Trained",
    "Trainer",
    "float32_copy",
    "load_run_model",
    "read_history",
    "recipe",
    "recipe_for",
    "set_seeds",
    "train_model",
]


def __getattr__(name: str):
    """``Trainer`` (it imports TensorFlow) on first use (PEP 562)."""
    if name == "Trainer":
        from helpers.training.loop import Trainer

        return Trainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and the backend so a run can be repeated."""
    keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def dtype_policy(name: str):
    """Build layers under the Keras dtype policy ``name`` (``mixed_float16`` or ``float32``)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_copy(model: keras.Model) -> keras.Model:
    """The same model and weights computing in float32 (what is saved after mixed precision)."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def as_float32(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    with dtype_policy("float32"):
        copy = keras.models.clone_model(model, clone_function=as_float32)
    copy.set_weights(model.get_weights())
    return copy


@dataclass
class Trained:
    """The (float32) model, its history and ``training.json`` (empty when this process wrote none)."""

    model: keras.Model
    history: pd.DataFrame
    record: dict


def train_model(
    settings: Settings,
    labels: LabelSet,
    checkpoint: Checkpoint,
    strategy=None,
    verbose: int = 2,
    callbacks=(),
    log: Callable[[str], None] = print,
) -> Trained:
    """Train ``settings.model`` on ``labels`` with its recipe under ``strategy`` (default: the
    setting's); the chief writes the resumable state, then ``model.keras``, ``history.csv`` and
    ``training.json`` into ``checkpoint.files`` (recording them is the run folder's)."""
    from helpers.loading import InputSpec, class_weights, split_batches
    from helpers.models import build_model
    from helpers.training.distribute import is_chief, make_strategy, precision_policy
    from helpers.training.loop import Trainer
    from helpers.training.probe import prepare

    strategy = strategy or make_strategy(settings.strategy)
    checkpoint = replace(checkpoint, write=checkpoint.write and is_chief(strategy))
    files = checkpoint.files
    replicas = strategy.num_replicas_in_sync
    policy = precision_policy(settings.precision)
    how = recipe_for(settings)
    set_seeds(settings.seed)
    batches = split_batches(InputSpec.of(labels, settings, how.augment))
    total_steps = settings.epochs * len(batches["train"])
    log(f"replicas: {replicas}")
    log(
        f"global batch {settings.batch_size} = {settings.batch_size / replicas:g} per replica x "
        f"{replicas}; {policy}; at most {total_steps} steps; training input: {batches['train'].cache}"
    )
    with dtype_policy(policy), strategy.scope():
        model = build_model(settings.model, settings.input_shape, len(labels.classes))
        # the recipe's head-first probe and frozen batch norm, before the optimizer sees the weights
        prepared = prepare(model, how, labels, settings.image_size, settings.batch_size, log=log)
        optimizer = how.optimizer(total_steps)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        trainer = Trainer(
            model,
            optimizer,
            strategy,
            augment=None if batches["train"].augments else how.augment,
            class_weight=class_weights(labels) if settings.class_weights else None,
            label_smoothing=how.label_smoothing,
            seed=settings.seed,
        )
    history = trainer.fit(
        batches["train"],
        batches["val"],
        settings.epochs,
        # the resolved policy too: "auto" means float32 on a CPU and mixed on a GPU, and a
        # loss-scaled optimizer's state cannot resume a plain one
        replace(checkpoint, key={**checkpoint.key, "precision": policy}),
        patience=settings.patience,
        verbose=verbose,
        callbacks=callbacks,
        log=log,
    )
    scores = trainer.evaluate(batches["test"])
    saved = float32_copy(model)
    record = {}
    if checkpoint.write:
        files.ensure()
        atomic.save_model(saved, files.model)
        atomic.write_csv(files.history, history)
        # training.json: what was trained, for how long, and how it scored on the test split
        best = history.loc[history["val_loss"].idxmin()]
        seconds = round(float(history["seconds"].sum()), 1) if "seconds" in history else None
        record = {
            "model": settings.model,
            "params": int(saved.count_params()),
            "input_shape": list(saved.input_shape[1:]),
            "classes": int(saved.output_shape[-1]),
            "chance_accuracy": round(1 / saved.output_shape[-1], 4),
            "epochs_run": len(history),
            "best_epoch": int(best["epoch"]),
            "best_val_accuracy": round(float(best.get("val_accuracy", float("nan"))), 4),
            "train_seconds": seconds,
            "test": {k: round(float(v), 4) for k, v in scores.items()},
            "loader": settings.loader,
            "image_size": settings.image_size,
            "replicas": replicas,
            "global_batch": settings.batch_size,
            "precision": policy,
            "strategy": type(strategy).__name__,
            "recipe": how.description,
            **prepared,
        }
        atomic.write_json(files.training, record)
    return Trained(saved, history, record)


def read_history(files: RunFiles) -> pd.DataFrame:
    """The training history CSV (one row per epoch)."""
    if not files.history.exists():
        raise FileNotFoundError(f"{files.history}: not found; train a model first (03_training)")
    return pd.read_csv(files.history)


def load_run_model(files: RunFiles) -> keras.Model:
    """The run's trained model (``model.keras``), naming the file if it is missing or unreadable."""
    from helpers.models import load_model

    if not files.model.exists():
        raise FileNotFoundError(f"{files.model}: not found; run 03_training first")
    return load_model(files.model)
