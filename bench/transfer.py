"""Transfer learning on real photos: the 256x256 CNN from scratch against ImageNet EfficientNet-Lite0.

    python bench/transfer.py                                 # ../shared clothing-dataset-small
    python bench/transfer.py PHOTOS --groups images.csv      # any folder dataset, contributors known
    python bench/transfer.py --epochs 1 --max-images 600 --skip-scratch    # a quick look
    python bench/transfer.py --grouped-scratch   # the CNN on the contributor-disjoint split too
    python bench/transfer.py --screen finetune,finetune-lr1e-4 --epochs 1 --max-images 1000

One table, one row per model and split: the CNN from scratch (``deepfashion_cnn``,
photo recipe), a linear probe on Lite0's frozen ImageNet features (logistic
regression, its C chosen on the validation split) and Lite0 fine-tuned (its recipe,
:data:`helpers.recipes.CHOSEN`), each with validation and test accuracy, MFLOPs
per image (no test-time augmentation), training time on this machine and float32 /
full-int8 LiteRT latency (one image, XNNPACK, the CPU and its threads named). Splits:
the dataset's own (``published``) and, where a CSV gives each photo's contributor
(``sender_id``), a contributor-disjoint one (``grouped``). Everything trains through the
one training path (:func:`helpers.training.train_model`) on the one loader; results are
cached under ``runs/bench-transfer/`` keyed by their settings, so a rerun recomputes nothing.
With fastai installed (``pip install -r requirements-fastai.txt``) the published split gets one
more row: fastai's own ``vision_learner`` + ``fine_tune`` on the same Lite0 ImageNet weights (the
PyTorch reference), images, split and number of epochs (``bench/fastai_transfer.py``).
``--screen`` trains Lite0 with each named recipe on the published split and prints
validation accuracy only (recipes are chosen on validation, never on test).
The last line: ``lite0 fine-tuned 93.5% test at 0.80 GFLOPs in 12.0 min; from scratch
61.0%; int8 2.4x float``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fastai_transfer  # noqa: E402

from helpers.latency import cpu_description  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DEFAULT_DATA = SHARED / "clothing-dataset-small"
DEFAULT_GROUPS = SHARED / "clothing-dataset-images.csv"
CACHE = ROOT / "runs" / "bench-transfer"
PROBE_C = (0.1, 0.3, 1.0, 3.0)
LITE0, SCRATCH = "efficientnet_lite0", "deepfashion_cnn"
COLUMNS = [
    "model",
    "split",
    "val",
    "test",
    "MFLOPs",
    "train min",
    "float ms",
    "int8 ms",
    "int8 test",
]


def key_folder(kind: str, key: dict) -> Path:
    """The cache folder of one result: its kind plus a digest of everything it depends on."""
    text = json.dumps(key, sort_keys=True, default=str)
    return CACHE / f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def run_settings(args, split: str, model: str, image_size: int, epochs: int, recipe=None):
    """The run settings of one training (the folder dataset, this split, this model). A screen
    of the model's own recipe is the report's run (one cache folder, trained once)."""
    from helpers.recipes import CHOSEN
    from helpers.settings import resolve

    if recipe == CHOSEN.get(model):
        recipe = None

    return resolve(
        {
            "profile": "demo",
            "dataset": "folders",
            "data_dir": args.data_dir,
            "split": "official" if split == "published" else "grouped",
            "groups": args.groups,
            "max_images": args.max_images,
            "image_size": image_size,
            "model": model,
            "epochs": epochs,
            "patience": epochs,  # the cosine schedule runs its course
            "batch_size": args.batch_size,
            "seed": args.seed,
            "recipe": recipe,
            "strategy": "one",
            "precision": "float32",
            "run_dir": CACHE / "settings",
        }
    )


def trained(settings, labels, log=print, latency: bool = True) -> dict:
    """Train (or read back) one model through the one training path; its accuracies and times."""
    from helpers.paths import RunFiles
    from helpers.run import model_key
    from helpers.training import Checkpoint, train_model

    key = model_key(settings)
    folder = key_folder(settings.model, key)
    result_file = folder / ("result.json" if latency else "screen.json")
    if result_file.is_file():
        log(f"{settings.model}: read back from {folder}")
        return json.loads(result_file.read_text())
    files = RunFiles(folder)
    done = train_model(settings, labels, Checkpoint(files, key), verbose=1, log=log)
    record = done.record
    epochs = done.history["seconds"].tolist()
    seconds = float(sum(epochs)) + record.get("probe_seconds", 0.0)
    result = {
        "folder": str(folder),
        "val": record["best_val_accuracy"],
        "test": record["test"]["accuracy"],
        "train_seconds": round(seconds, 1),
        "epoch_seconds": epochs,
        "recipe": record.get("recipe", ""),
    }
    if latency:
        result.update(measured(done.model, labels, settings.image_size))
    from helpers import atomic

    atomic.write_json(result_file, result)
    return result


def measured(model, labels, image_size: int, calibration: int = 64) -> dict:
    """MFLOPs per image, float32 and full-int8 LiteRT single-image latency and int8 test accuracy."""
    from helpers.flops import totals
    from helpers.litert import LiteRTModel, to_tflite
    from helpers.loading import InputSpec, load_inputs, tf_batches
    from helpers.variants import MeasureInputs, Variant, measure

    train = labels.split("train")
    representative = load_inputs(
        labels, train.sample(min(calibration, len(train)), random_state=0), image_size
    )
    test = tf_batches(InputSpec(labels, image_size, 32), "test", shuffle=False)
    variants = []
    for name in ("float32", "full int8"):
        content = to_tflite(model, name, representative)
        variants.append(Variant.from_model(name, model, LiteRTModel(content), len(content)))
    table = measure(variants, MeasureInputs(test, representative[:8]), runs=30).set_index("variant")
    return {
        "mflops": totals(model)["flops"] / 1e6,
        "float_ms": float(table.loc["float32", "latency_p50_ms"]),
        "int8_ms": float(table.loc["full int8", "latency_p50_ms"]),
        "float_test": float(table.loc["float32", "accuracy"]),
        "int8_test": float(table.loc["full int8", "accuracy"]),
        "threads": int(table.loc["float32", "threads"]),
        "runtime": str(table.loc["full int8", "runtime"]),
    }


def lite0_features(labels, image_size: int = 224) -> tuple[dict[str, np.ndarray], float]:
    """Lite0's pooled ImageNet features of every image (cached by path), and seconds per image."""
    from helpers.lite0 import backbone
    from helpers.training.probe import features

    paths = sorted(labels.table["path"])
    digest = hashlib.sha256("\n".join([str(labels.root), *paths]).encode()).hexdigest()[:12]
    file = CACHE / f"features-{image_size}-{digest}.npz"
    if file.is_file():
        saved = np.load(file)
        return dict(zip(saved["paths"], saved["features"], strict=True)), float(saved["seconds"])
    every = dataclasses.replace(labels, table=labels.table.assign(split="train"))
    started = time.perf_counter()
    x = features(backbone((image_size, image_size, 3)), every, "train", image_size)
    per_image = (time.perf_counter() - started) / max(len(x), 1)
    from helpers import atomic

    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(file) as temporary:
        np.savez(temporary, paths=every.split("train")["path"].to_numpy(str), features=x,
                 seconds=per_image)  # fmt: skip
    return dict(zip(every.split("train")["path"], x, strict=True)), per_image


