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
from helpers.settings import Settings


def cap_images(labels: LabelSet, max_images: int | None, seed: int = 0) -> LabelSet:
    """At most ``max_images`` rows, sampled evenly across every (split, label) cell."""
    if not max_images or len(labels.table) <= max_images:
        return labels
    fraction = max_images / len(labels.table)
    table = labels.table.groupby(["split", "label"], group_keys=False).sample(
        frac=fraction, random_state=seed
    )
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
    return cap_images(labels, settings.max_images, settings.seed)


def format_report(report: pd.DataFrame, limit: int = 20) -> str:
    """The report as text: counts per issue, then the first ``limit`` findings."""
    if report.empty:
        return "Report: no skipped files, no disagreements."
    lines = ["Report (files per issue):", summarize_report(report).to_string(index=False), ""]
    shown = report.head(limit).to_string(index=False, max_colwidth=90)
    lines += [f"First {min(limit, len(report))} of {len(report)} findings:", shown]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.labels", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "data_dir", type=Path, help="dataset folder (DeepFashion root, Kaggle folder)"
    )
    parser.add_argument(
        "--dataset",
        default="deepfashion",
        choices=["deepfashion", "product_images", "clothing_full"],
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
        help="DeepFashion split (auto: the official partition when present)",
    )
    parser.add_argument("--label-column", default="articleType", help="product_images label column")
    parser.add_argument("--min-images", type=int, default=1, help="drop classes with fewer images")
    parser.add_argument("--report", type=Path, help="also write the full report as CSV")
    parser.add_argument("--no-check", action="store_true", help="skip decoding every image")
    parser.add_argument("--seed", type=int, default=0, help="seed of the grouped split")
    args = parser.parse_args(argv)

    options = {"seed": args.seed, "check_files": not args.no_check}
    if args.dataset == "deepfashion":
        options.update(source=args.source, split=args.split)
    elif args.dataset == "product_images":
        options.update(label_column=args.label_column, min_images=args.min_images)
    else:
        options.update(min_images=args.min_images)
    try:
        labels = label_dataset(args.dataset, args.data_dir, **options)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    labels.table.to_csv(args.out, index=False)
    if args.report:
        labels.report.to_csv(args.report, index=False)
    print(f"Wrote {len(labels.table)} rows, {len(labels.classes)} classes to {args.out}")
    print(labels.counts().to_string())
    print()
    print(format_report(labels.report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
