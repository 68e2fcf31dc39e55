"""Every optimised variant of a saved model, measured in one run: ratios against the Keras float model.

    python bench/inference.py runs/demo/model.keras                # on its own run's labels
    python bench/inference.py MODEL.keras --data folders --data-dir ~/photos   # on any dataset kind
    python bench/inference.py MODEL.keras [--data fashion_mnist|sample] [--prune 0.5] [--finetune-epochs 2]
    python bench/inference.py --train fashion_cnn --epochs 3      # train a Fashion-MNIST model first
    python bench/inference.py MODEL.keras --threads 1              # LiteRT and TensorFlow on 1 thread

The test images, the calibration images and the fine-tuning data come from
one labels table: the model's own run (``labels.csv`` beside a run folder's
``model.keras``), else ``--data`` (any dataset kind, with ``--data-dir`` where it
needs one), else by the model's input channels Fashion-MNIST or the embedded
sample. The model's outputs are matched to the labels' classes by name, through the
``classes.json`` beside it: a missing list, another count or other names are refused in one line. Everything runs in this process, one variant after
another, the single-image latencies timed in turns so the latency ratios hold
on a shared machine; every latency is measured with the thread count shown, LiteRT's and ONNX
Runtime's on the same threads, and the CPU is named.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from helpers import atomic
from helpers.data.registry import FASHION_MNIST, datasets, kind_of
from helpers.errors import InputError
from helpers.evaluation import align_classes
from helpers.latency import cpu_description, set_tf_threads
from helpers.models import load_model
from helpers.paths import RUNS_DIR, RunFiles
from helpers.predict import read_classes
from helpers.run import Run
from helpers.variants import TABLE_COLUMNS, build_variants, measure, optimization_inputs, recommend


def bench_labels(model_path: Path, data: str | None, data_dir: Path | None, channels: int):
    """The labels to measure on and where they came from (see the module docstring)."""
    from helpers.data import LabelSet, label_dataset

    beside = RunFiles(Path(model_path).parent)
    if data is None and beside.labels.is_file() and beside.dataset.is_file():
        return LabelSet.load(beside), f"its run's labels ({beside.labels})"
    data = data or (FASHION_MNIST if channels == 1 else "sample")
    return label_dataset(data, data_dir, check_files=False), data


def train_fashion_model(name: str, epochs: int, seed: int = 0) -> Path:
    """Train zoo model ``name`` on Fashion-MNIST with its recipe (the one training path) into
    runs/bench-<name>/ and return its model file."""
    run = Run.open(
        {"profile": "fashion_mnist", "model": name, "epochs": epochs, "seed": seed,
         "run_dir": str(RUNS_DIR / f"bench-{name}")}
    )  # fmt: skip
    trained = run.train()
    print(f"Trained {name}: test accuracy {trained.record['test']['accuracy']:.2%}")
    return run.files.model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", type=Path, help="a saved .keras model")
    parser.add_argument(
        "--train", help="train this zoo model on Fashion-MNIST first (instead of MODEL)"
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs for --train")
    parser.add_argument(
        "--data",
        choices=sorted(datasets()),
        help="dataset kind to measure on (default: the model's run, else by its input channels)",
    )
    parser.add_argument("--data-dir", type=Path, help="the dataset folder, for --data")
    parser.add_argument(
        "--prune", type=float, default=0.5, help="share of filters/weights to prune (0: none)"
    )
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument(
        "--runs", type=int, default=100, help="single-image predictions timed per variant"
    )
    parser.add_argument("--csv", type=Path, help="also write the table here")
    parser.add_argument(
        "--threads", type=int, default=0,
        help="threads for LiteRT, ONNX Runtime and TensorFlow (0: every core); the table shows them",
    )  # fmt: skip
    args = parser.parse_args(argv)
    set_tf_threads(args.threads)

    if args.train:
        args.model = train_fashion_model(args.train, args.epochs)
    if args.model is None:
        parser.error("give a saved MODEL.keras, or --train NAME")
    try:
        model = load_model(args.model)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    shape = tuple(model.input_shape[1:])
    try:
        labels, data = bench_labels(args.model, args.data, args.data_dir, shape[-1])
    except (InputError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    outputs = int(model.output_shape[-1])
    if outputs != len(labels.classes):
        print(
            f"error: {args.model}: the model has {outputs} classes, {data} has "
            f"{len(labels.classes)}; give --data (and --data-dir) for the data it was trained on",
            file=sys.stderr,
        )
        return 2
    try:  # scored by name: the model's outputs follow its classes.json, not the data's order
        classes = read_classes(args.model.with_name("classes.json"), outputs)
        labels = align_classes(labels, classes, args.model)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    batch_size = 128 if kind_of(labels).images.in_memory else 32
    inputs = optimization_inputs(labels, shape[0], batch_size, seed=0)
    files = RunFiles(RUNS_DIR / "bench-inference" / args.model.stem).ensure()
    atomic.save_model(model, files.model)
    started = time.perf_counter()
    variants = build_variants(
        model,
        files,
        inputs["representative"],
        inputs["train"],
        inputs["val"],
        prune_ratio=args.prune,
        finetune_epochs=args.finetune_epochs,
        threads=args.threads or None,
    )
    table = measure(variants, inputs["measure"], runs=args.runs)
    print(
        f"{args.model} on {inputs['measure'].test.images:,} test images of {data}; "
        f"built and measured in {time.perf_counter() - started:.0f} s\nCPU: {cpu_description()}"
    )
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table[TABLE_COLUMNS].to_string(index=False))
    if args.csv:
        atomic.write_csv(args.csv, table)
    print()
    print(recommend(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
