"""How each zoo model trains (optimizer, schedule, augmentation, loss), by recipe name: what
notebook 03, ``python -m helpers.train`` and the benchmarks use (:func:`recipe_for`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import keras

from helpers.loading.augment import Augment

# Batch-norm scales and offsets and biases are not decayed (as in cifar10-fast and airbench).
NOT_DECAYED = ("gamma", "beta", "bias")


def warmup_cosine(
    total_steps: int, peak_learning_rate: float = 3e-3, warmup_fraction: float = 0.05,
    weight_decay: float = 5e-4, kind: str = "adamw", ema_momentum: float | None = None,
    decay_all: bool = True,
) -> keras.optimizers.Optimizer:  # fmt: skip
    """AdamW (or SGD, Nesterov momentum 0.9): a linear warm-up from 0, then a cosine to 0;
    ``decay_all=False`` spares batch norm and biases; ``ema_momentum`` averages the weights."""
    warmup = max(1, int(total_steps * warmup_fraction))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, total_steps - warmup), warmup_target=peak_learning_rate,
        warmup_steps=warmup,
    )  # fmt: skip
    ema = {"use_ema": True, "ema_momentum": ema_momentum} if ema_momentum else {}
    if kind == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay, **ema)
    elif kind == "sgd":
        optimizer = keras.optimizers.SGD(
            schedule, momentum=0.9, nesterov=True, weight_decay=weight_decay, **ema
        )
    else:
        raise ValueError(f"kind must be 'adamw' or 'sgd', got {kind!r}")
    if not decay_all:
        optimizer.exclude_from_weight_decay(var_names=list(NOT_DECAYED))
    return optimizer


def adam(total_steps: int, learning_rate: float = 1e-3) -> keras.optimizers.Optimizer:
    """Plain Adam at a fixed learning rate."""
    return keras.optimizers.Adam(learning_rate)


@dataclass(frozen=True)
class Recipe:
    """Everything but the architecture that decides how a model trains."""

    optimizer: Callable[[int], keras.optimizers.Optimizer]
    augment: Augment | None = None
    label_smoothing: float = 0.0
    description: str = ""
    probe_head: bool = False
    probe_c: float = 1.0
    freeze_batch_norm: bool = False


def cosine(description: str, augment: Augment | None, label_smoothing: float = 0.0, **options):
    """A :func:`warmup_cosine` recipe (``options`` go to the optimizer)."""
    return Recipe(partial(warmup_cosine, **options), augment, label_smoothing, description)


def finetune(
    description: str, augment: Augment | None = None, label_smoothing: float = 0.1,
    probe_head: bool = True, probe_c: float = 1.0, freeze_batch_norm: bool = True, **options,
) -> Recipe:  # fmt: skip
    """LP-FT: the head fitted on frozen features, then all layers at a low learning rate."""
    schedule = {"peak_learning_rate": 1e-4, "warmup_fraction": 0.1, "weight_decay": 0.05}
    optimizer = partial(warmup_cosine, **{**schedule, "decay_all": False, **options})
    augment = PHOTO if augment is None else augment
    return Recipe(
        optimizer, augment, label_smoothing, description, probe_head, probe_c, freeze_batch_norm
    )


FLIP_ERASE = Augment(horizontal_flip=True, erasing=0.5)
# Photographs: a random resized crop (35-100% of the area), a flip and a mild colour jitter.
PHOTO = Augment(horizontal_flip=True, crop_area=0.35, colour=0.2)
COSINE = "AdamW 3e-3, 5% warm-up then cosine"
PHOTO_TEXT = (
    "random resized crop (35-100% of the area, aspect 3/4-4/3), horizontal flip, colour jitter 0.2"
)

RECIPES: dict[str, Recipe] = {
    "adam": Recipe(adam, None, description="Adam 1e-3, no augmentation"),
    "photo": Recipe(adam, PHOTO, description=f"Adam 1e-3 with photo augmentation: {PHOTO_TEXT}"),
    "flip+wd0.05+erase": cosine(
        f"{COSINE}, weight decay 0.05; flip + random erasing p=0.5", FLIP_ERASE, weight_decay=0.05
    ),
    "flip+wd0.05+erase+ls0.1": cosine(
        f"{COSINE}, weight decay 0.05; flip + random erasing p=0.5; label smoothing 0.1",
        FLIP_ERASE,
        0.1,
        weight_decay=0.05,
    ),
    # Chosen on bench/transfer.py --screen (validation accuracy; bench/screens.py).
    "finetune": finetune(
        "head first (logistic regression C=1 on frozen features), then all layers with batch "
        "norm frozen: AdamW peak 3e-4, 10% warm-up then cosine, weight decay 0.05 (not BN or "
        "biases), label smoothing 0.1; photo augmentation",
        peak_learning_rate=3e-4,
    ),
}

# The recipe of each model that has its own (chosen on validation screens); others: "adam".
CHOSEN = {
    "ours_tiny": "flip+wd0.05+erase",
    "ours": "flip+wd0.05+erase+ls0.1",
    **dict.fromkeys(("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"), "finetune"),
}
# On photographs (any dataset but Fashion-MNIST's studio images) the plain CNNs take "photo".
CHOSEN_ON_PHOTOS = {"deepfashion_cnn": "photo", "baseline_bn": "photo", "fashion_cnn": "photo"}


def recipe(model_name: str, name: str | None = None) -> Recipe:
    """The recipe ``name`` (default: the model's :data:`CHOSEN`, else ``adam``), named."""
    name = name or CHOSEN.get(model_name)
    if name is None:
        return RECIPES["adam"]
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {sorted(RECIPES)}")
    return replace(RECIPES[name], description=f"{name}: {RECIPES[name].description}")


def recipe_for(settings: Mapping[str, Any]) -> Recipe:
    """A run's recipe: its setting, else the photo one (plain CNNs on photos), else the model's."""
    from helpers.data.registry import dataset_kind

    name = settings.get("recipe")
    if not name and not dataset_kind(settings["dataset"]).plain_background:
        name = CHOSEN_ON_PHOTOS.get(settings["model"])
    return recipe(settings["model"], name)
