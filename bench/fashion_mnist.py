"""Fashion-MNIST benchmark: zoo models trained on the full 60k/10k split, one process, one table.

    python bench/fashion_mnist.py                                   # seed models at their own epochs, ours at 30
    python bench/fashion_mnist.py --models ours_tiny classifier --epochs ours_tiny=30 classifier=30 --seeds 3
    python bench/fashion_mnist.py --resume     # keep the finished runs in the .runs.csv, train the rest

Seed models train as their write-ups did (Adam 1e-3, no augmentation); ours
with AdamW, a linear warm-up then a cosine schedule, and shift + flip
augmentation. Each model trains for a fixed number of epochs on
all 60,000 training images and is scored once on the 10,000 test images, then
converted to full-integer int8 LiteRT and scored and timed again. Training
wall time is reported relative to the seed ``classifier``'s, measured in the
same run (a resumed run mixes processes: run it on an otherwise idle machine).
Writes a CSV and the accuracy-against-FLOPs chart.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import atomic, plots
from helpers.data.fashion_mnist import fashion_mnist_labels
from helpers.flops import totals
from helpers.litert import LiteRTModel, to_tflite
from helpers.loading import load_inputs, tf_batches
from helpers.models import build_model
from helpers.paths import IMAGES_DIR
from helpers.training import Trainer, recipe, set_seeds
from helpers.variants import KerasRunner, accuracy, latency_ms

# The seeds' own epoch counts and the accuracies their write-ups claimed.
SEEDS = {
    "fashion_cnn": (5, 0.9029),
    "baseline": (30, 0.916),
    "classifier": (30, 0.925),
    "deeper": (30, 0.9315),
}
OURS = {"ours_tiny": 30, "ours": 30}


def train_and_score(name: str, epochs: int, seed: int, labels, batch_size: int) -> dict:
    """Train one model with its recipe through the one training loop; score it in float and full int8."""
    set_seeds(seed)
    how = recipe(name)
    train = tf_batches(labels, "train", 28, batch_size, shuffle=True, seed=seed)
    test = tf_batches(labels, "test", 28, 512)
    model = build_model(name, (28, 28, 1), 10)
    trainer = Trainer(
        model, how.optimizer(epochs * len(train)), augment=how.augment,
        label_smoothing=how.label_smoothing, seed=seed,
    )  # fmt: skip
    started = time.perf_counter()
    trainer.fit(train, None, epochs, verbose=2)
    seconds = time.perf_counter() - started
    runner = KerasRunner(model)
    calibration = load_inputs(labels, labels.split("train").sample(200, random_state=seed), 28)
    int8 = LiteRTModel(to_tflite(model, "full int8", calibration))
    cost = totals(model)
    return {
        "model": name,
        "source": "ours" if name in OURS else "seed",
        "seed": seed,
        "epochs": epochs,
        "params": cost["params"],
        "macs": cost["macs"],
        "MFLOPs": round(cost["flops"] / 1e6, 2),
        "train_seconds": round(seconds, 1),
        "test_accuracy": accuracy(runner.predict, test),
        "int8_accuracy": accuracy(int8.predict, test),
        "int8_latency_ms": round(latency_ms(int8.predict, calibration[:1], runs=200)[0], 3),
        "threads": int8.threads,
    }


def pending(
    models: list[str], seeds: int, epochs: dict[str, int], done: list[dict]
) -> list[tuple[str, int]]:
    """``(model, seed)`` pairs still to train: those with no run at the requested epochs in ``done``."""
    finished = {(row["model"], int(row["seed"]), int(row["epochs"])) for row in done}
    return [
        (name, seed)
        for seed in range(seeds)
        for name in models
        if (name, seed, epochs[name]) not in finished
    ]


def current_runs(runs: pd.DataFrame) -> list[dict]:
    """The runs whose model still has the zoo's parameter count; a changed architecture is retrained."""
    params = {
        name: build_model(name, (28, 28, 1), 10).count_params() for name in runs["model"].unique()
    }
    changed = runs["params"] != runs["model"].map(params)
    for name in runs.loc[changed, "model"].unique():
        print(
            f"Dropping the runs of {name}: its architecture changed ({params[name]:,} parameters now)"
        )
    return runs[~changed].to_dict("records")


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds per model, wall time relative to the seed classifier, claims beside."""
    grouped = runs.groupby(["model", "source", "epochs", "params", "macs", "MFLOPs"], sort=False)
    table = grouped.agg(
        test_accuracy=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"),
        seeds=("seed", "count"),
        int8_accuracy=("int8_accuracy", "mean"),
        int8_latency_ms=("int8_latency_ms", "median"),
        train_seconds=("train_seconds", "mean"),
    ).reset_index()
    base = table.loc[table["model"] == "classifier", "train_seconds"]
    table["time_vs_classifier"] = (
        (table["train_seconds"] / base.iloc[0]).round(2) if len(base) else np.nan
    )
    table["claimed_accuracy"] = table["model"].map({k: v[1] for k, v in SEEDS.items()})
    return table.round(
        {"test_accuracy": 4, "accuracy_std": 4, "int8_accuracy": 4, "train_seconds": 1}
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=[*SEEDS, *OURS])
    parser.add_argument(
        "--epochs", nargs="*", default=[], metavar="NAME=N", help="override epochs per model"
    )
    parser.add_argument("--seeds", type=int, default=1, help="train each model this many times")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs already in the .runs.csv and train only the missing ones",
    )
    parser.add_argument("--out", type=Path, default=IMAGES_DIR / "fashion_mnist_benchmark.csv")
    args = parser.parse_args(argv)
    epochs = {
        **{k: v[0] for k, v in SEEDS.items()},
        **OURS,
        **{k: int(v) for k, v in (item.split("=") for item in args.epochs)},
    }
    labels = fashion_mnist_labels(val_fraction=0.0)
    print(
        f"Fashion-MNIST {len(labels.split('train'))}/{len(labels.split('test'))}; "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )
    runs_csv = args.out.with_suffix(".runs.csv")
    rows = current_runs(pd.read_csv(runs_csv)) if args.resume and runs_csv.exists() else []
    todo = pending(args.models, args.seeds, epochs, rows)
    if rows:
        print(f"Resuming {runs_csv}: {len(rows)} runs kept, {len(todo)} to go")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, seed in todo:
        rows.append(train_and_score(name, epochs[name], seed, labels, args.batch_size))
        atomic.write_csv(runs_csv, pd.DataFrame(rows))  # nothing lost if stopped
    table = summarise(pd.DataFrame(rows))
    atomic.write_csv(args.out, table)
    plots.accuracy_vs_flops(table, path=args.out.with_name("fashion_mnist_accuracy_vs_flops.png"))
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table.to_string(index=False))
    print(f"Wrote {args.out} and {args.out.with_name('fashion_mnist_accuracy_vs_flops.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
