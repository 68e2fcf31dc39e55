"""Transfer learning on real photos: EfficientNet-Lite0/1/2 (ImageNet, offline) probed and fine-tuned,
beside the 256x256 CNN from scratch.

    python bench/transfer.py --models lite0,lite1,lite2     # ../shared clothing-dataset-small
    python bench/transfer.py PHOTOS --groups images.csv      # any folder dataset, contributors known
    python bench/transfer.py DIR --dataset clothing_full     # the full clothing set (its own split)
    python bench/transfer.py --models lite0 --seeds 42 --epochs 1 --max-images 600 --skip-scratch
    python bench/transfer.py --screen finetune,finetune-lr1e-4 --epochs 1 --max-images 1000

One table, one row per model and split: the CNN from scratch (``deepfashion_cnn``,
photo recipe), and for each backbone (each at its own ImageNet resolution) a linear
probe on its frozen ImageNet features (logistic regression, C chosen on validation,
images resized and centre-cropped as the weights were evaluated) and the backbone
fine-tuned (its recipe, :data:`helpers.recipes.CHOSEN`) once per ``--seeds`` seed
(mean and standard deviation), each with validation and test accuracy, MFLOPs
per image (no test-time augmentation), training minutes on this machine and float32 /
full-int8 LiteRT latency (one image, XNNPACK, the CPU and its threads named). Splits:
the dataset's own (``published``) and, where a CSV gives each photo's contributor
(``sender_id``), a contributor-disjoint one (``grouped``). Recipes and the best backbone are
chosen on the grouped split's validation accuracy; the published split is reported, never
tuned on. Everything trains through the one training path (:func:`helpers.training.train_model`)
on the one loader; results are cached under ``runs/bench-transfer/`` keyed by their settings,
so a rerun recomputes nothing.
With fastai installed (``pip install -r requirements-fastai.txt``) the published split gets one
more row: fastai's own ``vision_learner`` + ``fine_tune`` on the same Lite0 ImageNet weights (the
PyTorch reference), images, split and number of epochs (``bench/fastai_transfer.py``).
``--screen`` trains the first of ``--models`` with each named recipe on the grouped split
(published without contributors) and prints validation accuracy only.
The last line: ``best grouped: lite1 fine-tuned 93.4% test (published 94.1%) at 1.20 GFLOPs in
11.0 min; int8 2.3x float`` (accuracies: means over the seeds; best by grouped validation).
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
SCRATCH = "deepfashion_cnn"
MODELS = {
    "lite0": "efficientnet_lite0",
    "lite1": "efficientnet_lite1",
    "lite2": "efficientnet_lite2",
}
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


def run_settings(
    args, split: str, model: str, image_size: int, epochs: int, recipe=None, seed=None
):
    """The run settings of one training (the dataset, this split, this model, this seed). A
    screen of the model's own recipe is the report's run (one cache folder, trained once)."""
    from helpers.recipes import CHOSEN
    from helpers.settings import resolve

    if recipe == CHOSEN.get(model):
        recipe = None

    return resolve(
        {
            "profile": "demo",
            "dataset": getattr(args, "dataset", "folders"),
            "data_dir": args.data_dir,
            **split_settings(args, split),
            "max_images": args.max_images,
            "image_size": image_size,
            "model": model,
            "epochs": epochs,
            "patience": epochs,  # the cosine schedule runs its course
            "batch_size": args.batch_size,
            "seed": args.seed if seed is None else seed,
            "recipe": recipe,
            "strategy": "one",
            "precision": "float32",
            "run_dir": CACHE / "settings",
        }
    )


def split_settings(args, split: str) -> dict:
    """A folder dataset's published split, or its contributor-disjoint one from ``--groups``; any
    other dataset kind's own (grouped) split."""
    if getattr(args, "dataset", "folders") != "folders":
        return {"split": "auto"}
    if split == "published":
        return {"split": "official", "groups": args.groups}
    return {"split": "grouped", "groups": args.groups}


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


def backbone_features(labels, name: str) -> tuple[dict[str, np.ndarray], float]:
    """A backbone's pooled ImageNet features of every image (cached by path), and seconds per
    image: each photo read by the one reader, its short side resized to the resolution + 32 and
    the centre cropped (EfficientNet's evaluation transform, as its weights were measured)."""
    from tqdm.auto import tqdm

    from helpers.efficientnet_lite import backbone, variant
    from helpers.imagenet import centre_crop
    from helpers.images import read_image

    side = variant(name).resolution
    paths = sorted(labels.table["path"])
    digest = hashlib.sha256("\n".join([str(labels.root), *paths]).encode()).hexdigest()[:12]
    file = CACHE / f"features-{name}-crop{side}-{digest}.npz"
    if file.is_file():
        saved = np.load(file)
        return dict(zip(saved["paths"], saved["features"], strict=True)), float(saved["seconds"])
    model, rows = backbone((side, side, 3), name=name), []
    started = time.perf_counter()
    for start in tqdm(range(0, len(paths), 32), desc=f"{name} features", mininterval=5):
        crops = [
            centre_crop(read_image(labels.root / p, 3), side) for p in paths[start : start + 32]
        ]
        rows.append(model.predict(np.stack(crops) / 255.0, verbose=0))
    x = np.concatenate(rows)
    per_image = (time.perf_counter() - started) / max(len(x), 1)
    from helpers import atomic

    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(file) as temporary:
        np.savez(temporary, paths=np.array(paths, str), features=x, seconds=per_image)
    return dict(zip(paths, x, strict=True)), per_image