def probe(labels, image_size: int = 224) -> dict:
    """A linear probe: logistic regression on frozen Lite0 features, C chosen on validation."""
    from helpers.training.probe import fit_probe

    by_path, per_image = lite0_features(labels, image_size)
    index = {c: i for i, c in enumerate(labels.classes)}
    split = {
        name: (
            np.stack([by_path[p] for p in labels.split(name)["path"]]),
            labels.split(name)["label"].map(index).to_numpy(),
        )
        for name in ("train", "val", "test")
    }

    def accuracy(weights, name):
        x, y = split[name]
        return float(((x @ weights[0] + weights[1]).argmax(axis=1) == y).mean())

    started = time.perf_counter()
    fits = {c: fit_probe(*split["train"], len(labels.classes), c) for c in PROBE_C}
    best = max(PROBE_C, key=lambda c: accuracy(fits[c], "val"))
    fit_seconds = (time.perf_counter() - started) / len(PROBE_C)
    return {
        "val": accuracy(fits[best], "val"),
        "test": accuracy(fits[best], "test"),
        "train_seconds": round(per_image * len(split["train"][1]) + fit_seconds, 1),
        "c": best,
        "val_by_c": {str(c): round(accuracy(fits[c], "val"), 4) for c in PROBE_C},
    }


