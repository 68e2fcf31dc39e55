"""Write the embedded DeepFashion-layout sample of real photos (or the Fashion-MNIST one).

python -m helpers.sample OUT_DIR --images N --seed S [--fashion-mnist [DIR]]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.data.fashion_mnist import FashionMNISTNotFound
from helpers.data.sample import tree_digest, write_sample
from helpers.errors import InputError

FROM_FASHION_MNIST = "found"  # --fashion-mnist given without a folder: the usual search


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.sample", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--images", type=int, default=600, help="about this many images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fashion-mnist",
        nargs="?",
        const=FROM_FASHION_MNIST,
        help="write the Fashion-MNIST-derived sample instead (optionally: the folder of its .gz files)",
    )
    args = parser.parse_args(argv)
    try:
        if args.fashion_mnist:
            from helpers.data.fashion_mnist_sample import write_fashion_mnist_sample

            folder = None if args.fashion_mnist == FROM_FASHION_MNIST else Path(args.fashion_mnist)
            out = write_fashion_mnist_sample(args.out_dir, args.images, args.seed, folder)
        else:
            out = write_sample(args.out_dir, args.images, args.seed)
    except (FashionMNISTNotFound, InputError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    count = sum(1 for _ in (out / "img").rglob("*.jpg"))
    print(f"Wrote {count} images in {len(list((out / 'img').iterdir()))} product folders to {out}")
    print(f"sha256 of the tree: {tree_digest(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
