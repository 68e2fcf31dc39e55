"""How each zoo model trains: the single source of optimizer, schedule, augmentation and loss.

Notebook 03, ``python -m helpers.train`` and ``bench/fashion_mnist.py`` all
train through :func:`helpers.training.train` with the model's :func:`recipe`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from helpers.loading.augment import Augment


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


def adam(total_steps: int, learning_rate: float = 1e-3) -> keras.optimizers.Optimizer:
    """Plain Adam at a fixed learning rate (the seed write-ups' choice)."""
    return keras.optimizers.Adam(learning_rate)


@dataclass(frozen=True)
class Recipe:
    """Everything but the architecture that decides how a model trains.

    ``optimizer(total_steps)`` builds the optimizer with its schedule, where
    ``total_steps`` counts optimizer steps on the *global* batch.
    """

    optimizer: Callable[[int], keras.optimizers.Optimizer]
    augment: Augment | None = None
    label_smoothing: float = 0.0
    description: str = ""


def recipe(model_name: str) -> Recipe:
    """The recipe of a zoo model.

    Our models train with AdamW (linear warm-up, then cosine) and shift + flip
    augmentation (their dropout regularises the rest); the seed models as their
    write-ups did: Adam at 1e-3, no augmentation.
    """
    if model_name.startswith("ours"):
        return Recipe(
            warmup_cosine_adamw,
            Augment(horizontal_flip=True, shift=0.1),
            description="AdamW 3e-3, 5% warm-up then cosine, weight decay 5e-4; flip + shift 0.1",
        )
    return Recipe(adam, None, description="Adam 1e-3, no augmentation (as the write-ups)")
