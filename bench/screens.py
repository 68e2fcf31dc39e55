"""Recipe screens: short fixed-epoch runs scored on a validation split carved from the training set.

A screen is a zoo model (with options that override its architecture's, see
:func:`helpers.models.ours_family`, and ``tta``: ``bench/tta.py``), a recipe and a batch size.
``bench/fashion_mnist.py --screen`` trains each on 54,000 of Fashion-MNIST's 60,000
training images and scores it on the other 6,000 (plain and with flip test-time
augmentation); ``bench/transfer.py --screen`` fine-tunes Lite0 with the ``finetune-*``
recipes. Test images are never touched. Importing this module adds every screened recipe
to :data:`helpers.recipes.RECIPES`, so a screened run can be repeated by name
(``-p recipe NAME``). ``val_loss`` is plain cross-entropy from round 4 on; earlier rows
recorded the loop's loss (label smoothing and weight regularisation included).
"""

from __future__ import annotations

import fnmatch
import json
import time
from dataclasses import dataclass, field

from helpers.loading.augment import Augment
from helpers.recipes import COSINE, FLIP_ERASE, RECIPES, Recipe, cosine, finetune

VAL_FRACTION = 0.1  # 6,000 of the 60,000 training images
SPLIT_SEED = 0

FLIP_SHIFT = Augment(horizontal_flip=True, shift=0.1)
FLIP = Augment(horizontal_flip=True)

# Every recipe screened, by the name the screens CSV records. "cosine" is the starting point:
# AdamW 3e-3, 5% warm-up then cosine, weight decay 5e-4, flip + shift 0.1.
SCREENED: dict[str, Recipe] = {
    "cosine": cosine(f"{COSINE}, weight decay 5e-4; flip + shift 0.1", FLIP_SHIFT),
    "ls0.1": cosine("cosine + label smoothing 0.1", FLIP_SHIFT, 0.1),
    "ls0.2": cosine("cosine + label smoothing 0.2", FLIP_SHIFT, 0.2),
    "wd0.05": cosine("cosine with weight decay 0.05", FLIP_SHIFT, weight_decay=0.05),
    "wd0.05nd": cosine(
        "cosine with weight decay 0.05, BN and biases not decayed",
        FLIP_SHIFT,
        weight_decay=0.05,
        decay_all=False,
    ),
    "ema": cosine("cosine + weight EMA 0.995", FLIP_SHIFT, ema_momentum=0.995),
    "lr1e-2": cosine("cosine with peak learning rate 1e-2", FLIP_SHIFT, peak_learning_rate=1e-2),
    "lr1e-3": cosine("cosine with peak learning rate 1e-3", FLIP_SHIFT, peak_learning_rate=1e-3),
    "sgd": cosine(
        "SGD Nesterov 0.9, peak 0.1, 5% warm-up then cosine, weight decay 5e-4; flip + shift 0.1",
        FLIP_SHIFT,
        kind="sgd",
        peak_learning_rate=0.1,
    ),
    "shift0.07": cosine("cosine with shift 0.07 (2 px)", Augment(horizontal_flip=True, shift=0.07)),
    "flip": cosine("cosine without shift (flip only)", FLIP),
    "wd0.1": cosine("cosine with weight decay 0.1", FLIP_SHIFT, weight_decay=0.1),
    "wd0.05+ls0.1": cosine(
        "cosine with weight decay 0.05 + label smoothing 0.1", FLIP_SHIFT, 0.1, weight_decay=0.05
    ),
    "flip+wd0.05": cosine("cosine without shift, weight decay 0.05", FLIP, weight_decay=0.05),
    "flip+wd0.05+lr1e-2": cosine(
        "cosine without shift, weight decay 0.05, peak learning rate 1e-2",
        FLIP,
        weight_decay=0.05,
        peak_learning_rate=1e-2,
    ),
    "flip+wd0.05+ls0.1": cosine(
        "cosine without shift, weight decay 0.05, label smoothing 0.1", FLIP, 0.1, weight_decay=0.05
    ),
    "erase": cosine(
        "cosine + random erasing p=0.5", Augment(horizontal_flip=True, shift=0.1, erasing=0.5)
    ),
    # Round 5 (30 epochs, on a GPU): on top of flip + weight decay 0.05 + erasing.
    "flip+wd0.1+erase": cosine(
        "flip + erasing p=0.5, weight decay 0.1", FLIP_ERASE, weight_decay=0.1
    ),
    "flip+wd0.05+erase+ema": cosine(
        "flip + erasing p=0.5, weight decay 0.05, weight EMA 0.995",
        FLIP_ERASE,
        weight_decay=0.05,
        ema_momentum=0.995,
    ),
    "flip+wd0.05+erase+lr5e-3": cosine(
        "flip + erasing p=0.5, weight decay 0.05, peak learning rate 5e-3",
        FLIP_ERASE,
        weight_decay=0.05,
        peak_learning_rate=5e-3,
    ),
    "flip+wd0.05+erase+lr1.5e-3": cosine(
        "flip + erasing p=0.5, weight decay 0.05, peak learning rate 1.5e-3",
        FLIP_ERASE,
        weight_decay=0.05,
        peak_learning_rate=1.5e-3,
    ),
    "flip+wd0.05+erase0.8": cosine(
        "flip + erasing p=0.8, weight decay 0.05",
        Augment(horizontal_flip=True, erasing=0.8),
        weight_decay=0.05,
    ),
    # Fine-tuning ImageNet EfficientNet-Lite0 (bench/transfer.py --screen, 1,000 photos of
    # clothing-dataset-small, validation accuracy on 90: 1 epoch: finetune-lr1e-4 82.2%,
    # -randomhead 53.3%, -bn 62.2%, lr 3e-4 81.1%; 3 epochs: finetune-lr1e-4 84.4%, lr 3e-4
    # (what "finetune" became) 85.6% with the lowest validation loss, crop0.6 85.6%; the probe
    # alone 82.2%).
    "finetune-lr1e-4": finetune("finetune with peak learning rate 1e-4"),
    "finetune-crop0.6": finetune(
        "finetune-lr1e-4 with a milder random resized crop (60-100% of the area)",
        Augment(horizontal_flip=True, crop_area=0.6, colour=0.2),
    ),
    "finetune-randomhead": finetune(
        "finetune-lr1e-4 from a random head (no probe)", probe_head=False
    ),
    "finetune-bn": finetune("finetune-lr1e-4 with batch norm training", freeze_batch_norm=False),
}
RECIPES.update(SCREENED)


