"""How each zoo model trains: the single source of optimizer, schedule, augmentation and loss.

Notebook 03, ``python -m helpers.train`` and ``bench/fashion_mnist.py`` all
train through :class:`helpers.training.Trainer` with the model's :func:`recipe`.
Every recipe that was ever screened is in :data:`RECIPES` under its name (the
screens' CSV names them), so a screened run can be repeated exactly;
:data:`CHOSEN` says which one each of our models trains with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import keras

from helpers.loading.augment import Augment

# Batch-norm scales and offsets and biases are not decayed (as in cifar10-fast and airbench).
NOT_DECAYED = ("gamma", "beta", "bias")


def warmup_cosine(
    total_steps: int,
    peak_learning_rate: float = 3e-3,
    warmup_fraction: float = 0.05,
    weight_decay: float = 5e-4,
    kind: str = "adamw",
    ema_momentum: float | None = None,
    decay_all: bool = True,
) -> keras.optimizers.Optimizer:
    """AdamW (or SGD with Nesterov momentum 0.9) whose learning rate rises linearly from 0 for
    the first steps, then follows a cosine to 0.

    Weight decay is decoupled (Keras: ``w -= learning_rate * weight_decay * w`` every step);
    ``decay_all=False`` spares batch-norm parameters and biases. ``ema_momentum`` keeps an
    exponential moving average of the weights, which :class:`~helpers.training.Trainer` evaluates
    and leaves in the model at the end of a fit.
    """
    warmup = max(1, int(total_steps * warmup_fraction))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=peak_learning_rate,
        warmup_steps=warmup,
    )
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


def warmup_cosine_adamw(
    total_steps: int,
    peak_learning_rate: float = 3e-3,
    warmup_fraction: float = 0.05,
    weight_decay: float = 5e-4,
) -> keras.optimizers.Optimizer:
    """AdamW with a linear warm-up, then a cosine to 0 (issue 7's recipe)."""
    return warmup_cosine(total_steps, peak_learning_rate, warmup_fraction, weight_decay)


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
    # Fine-tuning a pretrained model (:mod:`helpers.training.probe`, applied before the loop):
    # fit the Dense head first as a logistic regression (inverse L2 strength ``probe_c``) on the
    # frozen backbone's features of the training split, and/or freeze every batch-norm layer.
    probe_head: bool = False
    probe_c: float = 1.0
    freeze_batch_norm: bool = False


def _cosine(description: str, augment: Augment | None, label_smoothing: float = 0.0, **options):
    return Recipe(partial(warmup_cosine, **options), augment, label_smoothing, description)


def _finetune(
    description: str,
    augment: Augment | None = None,
    label_smoothing: float = 0.1,
    probe_head: bool = True,
    probe_c: float = 1.0,
    freeze_batch_norm: bool = True,
    **options,
) -> Recipe:
    """LP-FT: the head fitted on frozen features, then the whole network at a low learning rate
    (AdamW, 10% warm-up then cosine, weight decay 0.05 sparing batch norm and biases)."""
    schedule = {"peak_learning_rate": 1e-4, "warmup_fraction": 0.1, "weight_decay": 0.05}
    optimizer = partial(warmup_cosine, **{**schedule, "decay_all": False, **options})
    return Recipe(
        optimizer,
        PHOTO if augment is None else augment,
        label_smoothing,
        description,
        probe_head=probe_head,
        probe_c=probe_c,
        freeze_batch_norm=freeze_batch_norm,
    )


FLIP_SHIFT = Augment(horizontal_flip=True, shift=0.1)
SHIFT2 = Augment(horizontal_flip=True, shift=0.07)  # 2 pixels of 28
FLIP = Augment(horizontal_flip=True)
FLIP_ERASE = Augment(horizontal_flip=True, erasing=0.5)
# Photographs: a random resized crop (35-100% of the area), a flip and a mild colour jitter.
PHOTO = Augment(horizontal_flip=True, crop_area=0.35, colour=0.2)

# Every recipe screened (``bench/fashion_mnist.py --screen``), by name. Names say what differs
# from ``issue7``, the recipe issue 7 ended with.
RECIPES: dict[str, Recipe] = {
    "seed": Recipe(adam, None, description="Adam 1e-3, no augmentation (as the write-ups)"),
    "photo": Recipe(
        adam,
        PHOTO,
        description="Adam 1e-3 (as the write-ups) with photo augmentation: random resized crop "
        "(35-100% of the area, aspect 3/4-4/3), horizontal flip, colour jitter 0.2",
    ),
    "issue7": _cosine(
        "AdamW 3e-3, 5% warm-up then cosine, weight decay 5e-4; flip + shift 0.1", FLIP_SHIFT
    ),
    "ls0.1": _cosine("issue7 + label smoothing 0.1", FLIP_SHIFT, 0.1),
    "ls0.2": _cosine("issue7 + label smoothing 0.2", FLIP_SHIFT, 0.2),
    "wd0.05": _cosine("issue7 with weight decay 0.05", FLIP_SHIFT, weight_decay=0.05),
    "wd0.05nd": _cosine(
        "issue7 with weight decay 0.05, BN and biases not decayed",
        FLIP_SHIFT,
        weight_decay=0.05,
        decay_all=False,
    ),
    "ema": _cosine("issue7 + weight EMA 0.995", FLIP_SHIFT, ema_momentum=0.995),
    "lr1e-2": _cosine("issue7 with peak learning rate 1e-2", FLIP_SHIFT, peak_learning_rate=1e-2),
    "lr1e-3": _cosine("issue7 with peak learning rate 1e-3", FLIP_SHIFT, peak_learning_rate=1e-3),
    "sgd": _cosine(
        "SGD Nesterov 0.9, peak 0.1, 5% warm-up then cosine, weight decay 5e-4; flip + shift 0.1",
        FLIP_SHIFT,
        kind="sgd",
        peak_learning_rate=0.1,
    ),
    "shift0.07": _cosine("issue7 with shift 0.07 (2 px)", SHIFT2),
    "flip": _cosine("issue7 without shift (flip only)", FLIP),
    "wd0.1": _cosine("issue7 with weight decay 0.1", FLIP_SHIFT, weight_decay=0.1),
    "wd0.05+ls0.1": _cosine(
        "issue7 with weight decay 0.05 + label smoothing 0.1", FLIP_SHIFT, 0.1, weight_decay=0.05
    ),
    "flip+wd0.05": _cosine("issue7 without shift, weight decay 0.05", FLIP, weight_decay=0.05),
    "flip+wd0.05+lr1e-2": _cosine(
        "issue7 without shift, weight decay 0.05, peak learning rate 1e-2",
        FLIP,
        weight_decay=0.05,
        peak_learning_rate=1e-2,
    ),
    "flip+wd0.05+ls0.1": _cosine(
        "issue7 without shift, weight decay 0.05, label smoothing 0.1", FLIP, 0.1, weight_decay=0.05
    ),
    "flip+wd0.05+erase": _cosine(
        "issue7 without shift, weight decay 0.05, random erasing p=0.5",
        Augment(horizontal_flip=True, erasing=0.5),
        weight_decay=0.05,
    ),
    "erase": _cosine(
        "issue7 + random erasing p=0.5", Augment(horizontal_flip=True, shift=0.1, erasing=0.5)
    ),
    # Round 5 (30 epochs, on a GPU): on top of flip + weight decay 0.05 + erasing.
    "flip+wd0.05+erase+ls0.1": _cosine(
        "flip + erasing p=0.5, weight decay 0.05, label smoothing 0.1",
        FLIP_ERASE,
        0.1,
        weight_decay=0.05,
    ),
    "flip+wd0.1+erase": _cosine(
        "flip + erasing p=0.5, weight decay 0.1", FLIP_ERASE, weight_decay=0.1
    ),
    "flip+wd0.05+erase+ema": _cosine(
        "flip + erasing p=0.5, weight decay 0.05, weight EMA 0.995",
        FLIP_ERASE,
        weight_decay=0.05,
        ema_momentum=0.995,
    ),
    "flip+wd0.05+erase+lr5e-3": _cosine(
        "flip + erasing p=0.5, weight decay 0.05, peak learning rate 5e-3",
        FLIP_ERASE,
        weight_decay=0.05,
        peak_learning_rate=5e-3,
    ),
    "flip+wd0.05+erase+lr1.5e-3": _cosine(
        "flip + erasing p=0.5, weight decay 0.05, peak learning rate 1.5e-3",
        FLIP_ERASE,
        weight_decay=0.05,
        peak_learning_rate=1.5e-3,
    ),
    # Fine-tuning ImageNet EfficientNet-Lite0 on photos (bench/transfer.py --screen, 1,000 photos
    # of clothing-dataset-small, validation accuracy on 90: 1 epoch: finetune-lr1e-4 82.2%,
    # -randomhead 53.3%, -bn 62.2%, lr 3e-4 81.1%; 3 epochs: finetune-lr1e-4 84.4%, lr 3e-4 85.6%
    # with the lowest validation loss, crop0.6 85.6%; the probe alone 82.2%).
    "finetune": _finetune(
        "head first (logistic regression C=1 on frozen features), then all layers with batch "
        "norm frozen: AdamW peak 3e-4, 10% warm-up then cosine, weight decay 0.05 (not BN or "
        "biases), label smoothing 0.1; photo augmentation",
        peak_learning_rate=3e-4,
    ),
    "finetune-lr1e-4": _finetune("finetune with peak learning rate 1e-4"),
    "finetune-lr3e-4": _finetune(
        "finetune-lr1e-4 with peak learning rate 3e-4 (what finetune became)",
        peak_learning_rate=3e-4,
    ),
    "finetune-crop0.6": _finetune(
        "finetune-lr1e-4 with a milder random resized crop (60-100% of the area)",
        Augment(horizontal_flip=True, crop_area=0.6, colour=0.2),
    ),
    "finetune-randomhead": _finetune(
        "finetune-lr1e-4 from a random head (no probe)", probe_head=False
    ),
    "finetune-bn": _finetune("finetune-lr1e-4 with batch norm training", freeze_batch_norm=False),
    "flip+wd0.05+erase0.8": _cosine(
        "flip + erasing p=0.8, weight decay 0.05",
        Augment(horizontal_flip=True, erasing=0.8),
        weight_decay=0.05,
    ),
}


def variant(name: str) -> Recipe:
    """A recipe of :data:`RECIPES` by name (what the screens CSV records)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {sorted(RECIPES)}")
    return RECIPES[name]


# The recipe each of our models trains with (chosen on the validation screens); seeds: "seed".
CHOSEN = {
    "ours_tiny": "flip+wd0.05+erase",
    "ours": "flip+wd0.05+erase+ls0.1",
    "efficientnet_lite0": "finetune",
}
# On photographs (any dataset but the studio images of Fashion-MNIST) the seed CNNs train with
# photo augmentation.
CHOSEN_ON_PHOTOS = {"deepfashion_cnn": "photo", "baseline_bn": "photo", "fashion_cnn": "photo"}


def recipe_name_for(model_name: str, dataset: str, asked: str | None = None) -> str | None:
    """The recipe a run trains with: the one ``asked`` (the ``recipe`` setting), else the
    photo recipe for a seed CNN on photographs, else the model's own (None)."""
    if asked:
        return asked
    from helpers.data.registry import dataset_kind

    if not dataset_kind(dataset).plain_background:
        return CHOSEN_ON_PHOTOS.get(model_name)
    return None


def recipe_for(settings) -> Recipe:
    """The recipe of a run's settings (model, dataset and the optional ``recipe`` setting)."""
    return recipe(
        settings.model, recipe_name_for(settings.model, settings.dataset, settings.get("recipe"))
    )


def recipe(model_name: str, name: str | None = None) -> Recipe:
    """The recipe of a zoo model: ours as :data:`CHOSEN` says, the seed models as their
    write-ups did (Adam at 1e-3, no augmentation); ``name`` picks another of :data:`RECIPES`.
    The description starts with the recipe's registry name."""
    name = name or CHOSEN.get(model_name)
    if name:
        chosen = variant(name)
        return replace(chosen, description=f"{name}: {chosen.description}")
    if model_name.startswith("ours"):
        return RECIPES["issue7"]
    return RECIPES["seed"]