def fastai_row(args, labels) -> dict:
    """fastai's own fine-tuning of the same Lite0 weights on the same split (cached)."""
    plan = fastai_transfer.FastaiPlan(epochs=args.epochs, batch_size=args.batch_size,
                                      seed=args.seed)  # fmt: skip
    key = {"data": str(labels.root), "paths": labels.table.to_csv(index=False),
           "plan": dataclasses.asdict(plan), **fastai_transfer.versions()}  # fmt: skip
    file = key_folder("fastai", key) / "result.json"
    if file.is_file():
        print(f"fastai: read back from {file.parent}")
        return json.loads(file.read_text())
    result = fastai_transfer.fine_tune(labels, plan)
    from helpers import atomic

    atomic.write_json(file, result)
    return result


def table_row(model: str, split: str, result: dict, mflops: float | None = None) -> dict:
    def percent(value):
        return f"{100 * value:.1f}%" if value is not None else "-"

    def ms(value):
        return f"{value:.2f}" if value is not None else "-"

    return {
        "model": model,
        "split": split,
        "val": percent(result.get("val")),
        "test": percent(result.get("test")),
        "MFLOPs": f"{result.get('mflops', mflops):.0f}" if result.get("mflops", mflops) else "-",
        "train min": f"{result['train_seconds'] / 60:.1f}",
        "float ms": ms(result.get("float_ms")),
        "int8 ms": ms(result.get("int8_ms")),
        "int8 test": percent(result.get("int8_test")),
    }


def format_table(rows: list[dict]) -> str:
    """The results as a GitHub-markdown table (what the README shows)."""
    return pd.DataFrame(rows, columns=COLUMNS).to_markdown(index=False, disable_numparse=True)


def last_line(fine: dict, scratch: dict | None) -> str:
    """``lite0 fine-tuned 93.5% test at 0.80 GFLOPs in 12.0 min; from scratch 61.0%; int8 2.4x float``."""
    from_scratch = f"{100 * scratch['test']:.1f}%" if scratch else "skipped"
    return (
        f"lite0 fine-tuned {100 * fine['test']:.1f}% test at {fine['mflops'] / 1000:.2f} GFLOPs "
        f"in {fine['train_seconds'] / 60:.1f} min; from scratch {from_scratch}; "
        f"int8 {fine['float_ms'] / fine['int8_ms']:.1f}x float"
    )


