"""Images per second and peak memory: ImageDataGenerator, streaming tf.data and disk-cached tf.data.

    python bench/loading.py                                  # the embedded sample's training split
    python bench/fullsize.py /tmp/deepfashion-full    # a DeepFashion-size tree (289,222 images)
    python bench/loading.py --data-dir /tmp/deepfashion-full --images 8000
    python bench/loading.py --data-dir /tmp/deepfashion-full --images 0   # a whole training epoch
    python bench/loading.py --data-dir ~/photos --dataset folders --images 3000   # your own photos
    python bench/loading.py --data-dir ~/photos --dataset folders \
        --data-dir /tmp/deepfashion-full --dataset deepfashion --images 3000   # both, in turn
    python bench/loading.py --data-dir ~/photos --dataset folders --compare-pixels 256 224

Each loader reads the same first ``--images`` training images (0: all of them),
shuffled as in training, at ``--size`` with batches of ``--batch-size``, in a
process of its own so each peak RSS is its own; the three run in turn,
``--repeats`` times, and the median rate counts (this machine is shared and
noisy). Rates are timed from each loader's first batch on (its steady rate). The disk cache is written once before it is timed (its write rate is
printed). ``--data-dir`` (each with its ``--dataset``) may be repeated: the trees
are measured one after the other. The last line reads like
``streaming tf.data 3.21x ImageDataGenerator (1.70x less CPU per image), disk cache 7.90x, peak
RSS 1.52 GB`` (peak RSS: the largest of the three), one such clause per tree. CPU time per image
(all of a loader's threads, from its first batch on) is what other work on a shared machine
leaves alone: with N idle cores streaming tf.data can reach about N times that CPU ratio.

``--compare-pixels SIZE ...`` times nothing: it prints how far the reader's pixels
(JPEGs decoded at 1/2, 1/4 or 1/8 scale by libjpeg when they shrink enough) are
from a full-size decode with the same resize, in grey levels.
"""

from __future__ import annotations

import argparse
import itertools
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


