"""Write the embedded DeepFashion-layout sample from Fashion-MNIST.

python -m helpers.sample OUT_DIR --images N --seed S
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.data.fashion_mnist import FashionMNISTNotFound
from helpers.data.sample import tree_digest, write_sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.sample", description=__doc__.split("\n")[1]
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--images", type=int, default=600, help="about this many images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fashion-mnist", type=Path, help="folder of the four Fashion-MNIST .gz files"
    )
    args = parser.parse_args(argv)
    try:
        out = write_sample(args.out_dir, args.images, args.seed, args.fashion_mnist)
    except (FashionMNISTNotFound, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    count = sum(1 for _ in (out / "img").rglob("*.jpg"))
    print(f"Wrote {count} images in {len(list((out / 'img').iterdir()))} product folders to {out}")
    print(f"sha256 of the tree: {tree_digest(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