def probe(labels, name: str = "efficientnet_lite0") -> dict:
    """A linear probe: logistic regression on a backbone's frozen features, C chosen on validation."""
    from helpers.training.probe import fit_probe

    by_path, per_image = backbone_features(labels, name)
    index = {c: i for i, c in enumerate(labels.classes)}
    split = {
        part: (
            np.stack([by_path[p] for p in labels.split(part)["path"]]),
            labels.split(part)["label"].map(index).to_numpy(),
        )
        for part in ("train", "val", "test")
    }

    def accuracy(weights, part):
        x, y = split[part]
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


def fine_tuned(args, split: str, name: str, labels_of) -> dict:
    """The backbone fine-tuned once per seed: mean accuracies and minutes, the spread of test
    accuracy, and the first seed's MFLOPs and latency (the architecture's, not the seed's)."""
    from helpers.efficientnet_lite import variant

    side = args.image_size or variant(name).resolution
    runs = []
    for seed in args.seeds:
        settings = run_settings(args, split, name, side, args.epochs, seed=seed)
        runs.append(trained(settings, labels_of(settings), latency=not runs))
    tests = [r["test"] for r in runs]
    return {
        **runs[0],
        "val": float(np.mean([r["val"] for r in runs])),
        "test": float(np.mean(tests)),
        "test_std": float(np.std(tests, ddof=1)) if len(tests) > 1 else None,
        "tests": tests,
        "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
        "seeds": len(runs),
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

    spread = result.get("test_std")
    return {
        "model": model,
        "split": split,
        "val": percent(result.get("val")),
        "test": percent(result.get("test")) + (f" ± {100 * spread:.1f}" if spread else ""),
        "MFLOPs": f"{result.get('mflops', mflops):.0f}" if result.get("mflops", mflops) else "-",
        "train min": f"{result['train_seconds'] / 60:.1f}",
        "float ms": ms(result.get("float_ms")),
        "int8 ms": ms(result.get("int8_ms")),
        "int8 test": percent(result.get("int8_test")),
    }


def format_table(rows: list[dict]) -> str:
    """The results as a GitHub-markdown table (what the README shows)."""
    return pd.DataFrame(rows, columns=COLUMNS).to_markdown(index=False, disable_numparse=True)


def best(results: dict) -> tuple[str, str]:
    """(split, short name) of the fine-tuned backbone with the best mean validation accuracy on
    the grouped split (the published one where there is no grouped split): chosen on validation."""
    split = "grouped" if any(k[0] == "grouped" for k in results) else "published"
    fine = {k[2]: r for k, r in results.items() if k[0] == split and k[1] == "fine"}
    return split, max(fine, key=lambda short: fine[short]["val"])


def last_line(results: dict) -> str:
    """``best grouped: lite1 fine-tuned 93.4% test (published 94.1%) at 1.20 GFLOPs in 11.0 min;
    int8 2.3x float``."""
    split, short = best(results)
    fine = results[(split, "fine", short)]
    published = results.get(("published", "fine", short)) if split == "grouped" else None
    also = f" (published {100 * published['test']:.1f}%)" if published else ""
    return (
        f"best {split}: {short} fine-tuned {100 * fine['test']:.1f}% test{also} at "
        f"{fine['mflops'] / 1000:.2f} GFLOPs in {fine['train_seconds'] / 60:.1f} min; "
        f"int8 {fine['float_ms'] / fine['int8_ms']:.1f}x float"
    )


def screen(args, labels_of) -> int:
    """The first model with each recipe named, on the grouped split (published without
    contributors): validation accuracy only."""
    import screens  # noqa: F401  (adds the screened recipes to RECIPES)

    from helpers.efficientnet_lite import variant

    name, rows = args.models[0], []
    split = "published" if args.groups is None and args.dataset == "folders" else "grouped"
    for recipe in args.screen.split(","):
        side = args.image_size or variant(name).resolution
        settings = run_settings(args, split, name, side, args.epochs, recipe)
        result = trained(settings, labels_of(settings), latency=False)
        per_epoch = np.mean(result["epoch_seconds"])
        rows.append({"recipe": recipe, "split": split, "val": result["val"],
                     "epoch s": round(per_epoch)})  # fmt: skip
        print(f"screen {recipe} ({split}): val {100 * result['val']:.1f}%, {per_epoch:.0f} s/epoch")
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, help="a folder dataset (default: "
                        "../shared/data/clothing-dataset-small)")  # fmt: skip
    parser.add_argument("--groups", type=Path, help="CSV of image ids and sender_id "
                        "(default: ../shared/data/clothing-dataset-images.csv if present)")  # fmt: skip
    parser.add_argument("--dataset", default="folders", help="dataset kind (clothing_full: the "
                        "full clothing set, its own contributor-disjoint split)")  # fmt: skip
    parser.add_argument("--models", default="lite0,lite1,lite2",
                        help=f"comma-separated backbones, of {', '.join(MODELS)}")  # fmt: skip
    parser.add_argument("--seeds", default="42,43,44",
                        help="comma-separated training seeds of each fine-tuning")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs")
    parser.add_argument("--scratch-epochs", type=int, default=6, help="epochs of the CNN")
    parser.add_argument("--max-images", type=int, help="cap, sampled evenly per split and class")
    parser.add_argument("--image-size", type=int,
                        help="input side of every backbone (default: each its own resolution)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42, help="the CNN's and fastai's seed")
    parser.add_argument("--skip-scratch", action="store_true", help="no CNN from scratch")
    parser.add_argument("--grouped-scratch", action="store_true",
                        help="the CNN from scratch on the contributor-disjoint split too")  # fmt: skip
    parser.add_argument("--splits", default="grouped,published",
                        help="which splits (grouped needs --groups; other kinds: their own)")  # fmt: skip
    parser.add_argument("--screen", help="comma-separated recipes to screen on validation")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    args.models = [MODELS[m] for m in args.models.split(",")]
    try:
        args.seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: comma-separated integers, got {args.seeds!r}")
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
    if args.dataset != "folders":
        splits = ["grouped"]
    else:
        # chosen on the grouped split, the published one reported
        splits = [s for s in ("grouped", "published") if s in args.splits.split(",")]
        splits = [s for s in splits if s == "published" or args.groups is not None]
    rows, results = [], {}
    for split in splits:
        first = run_settings(args, split, args.models[0], 224, args.epochs)
        labels = labels_of(first)
        print(f"{split} split: {labels.table['split'].value_counts().to_dict()}, "
              f"{len(labels.classes)} classes")  # fmt: skip
        if not args.skip_scratch and (split == "published" or args.grouped_scratch):
            scratch = run_settings(args, split, SCRATCH, 256, args.scratch_epochs)
            results[(split, "scratch", "cnn")] = trained(scratch, labels_of(scratch))
            rows.append(
                table_row(f"{SCRATCH} from scratch", split, results[(split, "scratch", "cnn")])
            )
        for name in args.models:
            short = name.removeprefix("efficientnet_")
            fine = results[(split, "fine", short)] = fine_tuned(args, split, name, labels_of)
            probed = results[(split, "probe", short)] = probe(labels, name)
            seeds = f"{fine['seeds']} seed{'s' if fine['seeds'] > 1 else ''}"
            rows += [
                table_row(
                    f"{short} linear probe (C={probed['c']:g})", split, probed, fine["mflops"]
                ),
                table_row(f"{short} fine-tuned ({seeds})", split, fine),
            ]
        if split == "published" and fastai_transfer.available():
            results[(split, "fastai", "lite0")] = fastai_row(args, labels)
            rows.append(
                table_row(
                    "fastai vision_learner fine_tune", split, results[(split, "fastai", "lite0")]
                )
            )
    print()
    print(format_table(rows))
    split, short = best(results)
    fine = results[(split, "fine", short)]
    print(f"\nCPU: {cpu_description()}; LiteRT {fine['runtime']}, {fine['threads']} threads "
          f"(os.cpu_count() {os.cpu_count()}); latency: one image, median of 30. "
          "A probe has its backbone's architecture (same FLOPs and latency). test: mean ± "
          "standard deviation over the seeds.")  # fmt: skip
    print(f"fine-tuning recipe: {fine['recipe']}")
    for (part, kind, name), done in results.items():
        if kind == "fine":
            tests = ", ".join(f"{100 * t:.1f}%" for t in done["tests"])
            print(
                f"{name} {part}: test by seed {tests}; epoch seconds (first seed) "
                + ", ".join(f"{s:.0f}" for s in done["epoch_seconds"])
            )
    if any(kind == "fastai" for _, kind, _ in results):
        done = results[("published", "fastai", "lite0")]
        print(f"fastai row: fastai {done['fastai']} (PyTorch {done['torch']}) vision_learner + "
              f"fine_tune({args.epochs - 1}, freeze_epochs=1) on the same Lite0 ImageNet weights, "
              "split and epochs; PyTorch, so no LiteRT latency")  # fmt: skip
    elif args.dataset == "folders":
        print("fastai: not installed (pip install -r requirements-fastai.txt); its row is skipped")
    print(last_line(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