def screen(args, labels_of) -> int:
    """Lite0 with each recipe named, on the published split: validation accuracy only."""
    import screens  # noqa: F401  (adds the screened recipes to RECIPES)

    rows = []
    for name in args.screen.split(","):
        settings = run_settings(args, "published", LITE0, args.image_size, args.epochs, name)
        result = trained(settings, labels_of(settings), latency=False)
        per_epoch = np.mean(result["epoch_seconds"])
        rows.append({"recipe": name, "val": result["val"], "epoch s": round(per_epoch)})
        print(f"screen {name}: val {100 * result['val']:.1f}%, {per_epoch:.0f} s per epoch")
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, help="a folder dataset (default: "
                        "../shared/data/clothing-dataset-small)")  # fmt: skip
    parser.add_argument("--groups", type=Path, help="CSV of image ids and sender_id "
                        "(default: ../shared/data/clothing-dataset-images.csv if present)")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=3, help="Lite0 fine-tuning epochs")
    parser.add_argument("--scratch-epochs", type=int, default=6, help="epochs of the CNN")
    parser.add_argument("--max-images", type=int, help="cap, sampled evenly per split and class")
    parser.add_argument("--image-size", type=int, default=224, help="Lite0's input size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-scratch", action="store_true", help="no CNN from scratch")
    parser.add_argument("--grouped-scratch", action="store_true",
                        help="the CNN from scratch on the contributor-disjoint split too")  # fmt: skip
    parser.add_argument("--published-only", action="store_true",
                        help="no contributor-disjoint split")  # fmt: skip
    parser.add_argument("--screen", help="comma-separated Lite0 recipes to screen on validation")
    args = parser.parse_args(argv)
    from helpers import tf_logging
    from helpers.errors import InputError
    from helpers.labels import build_labels

    tf_logging.install()
    if args.data_dir is None:
        if not DEFAULT_DATA.is_dir():
            parser.error(f"{DEFAULT_DATA} not found: give a folder dataset")
        args.data_dir = DEFAULT_DATA
        if args.groups is None and DEFAULT_GROUPS.is_file():
            args.groups = DEFAULT_GROUPS
    args.data_dir = args.data_dir.resolve()
    CACHE.mkdir(parents=True, exist_ok=True)
    labels_cache = {}

    def labels_of(settings):
        key = (settings.split, str(settings.groups), settings.max_images)
        if key not in labels_cache:
            labels_cache[key] = build_labels(settings)
        return labels_cache[key]

    try:
        if args.screen:
            return screen(args, labels_of)
        return report(args, labels_of)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def report(args, labels_of) -> int:
    splits = ["published"] + ([] if args.published_only or args.groups is None else ["grouped"])
    rows, results = [], {}
    for split in splits:
        fine_settings = run_settings(args, split, LITE0, args.image_size, args.epochs)
        labels = labels_of(fine_settings)
        print(f"{split} split: {labels.table['split'].value_counts().to_dict()}, "
              f"{len(labels.classes)} classes")  # fmt: skip
        fine = trained(fine_settings, labels)
        results[(split, "probe")] = probe(labels)
        results[(split, "fine")] = fine
        if not args.skip_scratch and (split == "published" or args.grouped_scratch):
            scratch = run_settings(args, split, SCRATCH, 256, args.scratch_epochs)
            results[(split, "scratch")] = trained(scratch, labels_of(scratch))
            rows.append(table_row(f"{SCRATCH} from scratch", split, results[(split, "scratch")]))
        probe_row = table_row(f"lite0 linear probe (C={results[(split, 'probe')]['c']:g})",
                              split, results[(split, "probe")], fine["mflops"])  # fmt: skip
        rows += [probe_row, table_row("lite0 fine-tuned", split, fine)]
        if split == "published" and fastai_transfer.available():
            results[(split, "fastai")] = fastai_row(args, labels)
            rows.append(
                table_row("fastai vision_learner fine_tune", split, results[(split, "fastai")])
            )
    print()
    print(format_table(rows))
    fine = results[("published", "fine")]
    threads = fine["threads"]
    print(f"\nCPU: {cpu_description()}; LiteRT {fine['runtime']}, {threads} threads "
          f"(os.cpu_count() {os.cpu_count()}); latency: one image, median of 30. "
          "The probe has the fine-tuned model's architecture (same FLOPs and latency).")  # fmt: skip
    print(f"fine-tuning recipe: {fine['recipe']}")
    print("epoch seconds (published): " + ", ".join(f"{s:.0f}" for s in fine["epoch_seconds"]))
    if ("published", "fastai") in results:
        done = results[("published", "fastai")]
        print(f"fastai row: fastai {done['fastai']} (PyTorch {done['torch']}) vision_learner + "
              f"fine_tune({args.epochs - 1}, freeze_epochs=1) on the same Lite0 ImageNet weights, "
              "split and epochs; PyTorch, so no LiteRT latency")  # fmt: skip
    else:
        print("fastai: not installed (pip install -r requirements-fastai.txt); its row is skipped")
    print(last_line(fine, results.get(("published", "scratch"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
