"""Fashion-MNIST benchmark: zoo models trained on the full 60k/10k split, one process, one table.

    python bench/fashion_mnist.py                                   # seed models at their own epochs, ours at 30
    python bench/fashion_mnist.py --models ours_tiny classifier --epochs ours_tiny=30 classifier=30 --seeds 3
    python bench/fashion_mnist.py --resume     # keep the finished runs in the .runs.csv, train the rest
    python bench/fashion_mnist.py --screen 'tiny/*' --screen-epochs 8   # recipe screens (54k/6k split)
    python bench/fashion_mnist.py --time-epochs 2   # every model N epochs in one process: time ratios

Seed models train as their authors did (Adam 1e-3, no augmentation); ours
with the recipe :data:`helpers.recipes.CHOSEN` names (``--recipe
ours=NAME`` for another). Each model trains for a fixed number of epochs on
all 60,000 training images and is scored once on the 10,000 test images, then
converted to full-integer int8 LiteRT and scored and timed again. Training
wall time is reported relative to the seed ``classifier``'s: from the timing
pass (``--time-epochs``: every model trained a few epochs one after another in
one process, seconds per epoch times each model's epochs) when its CSV exists,
else from the runs' own wall times (which mix processes when resumed or run
side by side). Every run is appended to the ``.runs.csv`` under a lock, so
several processes (``--threads 1`` each on a small machine) can share it.
Writes a CSV and the accuracy-against-FLOPs chart.

Training goes through :func:`helpers.training.in_memory.train_split`, so this
runs on any Keras backend: ``KERAS_BACKEND=jax`` on a GPU machine without
TensorFlow trains and scores in float and keeps the models; ``--rescore``
where TensorFlow is adds the int8 accuracies and the latencies.

``--screen`` never touches the test images: it trains named screens
(``bench/screens.py``: a model, its options, a recipe) on 54,000 training images and scores them on
the other 6,000, appending every run to ``fashion_mnist_screens.csv``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers import atomic, plots
from helpers.data.fashion_mnist import fashion_mnist_labels
from helpers.flops import totals
from helpers.models import build_model
from helpers.paths import IMAGES_DIR, RUNS_DIR
from helpers.recipes import RECIPES, recipe
from helpers.training import set_seeds
from helpers.training.in_memory import score_split, train_split, trained_on, training_threads

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screens

# The seed models' own epoch counts and the accuracies their authors reported.
SEEDS = {
    "fashion_cnn": (5, 0.9029),
    "baseline": (30, 0.916),
    "classifier": (30, 0.925),
    "deeper": (30, 0.9315),
}
OURS = {"ours_tiny": 30, "ours": 30}


def model_path(name: str, epochs: int, seed: int, recipe_description: str) -> Path:
    """Where a benchmark run's trained model is kept (``--rescore`` measures it again): one file
    per model, epochs, seed and recipe (a short hash of its description)."""
    tag = hashlib.sha256(recipe_description.encode()).hexdigest()[:8]
    return RUNS_DIR / "fashion-mnist-bench" / f"{name}-{tag}-e{epochs}-s{seed}.keras"


def score(model, labels, seed: int) -> dict:
    """Test accuracy in float (Keras) and full int8 (LiteRT); single-image latency of float32 and
    full-int8 LiteRT at the same thread count, timed in turns."""
    from helpers.latency import interleaved_latency_ms
    from helpers.litert import LiteRTModel, to_tflite
    from helpers.loading import InputSpec, load_inputs, tf_batches
    from helpers.variants import KerasRunner, accuracy

    test = tf_batches(InputSpec(labels, 28, 512), "test")
    calibration = load_inputs(labels, labels.split("train").sample(200, random_state=seed), 28)
    lite = LiteRTModel(to_tflite(model, "float32"))
    int8 = LiteRTModel(to_tflite(model, "full int8", calibration), num_threads=lite.threads)
    (float_ms, _), (int8_ms, _) = interleaved_latency_ms(
        [lite.predict, int8.predict], calibration[:1], runs=300
    )
    return {
        "test_accuracy": accuracy(KerasRunner(model).predict, test),
        "int8_accuracy": accuracy(int8.predict, test),
        "float_latency_ms": round(float_ms, 3),
        "int8_latency_ms": round(int8_ms, 3),
        "threads": int8.threads,
        "int8_runtime": int8.runtime,
    }


def rescore(runs_csv: Path, labels) -> None:
    """Score every run's saved model again in this one process (same conversion code, latencies
    under the same load) and update its row; runs whose model file is missing keep theirs."""
    from helpers.models import load_model

    def key(row) -> tuple:
        return row["model"], int(row["epochs"]), int(row["seed"]), row["recipe"]

    updates = {}
    for row in pd.read_csv(runs_csv).to_dict("records"):
        path = model_path(*key(row))
        if not path.exists():
            print(f"{path}: missing; {row['model']} seed {row['seed']} keeps its scores")
            continue
        updates[key(row)] = scores = score(load_model(path), labels, int(row["seed"]))
        print(row["model"], row["seed"], scores, flush=True)
    with atomic.locked(runs_csv):
        runs = pd.read_csv(runs_csv)
        for i, row in runs.iterrows():
            for column, value in updates.get(key(row), {}).items():
                runs.loc[i, column] = value
        atomic.write_csv(runs_csv, runs)


def train_and_score(
    name: str, epochs: int, seed: int, labels, batch_size: int, recipe_name: str | None = None
) -> dict:
    """Train one model with its recipe (:func:`helpers.training.in_memory.train_split`); score it
    in float and full int8. Without TensorFlow (JAX on a GPU machine) the int8 columns stay empty
    until ``--rescore`` on a machine that has it."""
    set_seeds(seed)
    how = recipe(name, recipe_name)
    model = build_model(name, (28, 28, 1), 10)
    started = time.perf_counter()
    train_split(model, how, labels, epochs, batch_size, seed)
    seconds = time.perf_counter() - started
    atomic.save_model(model, model_path(name, epochs, seed, how.description))
    cost = totals(model)
    scores = (
        score(model, labels, seed)
        if keras.backend.backend() == "tensorflow"
        else {
            "test_accuracy": score_split(model, labels, "test")["accuracy"],
            **dict.fromkeys(
                ["int8_accuracy", "float_latency_ms", "int8_latency_ms", "threads"], np.nan
            ),
        }
    )
    return {
        "model": name,
        "source": "ours" if name in OURS else "seed",
        "seed": seed,
        "epochs": epochs,
        "params": cost["params"],
        "macs": cost["macs"],
        "MFLOPs": round(cost["flops"] / 1e6, 2),
        "recipe": how.description,
        "batch_size": batch_size,
        "train_seconds": round(seconds, 1),
        "train_threads": training_threads(),
        "trained_on": trained_on(),
        **scores,
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


def current_runs(runs: pd.DataFrame, overrides: dict[str, str] | None = None) -> list[dict]:
    """The runs made with the zoo's current architecture and recipe (or the one ``overrides``
    names for a model); the others are retrained."""
    if "recipe" not in runs:  # written before recipes were recorded: all retrained
        runs = runs.assign(recipe="")
    names = runs["model"].unique()
    overrides = overrides or {}
    params = {name: build_model(name, (28, 28, 1), 10).count_params() for name in names}
    recipes = {name: recipe(name, overrides.get(name)).description for name in names}
    changed = runs["params"] != runs["model"].map(params)
    stale = runs["recipe"] != runs["model"].map(recipes)
    for name in runs.loc[changed, "model"].unique():
        print(
            f"Dropping the runs of {name}: its architecture changed ({params[name]:,} parameters now)"
        )
    for name in runs.loc[stale & ~changed, "model"].unique():
        print(f"Dropping the runs of {name}: its recipe is now {recipes[name]!r}")
    return runs[~(changed | stale)].to_dict("records")


def time_epochs(
    models: list[str],
    n: int,
    epochs: dict[str, int],
    labels,
    batch_size: int,
    overrides: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The timing pass: each model trained ``n`` epochs with its recipe, one after another in this
    process; seconds per epoch (the epochs after the first, which traces the step) and each
    model's whole training (its own epochs) relative to the classifier's."""
    rows = []
    for name in models:
        set_seeds(0)
        model = build_model(name, (28, 28, 1), 10)
        how = recipe(name, (overrides or {}).get(name))
        history, _ = train_split(model, how, labels, n, batch_size)
        seconds = history["seconds"].to_numpy()
        rows.append({
            "model": name, "timed_epochs": n, "first_epoch_seconds": seconds[0],
            "seconds_per_epoch": round(float(np.mean(seconds[1:] if n > 1 else seconds)), 2),
            "epochs": epochs[name], "threads": training_threads(), "batch_size": batch_size,
            "cpus": os.cpu_count(), "measured": time.strftime("%Y-%m-%d %H:%M"),
        })  # fmt: skip
        print(rows[-1], flush=True)
    timing = pd.DataFrame(rows)
    timing["train_seconds_estimate"] = (timing["seconds_per_epoch"] * timing["epochs"]).round(1)
    base = timing.loc[timing["model"] == "classifier", "train_seconds_estimate"]
    timing["time_vs_classifier"] = (
        (timing["train_seconds_estimate"] / base.iloc[0]).round(2) if len(base) else np.nan
    )
    return timing