def cpu_seconds() -> float:
    """This process's CPU time so far (all its threads, user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(run_dir: Path, loader: str, size: int, batch_size: int, prepare: bool) -> dict:
    """One loader over the run folder's training split: images/s of one epoch, CPU time per image
    (from the first batch on, as the rate: a figure other work on the machine leaves alone) and
    peak RSS."""
    from helpers.data import LabelSet
    from helpers.loading import InputSpec, generator_flow, tf_batches
    from helpers.loading.throughput import images_per_second
    from helpers.paths import RunFiles

    labels = LabelSet.load(RunFiles(run_dir))
    if loader == "generator":  # Keras' iterator itself, as the tutorials use it
        flow = generator_flow(InputSpec(labels, size, batch_size), "train", shuffle=True)
        batches = (flow[i] for i in range(len(flow)))
    else:
        started = time.perf_counter()
        spec = InputSpec(labels, size, batch_size, cache=loader)
        epochs = tf_batches(spec, "train", shuffle=True)
        if prepare:
            return {"write_images_per_s": epochs.images / (time.perf_counter() - started)}
        batches = iter(epochs.epoch(1))
    first = next(batches)
    cpu = cpu_seconds()
    rate, seen = images_per_second(itertools.chain([first], batches))
    cpu_ms = (cpu_seconds() - cpu) * 1e3 / max(1, seen - len(first[0]))
    return {"images_per_s": rate, "cpu_ms": cpu_ms, "images": seen, "peak_rss_gb": peak_rss_gb()}


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


def prepare_labels(data_dir: Path | None, dataset: str | None, images: int, run_dir: Path) -> int:
    """The first ``images`` training images of the dataset (or the sample) into a run folder."""
    from helpers.data import label_dataset
    from helpers.paths import RunFiles

    dataset = dataset or ("deepfashion" if data_dir else "sample")
    labels = label_dataset(dataset, data_dir, check_files=False)
    train = labels.table[labels.table["split"] == "train"]
    if images:
        train = train.head(images)
    labels.table = train.reset_index(drop=True)
    labels.save(RunFiles(run_dir))
    return len(train)


def compare_pixels(run_dir: Path, size: int) -> dict:
    """The reader's pixels at ``size`` (DCT-scaled JPEG decode, then resize) against a full-size
    decode with the same resize: how many images were scaled, largest and mean difference."""
    import numpy as np
    import tensorflow as tf

    from helpers import images
    from helpers.data import LabelSet
    from helpers.paths import RunFiles

    labels = LabelSet.load(RunFiles(run_dir))
    paths = [str(Path(labels.root) / p) for p in labels.table["path"]]

    def both(path):
        data = tf.io.read_file(path)
        scaled, full = images.decode(data, 3, size), images.decode(data)
        smaller = tf.shape(scaled)[0] < tf.shape(full)[0]
        return images.resize(scaled, size), images.resize(full, size), smaller

    pairs = tf.data.Dataset.from_tensor_slices(paths).map(both, tf.data.AUTOTUNE).batch(64)
    largest, total, values, scaled = 0.0, 0.0, 0, 0
    for new, old, smaller in pairs.as_numpy_iterator():
        difference = np.abs(new.astype(np.int16) - old.astype(np.int16))
        largest, total = max(largest, float(difference.max())), total + float(difference.sum())
        values, scaled = values + difference[smaller].size, scaled + int(smaller.sum())
    mean = total / values if values else 0.0  # over the scaled images (the others are equal)
    return {"size": size, "images": len(paths), "scaled": scaled, "max": largest, "mean": mean}


def measure(args, data_dir: Path | None, dataset: str | None) -> str:
    """One tree: every loader ``--repeats`` times, a table of each one's median rate, CPU time per
    image and peak RSS; returns the summary clause (empty for ``--compare-pixels``)."""
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        count = prepare_labels(data_dir, dataset, args.images, run_dir)
        if args.compare_pixels:
            print(
                f"{count:,} training images from {data_dir or 'the embedded sample'}: "
                "the reader (DCT-scaled JPEG decode + resize) against a full decode + the same resize"
            )
            for size in args.compare_pixels:
                c = compare_pixels(run_dir, size)
                print(
                    f"  {size}x{size}: {c['scaled']:,} of {c['images']:,} decoded scaled; "
                    f"largest difference {c['max']:.0f} grey levels, mean {c['mean']:.2f} over those"
                )
            return ""
        print(
            f"{count:,} training JPEGs from {data_dir or 'the embedded sample'} at "
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
    cpu = {name: statistics.median(r["cpu_ms"] for r in runs) for name, runs in results.items()}
    print(
        f"{'loader':<20}{'images/s':>10}{'vs IDG':>8}{'CPU ms/image':>14}{'peak RSS GB':>13}"
        "  runs (images/s)"
    )
    for name, runs in results.items():
        each = ", ".join(f"{r['images_per_s']:,.0f}" for r in runs)
        print(
            f"{name:<20}{rate[name]:>10,.0f}{rate[name] / base:>7.2f}x{cpu[name]:>14.2f}"
            f"{peak[name]:>13.2f}  {each}"
        )
    name = f"{data_dir.name}: " if len(args.data_dir or []) > 1 else ""
    return (
        f"{name}streaming tf.data {rate['streaming tf.data'] / base:.2f}x ImageDataGenerator "
        f"({cpu['ImageDataGenerator'] / cpu['streaming tf.data']:.2f}x less CPU per image), "
        f"disk cache {rate['disk cache'] / base:.2f}x, peak RSS {max(peak.values()):.2f} GB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        action="append",
        help="a dataset folder (default: the sample); repeatable",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        help="its kind (helpers.data.registry: deepfashion, folders, clothing_full ...), one per "
        "--data-dir; default deepfashion with --data-dir, else the embedded sample",
    )
    parser.add_argument("--images", type=int, default=8000, help="first N training images (0: all)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--compare-pixels", type=int, nargs="+", metavar="SIZE",
        help="time nothing: the reader's pixels at these sizes against a full-size decode",
    )  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.run_dir, args.child, args.size, args.batch_size, args.prepare)))
        return 0
    trees = args.data_dir or [None]
    datasets = args.dataset or [None]
    if len(datasets) not in (1, len(trees)):
        parser.error("give one --dataset, or one per --data-dir")
    pairs = zip(trees, datasets * (len(trees) // len(datasets)), strict=True)
    summary = [
        clause for data_dir, dataset in pairs if (clause := measure(args, data_dir, dataset))
    ]
    if summary:
        print("; ".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
