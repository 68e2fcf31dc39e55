"""Classify image files with a saved model, preprocessed exactly as in training.

    python -m helpers.predict MODEL.keras IMAGE... [--top 5] [--classes classes.json]

Images are read with PIL, converted to RGB (or grayscale for a one-channel
model), resized bilinearly to the model's input size and scaled to [0, 1],
as ImageDataGenerator does. A missing, empty or non-image file gets a one-line
error naming it and the exit status is 1, but every other image is classified.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image, UnidentifiedImageError


def preprocess(source, input_shape) -> np.ndarray:
    """An image file (path or file-like) as the model's input: ``H x W x C`` float32 in [0, 1]."""
    height, width, channels = input_shape
    with Image.open(source) as image:
        image = image.convert("L" if channels == 1 else "RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
    return pixels[..., None] if channels == 1 else pixels


def top_k(probabilities: np.ndarray, classes: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable classes with their probabilities."""
    order = np.argsort(-probabilities)[:k]
    return [(classes[i], float(probabilities[i])) for i in order]


def find_classes(model_path: Path, explicit: Path | None, count: int) -> list[str]:
    """Class names: ``--classes``, else ``classes.json`` beside the model, else ``class_0..``."""
    for candidate in [explicit, model_path.with_name("classes.json")]:
        if candidate is not None and candidate.is_file():
            classes = json.loads(candidate.read_text())
            if len(classes) != count:
                raise ValueError(
                    f"{candidate}: {len(classes)} classes, the model has {count} outputs"
                )
            return classes
    return [f"class_{i}" for i in range(count)]


def classify(model, sources, classes: list[str], k: int = 5):
    """``(source, top-k or None, error or None)`` for each image; bad files do not stop the rest."""
    input_shape = tuple(model.input_shape[1:])
    for source in sources:
        try:
            if isinstance(source, Path | str):
                path = Path(source)
                if not path.is_file():
                    raise FileNotFoundError("no such file")
                if path.stat().st_size == 0:
                    raise ValueError("empty file")
            pixels = preprocess(source, input_shape)
        except (FileNotFoundError, ValueError, UnidentifiedImageError, OSError) as err:
            reason = "not an image" if isinstance(err, UnidentifiedImageError) else str(err)
            yield source, None, reason
            continue
        probabilities = model.predict(pixels[None], verbose=0)[0]
        yield source, top_k(probabilities, classes, k), None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.predict", description=__doc__.split("\n")[0]
    )
    parser.add_argument("model", type=Path)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument(
        "--classes",
        type=Path,
        help="JSON list of class names (default: classes.json beside the model)",
    )
    args = parser.parse_args(argv)

    import keras

    import helpers.models  # noqa: F401  (registers the custom preprocessing layer)

    if not args.model.is_file():
        print(f"error: {args.model}: no such model file", file=sys.stderr)
        return 2
    model = keras.models.load_model(args.model)
    try:
        classes = find_classes(args.model, args.classes, model.output_shape[-1])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    status = 0
    for source, ranked, error in classify(model, args.images, classes, args.top):
        if error:
            print(f"error: {source}: {error}", file=sys.stderr)
            status = 1
            continue
        print(f"{source}: " + ", ".join(f"{label} {p:.1%}" for label, p in ranked))
    return status


if __name__ == "__main__":
    sys.exit(main())