def summarise(runs: pd.DataFrame, timing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and spread over seeds per model, wall time relative to the seed classifier, claims beside.

    The time ratio comes from ``timing`` (the one-process timing pass) where it has the model
    at the run's epochs, else from the runs' own wall times; ``time_source`` says which."""
    grouped = runs.groupby(["model", "source", "epochs", "params", "macs", "MFLOPs"], sort=False)
    optional = {  # columns that older runs files lack
        "float_latency_ms": ("float_latency_ms", "median"),
        "threads": ("threads", "max"),
    }
    table = grouped.agg(
        test_accuracy=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"),
        seeds=("seed", "count"),
        int8_accuracy=("int8_accuracy", "mean"),
        int8_latency_ms=("int8_latency_ms", "median"),
        **{k: v for k, v in optional.items() if v[0] in runs},
        train_seconds=("train_seconds", "mean"),
    ).reset_index()
    base = table.loc[table["model"] == "classifier", "train_seconds"]
    table["time_vs_classifier"] = (
        (table["train_seconds"] / base.iloc[0]).round(2) if len(base) else np.nan
    )
    table["time_source"] = "runs"
    if timing is not None and len(timing):
        timed = timing.set_index(["model", "epochs"])["time_vs_classifier"]
        keys = list(zip(table["model"], table["epochs"], strict=True))
        found = [k in timed.index for k in keys]
        table.loc[found, "time_vs_classifier"] = [timed[k] for k in keys if k in timed.index]
        table.loc[found, "time_source"] = "timing pass"
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
    parser.add_argument(
        "--recipe", nargs="*", default=[], metavar="NAME=RECIPE",
        help="train a model with another recipe of helpers.recipes.RECIPES (and bench/screens.py's)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: all cores)")
    parser.add_argument("--screen", nargs="+", metavar="NAME", help="screen these (patterns)")
    parser.add_argument("--screen-epochs", type=int, default=8)
    parser.add_argument(
        "--screens-csv", type=Path, default=IMAGES_DIR / "fashion_mnist_screens.csv"
    )
    parser.add_argument(
        "--time-epochs", type=int, default=0, metavar="N",
        help="timing pass: train every --models model N epochs in this process (no runs)",
    )  # fmt: skip
    parser.add_argument(
        "--rescore", action="store_true",
        help="score every run's saved model again in this process (int8, latencies); no training",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=IMAGES_DIR / "fashion_mnist_benchmark.csv")
    args = parser.parse_args(argv)
    if keras.backend.backend() == "tensorflow":
        from helpers.latency import set_tf_threads

        set_tf_threads(args.threads)
    if args.screen:
        return screens.screen_all(args.screen, args.screen_epochs, args.seeds, args.screens_csv)
    epochs = {
        **{k: v[0] for k, v in SEEDS.items()},
        **OURS,
        **{k: int(v) for k, v in (item.split("=") for item in args.epochs)},
    }
    recipes = dict(item.split("=", 1) for item in args.recipe if "=" in item)
    for name, chosen in recipes.items():
        if name not in args.models or chosen not in RECIPES:
            parser.error(
                f"--recipe {name}={chosen}: name one of --models and one of {sorted(RECIPES)}"
            )
    if len(recipes) != len(args.recipe):
        parser.error("--recipe takes MODEL=RECIPE")
    labels = fashion_mnist_labels(val_fraction=0.0)
    print(
        f"Fashion-MNIST {len(labels.split('train'))}/{len(labels.split('test'))}; "
        f"{os.cpu_count()} CPUs, {platform.machine()}, {training_threads()} threads, trained by {trained_on()}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs_csv, timing_csv = args.out.with_suffix(".runs.csv"), args.out.with_suffix(".timing.csv")
    if args.rescore:
        rescore(runs_csv, labels)
    elif args.time_epochs:
        timing = time_epochs(
            args.models, args.time_epochs, epochs, labels, args.batch_size, recipes
        )
        atomic.write_csv(timing_csv, timing)
        print(timing.to_string(index=False))
    elif not args.resume:
        runs_csv.unlink(missing_ok=True)  # a fresh benchmark
    rows = current_runs(pd.read_csv(runs_csv), recipes) if runs_csv.exists() else []
    todo = (
        [] if args.time_epochs or args.rescore else pending(args.models, args.seeds, epochs, rows)
    )
    if rows:
        print(f"{runs_csv}: {len(rows)} runs kept, {len(todo)} to go")
    for name, seed in todo:  # appended one by one, under a lock: nothing lost if stopped
        atomic.append_csv_row(
            runs_csv,
            train_and_score(name, epochs[name], seed, labels, args.batch_size, recipes.get(name)),
        )
    if not runs_csv.exists():
        return 0
    kept = current_runs(pd.read_csv(runs_csv), recipes)
    if not kept:
        print(f"{runs_csv}: no run of the current architectures and recipes yet")
        return 0
    timing = pd.read_csv(timing_csv) if timing_csv.exists() else None
    table = summarise(pd.DataFrame(kept), timing)
    atomic.write_csv(args.out, table)
    plots.accuracy_vs_flops(table, path=args.out.with_name("fashion_mnist_accuracy_vs_flops.png"))
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table.to_string(index=False))
    print(f"Wrote {args.out} and {args.out.with_name('fashion_mnist_accuracy_vs_flops.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
