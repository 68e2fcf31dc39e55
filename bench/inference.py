"""Every optimised variant of a saved model, measured in one run: ratios against the Keras float model.

    python bench/inference.py MODEL.keras [--data fashion_mnist|sample] [--prune 0.5] [--finetune-epochs 2]
    python bench/inference.py --train fashion_cnn --epochs 3      # train a Fashion-MNIST model first

The test images (Fashion-MNIST's 10,000, or the embedded sample's test split
at the model's input size), the calibration images and the fine-tuning data
come from the same dataset. Everything runs in this process, one variant after
another, so the latency ratios hold on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import pandas as pd

import helpers.models
from helpers.config import sample_dir
from helpers.data.deepfashion import label_deepfashion
from helpers.data.fashion_mnist import fashion_mnist_labels
from helpers.data.sample import ensure_sample
from helpers.loading import split_loaders
from helpers.optimization import (
    TABLE_COLUMNS,
    build_variants,
    measure,
    optimisation_data,
    recommend,
)
from helpers.paths import RUNS_DIR, RunFiles
from helpers.training import compile_model, fit_model, set_seeds


def bench_labels(data: str):
    """The labels table to measure on: Fashion-MNIST, or the embedded DeepFashion-layout sample."""
    if data == "fashion_mnist":
        return fashion_mnist_labels()
    return label_deepfashion(ensure_sample(sample_dir(3000), 3000), check_files=False)


def train_fashion_model(name: str, epochs: int, seed: int = 0) -> Path:
    """Train zoo model ``name`` on Fashion-MNIST into runs/bench-<name>/ and return its model file."""
    set_seeds(seed)
    labels = fashion_mnist_labels()
    loaders = split_loaders(labels, 28, 128, seed=seed)
    model = compile_model(helpers.models.build_model(name, (28, 28, 1), 10))
    run = RunFiles(RUNS_DIR / f"bench-{name}")
    fit_model(model, loaders["train"], loaders["val"], run, epochs=epochs, verbose=2)
    print(f"Trained {name}: test accuracy {model.evaluate(loaders['test'], verbose=0)[1]:.2%}")
    return run.model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", type=Path, help="a saved .keras model")
    parser.add_argument(
        "--train", help="train this zoo model on Fashion-MNIST first (instead of MODEL)"
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs for --train")
    parser.add_argument(
        "--data", choices=["fashion_mnist", "sample"], help="default: by the model's input channels"
    )
    parser.add_argument(
        "--prune", type=float, default=0.5, help="share of filters/weights to prune (0: none)"
    )
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument(
        "--runs", type=int, default=100, help="single-image predictions timed per variant"
    )
    parser.add_argument("--csv", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    if args.train:
        args.model = train_fashion_model(args.train, args.epochs)
    if args.model is None or not args.model.is_file():
        parser.error("give a saved MODEL.keras, or --train NAME")
    model = keras.models.load_model(args.model)
    shape = tuple(model.input_shape[1:])
    data = args.data or ("fashion_mnist" if shape[-1] == 1 else "sample")
    batch_size = 128 if data == "fashion_mnist" else 32
    prepared = optimisation_data(bench_labels(data), shape[0], batch_size, seed=0)
    x_test, y_test = prepared["x_test"], prepared["y_test"]
    out_dir = RUNS_DIR / "bench-inference"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    variants = build_variants(
        model,
        args.model,
        prepared["representative"],
        prepared["train"],
        prepared["val"],
        out=lambda kind, suffix: out_dir / f"{args.model.stem}_{kind.replace(' ', '_')}{suffix}",
        prune_ratio=args.prune,
        finetune_epochs=args.finetune_epochs,
    )
    table = measure(variants, x_test, y_test, runs=args.runs)
    print(
        f"{args.model} on {len(x_test)} {data} test images; {os.cpu_count()} CPUs, {platform.machine()}; "
        f"built and measured in {time.perf_counter() - started:.0f} s"
    )
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table[TABLE_COLUMNS].to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
    print()
    print(recommend(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
