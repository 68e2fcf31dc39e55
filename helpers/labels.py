"""Labels of a run (build, cap, save, load) and the labeling command line.

``python -m helpers.labels DATA_DIR --dataset deepfashion --out labels.csv`` writes the labels
table (``path,label,split``, paths relative to DATA_DIR) and prints the report of skipped files.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd

from helpers.data import LabelSet, label_dataset, summarize_report
from helpers.data.splits import gap_notes, missing_splits
from helpers.errors import InputError, NothingUsable
from helpers.settings import Settings


def cap_images(labels: LabelSet, max_images: int | None, seed: int = 0) -> LabelSet:
    """``max_images`` rows, each (split, label) cell keeping its share, rounded; the classes that
    lose a split (or everything) to the cap are named in the notes."""
    if not max_images or len(labels.table) <= max_images:
        return labels
    shuffled = labels.table.sample(frac=1.0, random_state=seed)
    cells = shuffled.groupby(["split", "label"])
    # A cell's k-th row of n comes at (k + 0.5) / n: the first max_images keep every share.
    order = (cells.cumcount() + 0.5) / cells["path"].transform("size")
    table = shuffled.loc[order.sort_values(kind="stable").index[:max_images]].sort_index()
    before = missing_splits(labels.table, labels.classes)
    lost = {c: m for c, m in missing_splits(table, labels.classes).items() if m != before.get(c)}
    notes = labels.notes + gap_notes(lost, f"the max_images cap of {max_images} left none")
    classes = [c for c in labels.classes if c in set(table["label"])]
    return dataclasses.replace(labels, table=table, classes=classes, notes=notes)


def build_labels(settings: Settings) -> LabelSet:
    """The labels of a run's dataset, corrections applied, capped at ``max_images``; the split keeps
    its own seed (0), so the run's seed never moves an image to another split."""
    from helpers.data.registry import dataset_kind
    from helpers.health import apply_corrections, corrections_file

    kind = dataset_kind(settings.dataset)
    options = {name: settings[name] for name in kind.options}
    labels = label_dataset(settings.dataset, settings.data_dir, **options)
    if labels.table.empty:
        raise nothing_usable(settings.data_dir or settings.dataset, labels)
    labels = apply_corrections(labels, corrections_file(settings.data_dir, settings.corrections))
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
    from helpers.health import apply_corrections, corrections_file

    doc = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m helpers.labels", description=doc)
    add = parser.add_argument
    kinds = [name for name, kind in datasets().items() if kind.needs_data_dir]
    add("data_dir", type=Path,
        help="dataset folder (DeepFashion root, photo folders, Kaggle folder)")  # fmt: skip
    add("--dataset", default="deepfashion", choices=kinds)
    add("--out", type=Path, default=Path("labels.csv"), help="labels CSV to write")
    add("--source", default="auto", choices=["auto", "folders", "annotations"],
        help="DeepFashion label source (auto: annotations when present)")  # fmt: skip
    add("--split", default="auto", choices=["auto", "official", "grouped"],
        help="DeepFashion or folders split (auto: the dataset's own when present; grouped: "
        "computed, keeping each group whole)")  # fmt: skip
    add("--groups", type=Path, help="folders: CSV of image ids and contributors "
        "(image, sender_id), e.g. images.csv")  # fmt: skip
    add("--label-column", default="articleType", help="product_images label column")
    add("--min-images", type=int, default=1, help="drop classes with fewer images")
    add("--report", type=Path, help="also write the full report as CSV")
    add("--corrections", type=Path,
        help="CSV path,label of fixed labels (default: corrections.csv)")  # fmt: skip
    add("--no-check", action="store_true", help="skip decoding every image")
    add("--seed", type=int, default=0, help="seed of the grouped split")
    args = parser.parse_args(argv)

    given = {"source": args.source, "split": args.split, "label_column": args.label_column,
             "min_images": args.min_images, "groups": args.groups}  # fmt: skip
    options = {name: given[name] for name in dataset_kind(args.dataset).options if name in given}
    options.update(seed=args.seed, check_files=not args.no_check)
    try:
        for target in [args.out] + ([args.report] if args.report else []):
            atomic.check_target(target)  # before the work, not after it
        labels = label_dataset(args.dataset, args.data_dir, **options)
        labels = apply_corrections(labels, corrections_file(args.data_dir, args.corrections))
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
    print(labels.counts().to_string(), format_report(labels.report), sep="\n\n")
    return 0


if __name__ == "__main__":
    from helpers.tf_logging import quiet_cli

    sys.exit(quiet_cli(main))
