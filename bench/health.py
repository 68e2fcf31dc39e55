"""The health check against planted problems on real photos, then on the set as published.

    python bench/health.py                                  # ../shared clothing-dataset-small
    python bench/health.py --image-size 160 --work /tmp/h   # smaller Lite0 input, kept work folder

Copies ``--data-dir`` to a work folder, moves a seeded 5% of its training photos into a
wrong class folder and plants 40 seeded near-duplicate copies (re-encoded, cropped 4% a
side, brightened x1.2, mirrored; 10 each) in another split than their original, then runs
:func:`helpers.health.check` and counts how many planted copies ``duplicates.csv`` holds and
how many moved photos are among the first 2k rows of ``label_issues.csv`` (k moved). Then
the published set with its contributors (``--groups``, the full set's ``images.csv``): the
cross-split near-duplicate pairs, the share that are one contributor's, and a linear probe's
test accuracy on Lite0 features (the check's, cached) on the published split, on one
grouped by similarity alone and on a contributor-disjoint one. The last line:
``health: 38/40 planted copies found, 31/44 moved labels in the top 88, 3.1 min, peak 1.4 GB``.
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers import health  # noqa: E402
from helpers.data.folders import label_folders  # noqa: E402
from helpers.data.splits import grouped_split  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
KINDS = ("reencoded", "cropped", "brightened", "mirrored")


def plant(root: Path, moved_share: float, copies: int, seed: int):
    """Move ``moved_share`` of the training photos to a wrong class folder and write ``copies``
    near-duplicates in another split; returns (moved paths, [(original, copy, kind)])."""
    rng = np.random.default_rng(seed)
    table = label_folders(root, check_files=False).table
    classes = sorted(table["label"].unique())
    train = table[table["split"] == "train"]
    chosen = train.sample(round(moved_share * len(train)), random_state=seed)
    moved = []
    for row in chosen.itertuples():
        wrong = rng.choice([c for c in classes if c != row.label])
        target = Path(row.path).parent.parent / wrong / Path(row.path).name
        (root / row.path).rename(root / target)
        moved.append(target.as_posix())
    originals = table.drop(chosen.index).sample(copies, random_state=seed + 1)
    planted = []
    folders = sorted({path.split("/")[0] for path in table["path"]})
    for i, row in enumerate(originals.itertuples()):
        kind = KINDS[i % len(KINDS)]
        image = Image.open(root / row.path).convert("RGB")
        if kind == "cropped":
            w, h = image.size
            image = image.crop((w // 25, h // 25, w - w // 25, h - h // 25))
        elif kind == "brightened":
            image = ImageEnhance.Brightness(image).enhance(1.2)
        elif kind == "mirrored":
            image = ImageOps.mirror(image)
        other = [s for s in folders if s != row.path.split("/")[0]]
        target = f"{rng.choice(other)}/{row.label}/planted-{i}-{kind}.jpg"
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=60 if kind == "reencoded" else 90)
        (root / target).write_bytes(buffer.getvalue())
        planted.append((row.path, target, kind))
    return moved, planted


def probe_accuracy(feats: np.ndarray, table: pd.DataFrame, splits: np.ndarray) -> float:
    """Test accuracy of a logistic regression on train features (the check's features)."""
    from sklearn.linear_model import LogisticRegression

    train, test = splits == "train", splits == "test"
    model = LogisticRegression(C=0.1, max_iter=2000).fit(feats[train], table["label"][train])
    return float((model.predict(feats[test]) == table["label"][test]).mean())


def published(data_dir: Path, groups: Path, out: Path, image_size: int) -> list[str]:
    """The set as published, its contributors known: cross-split pairs and three probes."""
    labels = label_folders(data_dir, groups=groups, check_files=False)
    (out / "published").mkdir(exist_ok=True)
    for cached in out.glob("features-*.npz"):  # the same photos: their features are known
        shutil.copy(cached, out / "published" / cached.name)
    out = out / "published"
    report = health.check(labels, out, image_size, log=lambda _: None)
    pairs = report.pair_splits()
    cross = pairs[pairs["split_a"] != pairs["split_b"]]
    same = int((cross["group_a"] == cross["group_b"]).sum())
    feats = health.features(labels, out, image_size, log=lambda _: None)
    table = labels.table
    by_similarity = grouped_split(report.groups, table["label"]).to_numpy()
    by_contributor = grouped_split(table["group"], table["label"]).to_numpy()
    accuracy = {
        "published": probe_accuracy(feats, table, table["split"].to_numpy()),
        "grouped by similarity": probe_accuracy(feats, table, by_similarity),
        "contributor-disjoint": probe_accuracy(feats, table, by_contributor),
    }
    return [
        f"published split: {len(pairs)} near-duplicate pairs, {len(cross)} cross the split "
        f"({same} of them, {same / max(1, len(cross)):.0%}, one contributor's photos)",
        *report.summary_lines()[:2],
        "Lite0 linear probe, test accuracy: "
        + ", ".join(f"{k} {v:.1%}" for k, v in accuracy.items()),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED / "clothing-dataset-small")
    parser.add_argument("--groups", type=Path, default=SHARED / "clothing-dataset-images.csv")
    parser.add_argument("--image-size", type=int, default=health.IMAGE_SIZE)
    parser.add_argument("--moved", type=float, default=0.05, help="share of training photos")
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)
    if not args.data_dir.is_dir():
        print(f"error: {args.data_dir}: no such folder", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-health-"))
    root, out = work / "photos", work / "health"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(args.data_dir, root)
    moved, planted = plant(root, args.moved, args.copies, args.seed)

    started = time.perf_counter()
    report = health.check(label_folders(root), out, args.image_size)
    minutes = (time.perf_counter() - started) / 60
    dups = report.duplicates
    found = {frozenset(p) for p in zip(dups["path_a"], dups["path_b"], strict=True)}
    rows = pd.DataFrame(planted, columns=["original", "copy", "kind"])
    rows["found"] = [
        frozenset((a, b)) in found for a, b in zip(rows["original"], rows["copy"], strict=True)
    ]
    top = set(report.label_issues["path"].head(2 * len(moved)))
    caught = sum(path in top for path in moved)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print("\n".join(report.summary_lines()))
    print(rows.groupby("kind")["found"].agg(["sum", "count"]).rename(columns={"sum": "found"}))
    plain = rows[rows["kind"] != "mirrored"]
    print(f"non-mirrored copies found: {plain['found'].sum()}/{len(plain)}; mirrored: "
          f"{rows['found'].sum() - plain['found'].sum()}/{len(rows) - len(plain)} "
          f"(features of the photos as they are, not flipped)")  # fmt: skip
    print(f"moved labels: {len(moved)}; flagged at all: "
          f"{len(set(moved) & set(report.label_issues['path']))}; label_issues.csv rows: "
          f"{len(report.label_issues)}")  # fmt: skip
    if args.groups.is_file():
        print("\n".join(published(args.data_dir, args.groups, out, args.image_size)))
    print(
        f"health: {int(rows['found'].sum())}/{len(rows)} planted copies found, {caught}/"
        f"{len(moved)} moved labels in the top {2 * len(moved)}, {minutes:.1f} min, "
        f"peak {peak:.1f} GB"
    )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
