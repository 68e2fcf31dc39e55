"""Labels of a run (build, cap, save, load) and the labeling command line.

    python -m helpers.labels DATA_DIR --dataset deepfashion --out labels.csv

writes the labels table (``path,label,split``, paths relative to DATA_DIR) and
prints the report of skipped files and label disagreements.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd

from helpers.data import LabelSet, label_dataset, summarize_report
from helpers.errors import InputError, NothingUsable
from helpers.settings import Settings


def cap_images(labels: LabelSet, max_images: int | None, seed: int = 0) -> LabelSet:
    """At most ``max_images`` rows, sampled evenly across every (split, label) cell."""
    if not max_images or len(labels.table) <= max_images:
        return labels
    fraction = max_images / len(labels.table)
    table = labels.table.groupby(["split", "label"], group_keys=False).sample(
        frac=fraction, random_state=seed
    )
    if len(table) > max_images:  # per-cell rounding can overshoot by a few rows
        table = table.sample(n=max_images, random_state=seed)
    table = table.sort_index()
    classes = [c for c in labels.classes if c in set(table["label"])]
    return dataclasses.replace(labels, table=table, classes=classes)


def build_labels(settings: Settings) -> LabelSet:
    """The labels of a run's dataset with its adapter options, capped at ``max_images``.

    The adapter's grouped split keeps its own seed (0), so changing the run's
    seed never moves an image to another split.
    """
    from helpers.data.registry import dataset_kind

    kind = dataset_kind(settings.dataset)
    options = {name: settings[name] for name in kind.options}
    labels = label_dataset(settings.dataset, settings.data_dir, **options)
    if labels.table.empty:
        raise nothing_usable(settings.data_dir or settings.dataset, labels)
    return cap_images(labels, settings.max_images, settings.seed)


def nothing_usable(data_dir, labels: LabelSet) -> NothingUsable:
    """The error for a dataset whose every row was skipped, naming the commonest reasons."""
    reasons = summarize_report(labels.report[labels.report["action"] == "skipped"]).head(3)
    named = ", ".join(f"{row.files} {row.issue}" for row in reasons.itertuples()) or "nothing found"
    return NothingUsable(data_dir, f"no usable image: every row was skipped ({named})")


def format_report(report: pd.DataFrame, limit: int = 20) -> str:
    """The report as text: counts per issue, then the first ``limit`` findings."""
    if report.empty:
        return "Report: no skipped files, no disagreements."
    lines = ["Report (files per issue):", summarize_report(report).to_string(index=False), ""]
    shown = report.head(limit).to_string(index=False, max_colwidth=90)
    lines += [f"First {min(limit, len(report))} of {len(report)} findings:", shown]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from helpers import atomic
    from helpers.data.registry import dataset_kind, datasets

    parser = argparse.ArgumentParser(
        prog="python -m helpers.labels", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "data_dir",
        type=Path,
        help="dataset folder (DeepFashion root, photo folders, Kaggle folder)",
    )
    parser.add_argument(
        "--dataset",
        default="deepfashion",
        choices=[name for name, kind in datasets().items() if kind.needs_data_dir],
    )
    parser.add_argument("--out", type=Path, default=Path("labels.csv"), help="labels CSV to write")
    parser.add_argument(
        "--source",
        default="auto",
        choices=["auto", "folders", "annotations"],
        help="DeepFashion label source (auto: annotations when present)",
    )
    parser.add_argument(
        "--split",
        default="auto",
        choices=["auto", "official", "grouped"],
        help="DeepFashion or folders split (auto: the dataset's own when present; grouped: "
        "computed, keeping each group whole)",
    )
    parser.add_argument(
        "--groups",
        type=Path,
        help="folders: CSV of image ids and contributors (image, sender_id), e.g. images.csv",
    )
    parser.add_argument("--label-column", default="articleType", help="product_images label column")
    parser.add_argument("--min-images", type=int, default=1, help="drop classes with fewer images")
    parser.add_argument("--report", type=Path, help="also write the full report as CSV")
    parser.add_argument("--no-check", action="store_true", help="skip decoding every image")
    parser.add_argument("--seed", type=int, default=0, help="seed of the grouped split")
    args = parser.parse_args(argv)

    given = {
        "source": args.source,
        "split": args.split,
        "label_column": args.label_column,
        "min_images": args.min_images,
        "groups": args.groups,
    }
    options = {name: given[name] for name in dataset_kind(args.dataset).options}
    options.update(seed=args.seed, check_files=not args.no_check)
    try:
        labels = label_dataset(args.dataset, args.data_dir, **options)
    except (InputError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if labels.table.empty:
        print(format_report(labels.report), file=sys.stderr)
        print(f"error: {nothing_usable(args.data_dir, labels)}", file=sys.stderr)
        return 1
    outputs = [(args.out, labels.table)] + ([(args.report, labels.report)] if args.report else [])
    for target, table in outputs:
        try:
            atomic.write_csv(target, table)
        except OSError as err:  # named by the user's path, not the temporary file beside it
            print(f"error: {target}: cannot be written ({err.strerror or err})", file=sys.stderr)
            return 2
    for note in labels.notes:
        print(note)
    print(f"Wrote {len(labels.table)} rows, {len(labels.classes)} classes to {args.out}")
    print(labels.counts().to_string())
    print()
    print(format_report(labels.report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