@dataclass(frozen=True)
class Screen:
    """One screened configuration: a zoo model, its architecture options, a recipe, a batch."""

    model: str
    recipe: str
    options: dict = field(default_factory=dict)
    batch_size: int = 128


def _tiny(recipe: str, batch_size: int = 128, **options) -> Screen:
    return Screen("ours_tiny", recipe, options, batch_size)


def _ours(recipe: str, batch_size: int = 128, **options) -> Screen:
    return Screen("ours", recipe, options, batch_size)


# Every screen ever run, by the name the screens CSV records.
SCREENS: dict[str, Screen] = {
    # Round 1: one ingredient at a time against "cosine", on ours_tiny.
    "tiny/cosine": _tiny("cosine"),
    "tiny/ls0.1": _tiny("ls0.1"),
    "tiny/wd0.05": _tiny("wd0.05"),
    "tiny/wd0.05nd": _tiny("wd0.05nd"),
    "tiny/ls0.2": _tiny("ls0.2"),
    "tiny/ema": _tiny("ema"),
    "tiny/sgd": _tiny("sgd"),
    "tiny/lr1e-2": _tiny("lr1e-2"),
    "tiny/shift0.07": _tiny("shift0.07"),
    "tiny/flip": _tiny("flip"),
    "tiny/dropout0.1": _tiny("cosine", dropout=0.1),
    "tiny/dropout0": _tiny("cosine", dropout=0.0),
    "tiny/bn0.9": _tiny("cosine", bn_momentum=0.9),
    "tiny/erase": _tiny("erase"),
    # Round 2: the round-1 winners together (weight decay 0.05, less dropout), then shapes.
    "tiny/wd0.05+dropout0.1": _tiny("wd0.05", dropout=0.1),
    "tiny/wd0.05+dropout0": _tiny("wd0.05", dropout=0.0),
    "tiny/wd0.1+dropout0.1": _tiny("wd0.1", dropout=0.1),
    "tiny/wd0.05+ls0.1+dropout0.1": _tiny("wd0.05+ls0.1", dropout=0.1),
    "tiny/half+tta": _tiny("wd0.05", dropout=0.1, stages=((16,), (32,), (48,)), tta=True),
    "tiny/16|32,32|48": _tiny("wd0.05", dropout=0.1, stages=((16,), (32, 32), (48,))),
    "ours/wd0.05+dropout0.1": _ours("wd0.05", dropout=0.1),
    "ours/trunk15+tta": _ours("wd0.05", dropout=0.1, stages=((24,), (48,), (64, 96)), tta=True),
    "ours/24|48,48|96,96": _ours("wd0.05", dropout=0.1, stages=((24,), (48, 48), (96, 96))),
    # Round 3: no shift (flip only), the round-1 winner by far, with other ingredients on top.
    "tiny/flip+wd0.05": _tiny("flip+wd0.05"),
    "tiny/flip+wd0.05+dropout0.1": _tiny("flip+wd0.05", dropout=0.1),
    "tiny/flip+dropout0.1": _tiny("flip", dropout=0.1),
    "tiny/flip+wd0.05+lr1e-2": _tiny("flip+wd0.05+lr1e-2"),
    "tiny/flip+wd0.05+ls0.1": _tiny("flip+wd0.05+ls0.1"),
    "tiny/flip+wd0.05+erase": _tiny("flip+wd0.05+erase"),
    "tiny/flip+half+tta": _tiny("flip+wd0.05", stages=((16,), (32,), (48,)), tta=True),
    "ours/flip+wd0.05": _ours("flip+wd0.05"),
    "ours/flip+trunk15+tta": _ours("flip+wd0.05", stages=((24,), (48,), (64, 96)), tta=True),
    # Round 4 (30 epochs, on a GPU): the round-3 recipe on ours, with less dropout, label
    # smoothing or random erasing, which longer schedules can afford.
    "ours/flip+wd0.05+dropout0.1": _ours("flip+wd0.05", dropout=0.1),
    "ours/flip+wd0.05+ls0.1": _ours("flip+wd0.05+ls0.1"),
    "ours/flip+wd0.05+erase": _ours("flip+wd0.05+erase"),
    "ours/flip+wd0.05+erase+dropout0.1": _ours("flip+wd0.05+erase", dropout=0.1),
    "tiny/flip+wd0.05+erase+dropout0.1": _tiny("flip+wd0.05+erase", dropout=0.1),
    # Round 5 (30 epochs, on a GPU): recipe-only changes on top of ours' round-4 winner.
    **{
        f"ours/{name}": _ours(name)
        for name in (
            "flip+wd0.05+erase+ls0.1",
            "flip+wd0.1+erase",
            "flip+wd0.05+erase+ema",
            "flip+wd0.05+erase+lr5e-3",
            "flip+wd0.05+erase+lr1.5e-3",
            "flip+wd0.05+erase0.8",
        )
    },
}


