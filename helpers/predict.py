"""Classify image files with a saved model, read and preprocessed exactly as in training.

    python -m helpers.predict MODEL.keras IMAGE... [--top 5] [--classes classes.json]

An unreadable image gets one error line and status 1, the others are still classified; a bad
model file, class list or ``--top`` stops the command with one line and status 2.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from helpers.errors import ImageError, InputError, ModelFileError


def top_k(probabilities: np.ndarray, classes: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable classes with their probabilities."""
    order = np.argsort(-probabilities)[:k]
    return [(classes[i], float(probabilities[i])) for i in order]


def read_classes(path: Path, count: int) -> list[str]:
    """A JSON list of ``count`` class names, or ModelFileError naming the file and the problem."""
    if not Path(path).is_file():  # a named pipe would block the read
        raise ModelFileError(
            path, "not a regular file" if Path(path).exists() else "no such class list"
        )
    try:
        classes = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(path, f"not a JSON list of class names ({err})") from None
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ModelFileError(path, "not a JSON list of class names (strings)")
    if len(classes) != count:
        raise ModelFileError(path, f"{len(classes)} classes, the model has {count} outputs")
    return classes


def classify(model, sources, classes: list[str], k: int = 5):
    """``(source, top-k or None, error or None)`` for each image (a path or bytes); bad ones do not stop the rest."""
    from helpers.images import model_input

    input_shape = tuple(model.input_shape[1:])
    for source in sources:
        try:
            pixels = model_input(source if isinstance(source, bytes) else Path(source), input_shape)
        except ImageError as err:
            yield source, None, err.problem
            continue
        except OSError as err:
            yield source, None, err.strerror or str(err)
            continue
        probabilities = model.predict(pixels[None], verbose=0)[0]
        yield source, top_k(probabilities, classes, k), None


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        "python -m helpers.predict", description=__doc__.split("\n")[0]
    )
    parser.add_argument("model", type=Path)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--top", type=positive, default=5, help="how many classes to show (>= 1)")
    parser.add_argument(
        "--classes",
        type=Path,
        help="JSON list of class names (default: classes.json beside the model)",
    )
    args = parser.parse_args(argv)

    from helpers.models import load_model

    try:
        model = load_model(args.model)
        count, beside = model.output_shape[-1], args.model.with_name("classes.json")
        classes = [f"class_{i}" for i in range(count)]
        if args.classes is not None or beside.is_file():
            classes = read_classes(args.classes or beside, count)
    except InputError as err:
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
    from helpers.tf_logging import quiet_cli

    sys.exit(quiet_cli(main))
