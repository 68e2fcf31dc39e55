"""Recipe screens: short fixed-epoch runs on a validation split carved from the training images.

A screen is a zoo model (with options that override its architecture's, see
:func:`helpers.models.ours_family`), a recipe of
:data:`helpers.training.recipe.RECIPES` and a batch size. ``bench/fashion_mnist.py
--screen`` trains each on 54,000 of Fashion-MNIST's 60,000 training images for a
few epochs (the schedule has the same shape as a full run's, only shorter) and
scores it on the other 6,000 (a stratified split fixed by its seed), plain and
with horizontal-flip test-time augmentation. The test images are never touched.
``val_loss`` is plain cross-entropy from rounds 4–5 on (the rows a GPU trained);
earlier rows recorded the loop's loss, label smoothing and weight regularisation
included: compare accuracies across rounds, not losses.
"""

from __future__ import annotations

import fnmatch
import json
import time
from dataclasses import dataclass, field

VAL_FRACTION = 0.1  # 6,000 of the 60,000 training images
SPLIT_SEED = 0


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
    # Round 1: one ingredient at a time against issue 7's recipe, on ours_tiny.
    "tiny/issue7": _tiny("issue7"),
    "tiny/ls0.1": _tiny("ls0.1"),
    "tiny/wd0.05": _tiny("wd0.05"),
    "tiny/wd0.05nd": _tiny("wd0.05nd"),
    "tiny/ls0.2": _tiny("ls0.2"),
    "tiny/ema": _tiny("ema"),
    "tiny/sgd": _tiny("sgd"),
    "tiny/lr1e-2": _tiny("lr1e-2"),
    "tiny/shift0.07": _tiny("shift0.07"),
    "tiny/flip": _tiny("flip"),
    "tiny/dropout0.1": _tiny("issue7", dropout=0.1),
    "tiny/dropout0": _tiny("issue7", dropout=0.0),
    "tiny/bn0.9": _tiny("issue7", bn_momentum=0.9),
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
    # Round 3: no shift (flip only), the round-1 winner by far; weight decay, dropout, learning
    # rate, label smoothing, erasing on top of it.
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
    from helpers.training.recipe import variant

    screen = SCREENS[name]
    how = variant(screen.recipe)
    labels = labels or fashion_mnist_labels(val_fraction=VAL_FRACTION, seed=SPLIT_SEED)
    set_seeds(seed)
    model = build_model(screen.model, (28, 28, 1), 10, **screen.options)
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