def select(patterns: list[str]) -> list[str]:
    """Screen names matching ``patterns`` (shell-style: ``tiny/*``): in the order of the patterns,
    each pattern's matches in registry order, none twice."""
    chosen = list(dict.fromkeys(n for p in patterns for n in SCREENS if fnmatch.fnmatchcase(n, p)))
    unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in SCREENS)]
    if unknown:
        raise ValueError(f"no screen matches {unknown}; known: {sorted(SCREENS)}")
    return chosen


def run_screen(name: str, epochs: int, seed: int = 0, labels=None) -> dict:
    """Train screen ``name`` for ``epochs`` on the 54k split and score it on the 6k split."""
    from helpers.data.fashion_mnist import fashion_mnist_labels
    from helpers.flops import totals
    from helpers.models import build_model
    from helpers.training import set_seeds
    from helpers.training.in_memory import score_split, train_split, trained_on, training_threads

    screen = SCREENS[name]
    how = RECIPES[screen.recipe]
    labels = labels or fashion_mnist_labels(val_fraction=VAL_FRACTION, seed=SPLIT_SEED)
    set_seeds(seed)
    options = dict(screen.options)
    tta = options.pop("tta", False)
    model = build_model(screen.model, (28, 28, 1), 10, **options)
    if tta:  # horizontal-flip test-time augmentation inside the model
        from tta import flip_tta

        model = flip_tta(model)
    started = time.perf_counter()
    history, images = train_split(model, how, labels, epochs, screen.batch_size, seed)
    seconds = time.perf_counter() - started
    scores = score_split(model, labels, "val")
    cost = totals(model)
    last = history.iloc[-1]
    return {
        "screen": name,
        "model": screen.model,
        "options": json.dumps(screen.options, sort_keys=True),
        "recipe": screen.recipe,
        "recipe_description": how.description,
        "batch_size": screen.batch_size,
        "epochs": epochs,
        "seed": seed,
        "train_images": images,
        "val_images": len(labels.split("val")),
        "params": cost["params"],
        "MFLOPs": round(cost["flops"] / 1e6, 2),
        "train_loss": round(float(last["loss"]), 4),
        "train_accuracy": round(float(last["accuracy"]), 4),
        "val_loss": round(scores["loss"], 4),
        "val_accuracy": round(scores["accuracy"], 4),
        "val_accuracy_flip_tta": round(scores["accuracy_flip_tta"], 4),
        "train_seconds": round(seconds, 1),
        "threads": training_threads(),
        "trained_on": trained_on(),
        "finished": time.strftime("%Y-%m-%d %H:%M"),
    }


def screened(rows: list[dict], name: str, epochs: int, seed: int) -> bool:
    """Whether ``rows`` (the screens CSV) already hold this screen at these epochs and seed."""
    return any(
        r["screen"] == name and int(r["epochs"]) == epochs and int(r["seed"]) == seed for r in rows
    )


def screen_all(patterns: list[str], epochs: int, seeds: int, csv) -> int:
    """Train the named screens on the 54k/6k split; append each to ``csv`` (skipping done ones)."""
    import pandas as pd

    from helpers import atomic
    from helpers.data.fashion_mnist import fashion_mnist_labels

    names = select(patterns)
    labels = fashion_mnist_labels(val_fraction=VAL_FRACTION, seed=SPLIT_SEED)
    for seed in range(seeds):
        for name in names:
            done = pd.read_csv(csv).to_dict("records") if csv.exists() else []
            if screened(done, name, epochs, seed):
                print(f"{name} (seed {seed}, {epochs} epochs): already in {csv}")
                continue
            print(f"Screening {name} (seed {seed}, {epochs} epochs): {SCREENS[name]}", flush=True)
            row = run_screen(name, epochs, seed, labels)
            atomic.append_csv_row(csv, row)
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return 0
