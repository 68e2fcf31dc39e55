"""Images per second: ImageDataGenerator against the tf.data pipeline, same JPEG files, one process.

    python bench/loading.py [--images 2000] [--size 256] [--batch-size 32] [--epochs 2]

Reads the embedded DeepFashion-layout sample (written first if missing) or
``--data-dir`` (any DeepFashion tree). Prints every epoch of both loaders, then
the ratio: tf.data's first epoch decodes and fills its cache, later epochs read it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from helpers.config import sample_dir
from helpers.data.deepfashion import label_deepfashion
from helpers.data.sample import ensure_sample
from helpers.loading import loader_throughput


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--images", type=int, default=2000, help="sample size (ignored with --data-dir)"
    )
    parser.add_argument("--data-dir", type=Path, help="a DeepFashion tree instead of the sample")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)

    data_dir = args.data_dir or ensure_sample(sample_dir(args.images), args.images)
    labels = label_deepfashion(data_dir, check_files=False)
    print(
        f"{len(labels.split('train'))} training JPEGs from {data_dir} at {args.size}x{args.size}, "
        f"batch {args.batch_size}; {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    table = loader_throughput(labels, args.size, args.batch_size, "train", args.epochs)
    print(table.to_string(index=False))
    rate = table.set_index(["loader", "epoch"])["images_per_s"]
    first = rate["tf.data", 1] / rate["ImageDataGenerator", 1]
    warm = rate["tf.data", args.epochs] / rate["ImageDataGenerator", args.epochs]
    print(
        f"tf.data / ImageDataGenerator: first epoch {first:.2f}x, epoch {args.epochs} (cache warm) {warm:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
