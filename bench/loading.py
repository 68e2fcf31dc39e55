"""Images per second and peak memory: ImageDataGenerator, streaming tf.data and disk-cached tf.data.

    python bench/loading.py                                  # the embedded sample's training split
    python bench/fullsize.py /tmp/deepfashion-full    # a DeepFashion-size tree (289,222 images)
    python bench/loading.py --data-dir /tmp/deepfashion-full --images 8000
    python bench/loading.py --data-dir /tmp/deepfashion-full --images 0   # a whole training epoch
    python bench/loading.py --data-dir ~/photos --dataset folders --images 3000   # your own photos

Each loader reads the same first ``--images`` training images (0: all of them),
shuffled as in training, at ``--size`` with batches of ``--batch-size``, in a
process of its own so each peak RSS is its own; the three run in turn,
``--repeats`` times, and the median rate counts (this machine is shared and
noisy). Rates are timed from each loader's first batch on (its steady rate). The disk cache is written once before it is timed (its write rate is
printed). The last line reads like
``streaming tf.data 3.21x ImageDataGenerator, disk cache 7.90x, peak RSS 1.52 GB``
(peak RSS: the largest of the three).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOADERS = {"ImageDataGenerator": "generator", "streaming tf.data": "none", "disk cache": "disk"}


def peak_rss_gb() -> float:
    """This process's peak resident memory in GB (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak / 1e6


def child(run_dir: Path, loader: str, size: int, batch_size: int, prepare: bool) -> dict:
    """One loader over the run folder's training split: images/s of one epoch and peak RSS."""
    from helpers.data import LabelSet
    from helpers.loading import InputSpec, generator_flow, tf_batches
    from helpers.loading.throughput import images_per_second
    from helpers.paths import RunFiles

    labels = LabelSet.load(RunFiles(run_dir))
    if loader == "generator":  # Keras' iterator itself, as the tutorials use it
        rate, seen = images_per_second(
            generator_flow(InputSpec(labels, size, batch_size), "train", shuffle=True)
        )
        return {"images_per_s": rate, "images": seen, "peak_rss_gb": peak_rss_gb()}
    started = time.perf_counter()
    batches = tf_batches(InputSpec(labels, size, batch_size, cache=loader), "train", shuffle=True)
    if prepare:
        return {"write_images_per_s": batches.images / (time.perf_counter() - started)}
    rate, seen = images_per_second(batches.epoch(1))
    return {"images_per_s": rate, "images": seen, "peak_rss_gb": peak_rss_gb()}


def run_child(run_dir: Path, loader: str, args, prepare: bool = False) -> dict:
    command = [
        sys.executable, __file__, "--child", loader, "--run-dir", str(run_dir),
        "--size", str(args.size), "--batch-size", str(args.batch_size),
        *(["--prepare"] if prepare else []),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"error: the {loader} loader failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare_labels(args, run_dir: Path) -> int:
    """The first ``--images`` training images of the dataset (or the sample) into a run folder."""
    from helpers.data import label_dataset
    from helpers.paths import RunFiles

    dataset = args.dataset or ("deepfashion" if args.data_dir else "sample")
    labels = label_dataset(dataset, args.data_dir, check_files=False)
    train = labels.table[labels.table["split"] == "train"]
    if args.images:
        train = train.head(args.images)
    labels.table = train.reset_index(drop=True)
    labels.save(RunFiles(run_dir))
    return len(train)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a dataset folder (default: the sample)")
    parser.add_argument(
        "--dataset",
        help="its kind (helpers.data.registry: deepfashion, folders, clothing_full ...); "
        "default deepfashion with --data-dir, else the embedded sample",
    )
    parser.add_argument("--images", type=int, default=8000, help="first N training images (0: all)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.run_dir, args.child, args.size, args.batch_size, args.prepare)))
        return 0

    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        count = prepare_labels(args, run_dir)
        print(
            f"{count:,} training JPEGs from {args.data_dir or 'the embedded sample'} at "
            f"{args.size}x{args.size}, batch {args.batch_size}, shuffled; {os.cpu_count()} CPUs, "
            f"{platform.machine()}; {args.repeats} alternating runs per loader, one process each"
        )
        written = run_child(run_dir, "disk", args, prepare=True)
        print(
            f"disk cache ready (written at {written['write_images_per_s']:,.0f} images/s when new)"
        )
        results: dict[str, list[dict]] = {name: [] for name in LOADERS}
        for _ in range(args.repeats):
            for name, loader in LOADERS.items():
                results[name].append(run_child(run_dir, loader, args))
    rate = {
        name: statistics.median(r["images_per_s"] for r in runs) for name, runs in results.items()
    }
    peak = {name: max(r["peak_rss_gb"] for r in runs) for name, runs in results.items()}
    base = rate["ImageDataGenerator"]
    print(f"{'loader':<20}{'images/s':>10}{'vs IDG':>8}{'peak RSS GB':>13}  runs (images/s)")
    for name, runs in results.items():
        each = ", ".join(f"{r['images_per_s']:,.0f}" for r in runs)
        print(
            f"{name:<20}{rate[name]:>10,.0f}{rate[name] / base:>7.2f}x{peak[name]:>13.2f}  {each}"
        )
    print(
        f"streaming tf.data {rate['streaming tf.data'] / base:.2f}x ImageDataGenerator, "
        f"disk cache {rate['disk cache'] / base:.2f}x, peak RSS {max(peak.values()):.2f} GB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
