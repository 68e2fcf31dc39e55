"""A health check of a labelled photo set: near-duplicates, groups from similarity, likely label errors.

``python -m helpers.health DATA_DIR --out FOLDER``: cached Lite0 features, cosine near-duplicates
(``duplicates.csv``), cleanlab's label issues (``label_issues.csv``); fixes go to corrections.csv.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import atomic
from helpers.data import LabelSet
from helpers.data.splits import connected_groups
from helpers.errors import AnnotationError, InputError

DUPLICATE_COLUMNS = ["path_a", "path_b", "similarity"]
ISSUE_COLUMNS = ["path", "label", "suggested", "score"]
CORRECTIONS_FILE = "corrections.csv"
IMAGE_SIZE = 224
# clothing-dataset-small: distinct photos' nearest neighbours reach 0.85 (99th pct), re-encoded,
# resized, mirrored copies >= 0.92; bench/health.py finds 40/40 planted copies at 0.9.
THRESHOLD = 0.9
NEIGHBOURS = 5
FOLDS = 5
FEATURES_VERSION = 1


def content_keys(labels: LabelSet) -> list[str]:
    """One key per row: a digest of the file's bytes (an array row: of its item)."""
    root = Path(labels.root) if labels.root else Path()
    keys = []
    for path in labels.table["path"]:
        file = root / path
        data = file.read_bytes() if "#" not in path or file.is_file() else f"{root}|{path}".encode()
        keys.append(hashlib.blake2b(data, digest_size=16).hexdigest())
    return keys


def extractor(image_size: int, channels: int = 3, mirrored: bool = False):
    """[0, 1] images -> Lite0's pooled ImageNet features (gray tiled to RGB; ``mirrored``: averaged
    with the mirror image's, so a mirrored copy matches exactly)."""
    import keras

    from helpers.efficientnet_lite import backbone as lite0_backbone

    backbone = lite0_backbone((image_size, image_size, 3))
    inputs = keras.Input((image_size, image_size, channels))
    x = keras.ops.concatenate([inputs] * 3, axis=-1) if channels == 1 else inputs
    out = backbone(x)
    if mirrored:
        out = (out + backbone(keras.ops.flip(x, axis=2))) / 2
    return keras.Model(inputs, out, name="health_features")


def features(
    labels: LabelSet, cache: Path | None = None, image_size: int = IMAGE_SIZE,
    mirrored: bool = False, batch_size: int = 32, log: Callable[[str], None] = print,
) -> np.ndarray:  # fmt: skip
    """Lite0 features (``N x 1280`` float32, table order), computed only for photos not cached."""
    keys = np.array(content_keys(labels))
    name = f"features-lite0-{image_size}{'-mirrored' if mirrored else ''}-v{FEATURES_VERSION}.npz"
    path = Path(cache) / name if cache else None
    known: dict[str, np.ndarray] = {}
    if path is not None and path.is_file():
        with np.load(path) as stored:
            known = dict(zip(stored["keys"], stored["features"], strict=True))
    missing = sorted({k for k in keys if k not in known})
    if missing:  # TensorFlow is imported only when something is left to compute
        from helpers.data.registry import kind_of
        from helpers.training.probe import features as batch_features

        rows = labels.table[np.isin(keys, missing)].drop_duplicates("path")
        rows = rows.assign(key=keys[rows.index]).drop_duplicates("key")
        subset = replace(labels, table=rows[["path", "label", "split"]].assign(split="test"))
        log(f"features: {len(rows)} photos through Lite0 at {image_size} px ({len(known)} cached)")
        model = extractor(image_size, kind_of(labels).channels, mirrored)
        computed = batch_features(model, subset, "test", image_size, batch_size)
        known.update(zip(rows["key"], computed.astype(np.float32), strict=True))
        if path is not None:
            names = np.array(sorted(known))
            with atomic.replacing(path) as temporary, open(temporary, "wb") as handle:
                np.savez(handle, keys=names, features=np.stack([known[k] for k in names]))
    return np.stack([known[k] for k in keys]) if len(keys) else np.zeros((0, 1280), np.float32)


def near_duplicates(
    feats: np.ndarray, paths: list[str], threshold: float = THRESHOLD, k: int = NEIGHBOURS
) -> pd.DataFrame:
    """Pairs among each row's ``k`` nearest neighbours with cosine similarity >= ``threshold``."""
    from sklearn.neighbors import NearestNeighbors

    if len(feats) < 2:
        return pd.DataFrame(columns=DUPLICATE_COLUMNS)
    search = NearestNeighbors(n_neighbors=min(k + 1, len(feats)), metric="cosine")
    distances, neighbours = search.fit(feats).kneighbors(feats)
    best: dict[tuple[int, int], float] = {}
    for i, (row_d, row_n) in enumerate(zip(distances, neighbours, strict=True)):
        for d, j in zip(row_d, row_n, strict=True):
            if j != i and 1 - d >= threshold:
                best[(min(i, j), max(i, j))] = round(min(1.0, 1 - float(d)), 4)
    rows = [(paths[i], paths[j], s) for (i, j), s in best.items()]
    pairs = pd.DataFrame(rows, columns=DUPLICATE_COLUMNS)
    order = ["similarity", "path_a", "path_b"]
    return pairs.sort_values(order, ascending=[False, True, True], ignore_index=True)


def label_issues(
    feats: np.ndarray, labels: LabelSet, groups: pd.Series | None = None, seed: int = 0
) -> pd.DataFrame:
    """Likely label errors, most suspicious first: cleanlab on out-of-sample probabilities of a
    logistic regression cross-validated on the features (folds keep ``groups`` whole)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    table = labels.table
    present = [c for c in labels.classes if c in set(table["label"])]
    y = table["label"].map({c: i for i, c in enumerate(present)}).to_numpy()
    groups = groups if groups is not None else pd.Series(np.arange(len(y)))
    folds = min(FOLDS, max(2, int(np.bincount(y).min()) if len(y) else 0))
    if len(present) < 2 or groups.nunique() < folds:  # a class of one photo: 2 folds
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=500))
    cv = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    probs = cross_val_predict(model, feats, y, groups=groups, cv=cv, method="predict_proba")
    ranked = find_label_issues(y, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    scores = get_label_quality_scores(y, probs)
    return pd.DataFrame({
        "path": table["path"].to_numpy()[ranked], "label": table["label"].to_numpy()[ranked],
        "suggested": np.array(present)[probs[ranked].argmax(1)],
        "score": np.round(scores[ranked], 4),
    }, columns=ISSUE_COLUMNS)  # fmt: skip


@dataclass
class HealthReport:
    """What :func:`check` found: the CSVs' tables, each row's similarity group, the labels."""

    labels: LabelSet
    duplicates: pd.DataFrame
    label_issues: pd.DataFrame
    groups: pd.Series
    seconds: float = 0.0
    threshold: float = THRESHOLD
    out: Path | None = None
    notes: list[str] = field(default_factory=list)

    def pair_splits(self) -> pd.DataFrame:
        """The duplicate pairs with each side's split (and group, when the labels have one)."""
        table = self.labels.table.set_index("path")
        pairs = self.duplicates.copy()
        for side in ("a", "b"):
            pairs[f"split_{side}"] = pairs[f"path_{side}"].map(table["split"])
            if "group" in table.columns:
                pairs[f"group_{side}"] = pairs[f"path_{side}"].map(table["group"])
        return pairs

    def summary_lines(self) -> list[str]:
        """The report in a few lines (the CLI's, the notebook's, summary.md's)."""
        pairs = self.pair_splits()
        cross = pairs[pairs["split_a"] != pairs["split_b"]]
        ends = pd.Series(["-".join(sorted(p)) for p in cross[["split_a", "split_b"]].to_numpy()])
        by_kind = ", ".join(f"{k} {n}" for k, n in ends.value_counts().items())
        sizes = self.groups.value_counts()
        cut = self.labels.table.groupby(self.groups.to_numpy())["split"].nunique()
        lines = [
            f"near-duplicates: {len(pairs)} pairs (cosine >= {self.threshold}) among "
            f"{len(self.labels.table)} photos; {len(cross)} cross the split"
            + (f" ({by_kind})" if by_kind else ""),
            f"groups from similarity: {int((sizes > 1).sum())} groups of 2+ photos (largest "
            f"{int(sizes.max()) if len(sizes) else 0}); the split cuts {int((cut > 1).sum())} of them",
            f"likely label errors: {len(self.label_issues)} photos (cleanlab, cross-validated "
            "logistic regression on Lite0 features)",
        ]
        if "group_a" in pairs.columns and len(cross):
            same = int((cross["group_a"] == cross["group_b"]).sum())
            lines.append(f"{same} of {len(cross)} cross-split pairs are one contributor's photos")
        return lines + self.notes + [f"{self.seconds:.0f} s"]

    def plot_pairs(self, count: int = 8, path: Path | None = None):
        """The most similar pairs side by side, each titled with its split and similarity."""
        from helpers.plots.results import image_gallery

        images, titles = [], []
        split = self.labels.table.set_index("path")["split"]
        for row in self.duplicates.head(count).itertuples():
            for p in (row.path_a, row.path_b):
                images.append(self._image(p))
                titles.append(f"{split[p]} · {row.similarity:.3f}\n{Path(p).name[:24]}")
        return image_gallery(images, titles, columns=4, path=path)

    def plot_issues(self, count: int = 12, path: Path | None = None):
        """The likeliest label errors: photo, given label, suggested label."""
        from helpers.plots.results import image_gallery

        rows = self.label_issues.head(count)
        images = [self._image(p) for p in rows["path"]]
        titles = [f"given {r.label}\nsuggested {r.suggested}" for r in rows.itertuples()]
        return image_gallery(images, titles, columns=6, path=path)

    def _image(self, path: str) -> np.ndarray:
        from helpers.data.registry import kind_of

        return kind_of(self.labels).images.read(self.labels, path) / 255.0

    def save(self, out: Path) -> None:
        """Write ``duplicates.csv``, ``label_issues.csv`` and ``health.json`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_csv(out / "duplicates.csv", self.duplicates[DUPLICATE_COLUMNS])
        atomic.write_csv(out / "label_issues.csv", self.label_issues[ISSUE_COLUMNS])
        atomic.write_json(out / "health.json", {"lines": self.summary_lines()})
        self.out = out


def check(
    labels: LabelSet, out: Path | None = None, image_size: int = IMAGE_SIZE,
    threshold: float = THRESHOLD, mirrored: bool = False, log: Callable[[str], None] = print,
) -> HealthReport:  # fmt: skip
    """The whole check (features cached in ``out``, where it is written); photos already in the
    corrections file are not listed again as label issues."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    feats = features(labels, out, image_size, mirrored, log=log)
    paths = labels.table["path"].tolist()
    with threadpool_limits(1):  # BLAS threads on busy cores: 1 s per fit becomes 20 s
        pairs = near_duplicates(feats, paths, threshold)
        groups = connected_groups(paths, zip(pairs["path_a"], pairs["path_b"], strict=True))
        issues = label_issues(feats, labels, groups)
    reviewed = corrections_file(labels.root)
    if reviewed is not None:
        issues = issues[~issues["path"].isin(read_corrections(reviewed))].reset_index(drop=True)
    report = HealthReport(labels, pairs, issues, groups, time.perf_counter() - started, threshold)
    if out is not None:
        report.save(out)
    return report


def check_run(run, **options) -> HealthReport:
    """:func:`check` of a run's labels into its ``health/`` folder, noting which labels.csv."""
    report = check(run.labels(), run.files.root / "health", log=run.log, **options)
    lines = {"lines": report.summary_lines(), "labels": atomic.file_digest(run.files.labels)}
    atomic.write_json(run.files.root / "health" / "health.json", lines)
    return report


def health_lines(run) -> list[str]:
    """The run's health check in a few lines, when it checked the run's current labels (else none)."""
    path = run.files.root / "health" / "health.json"
    if not path.is_file() or not run.files.labels.is_file():
        return []
    record = atomic.read_json(path)
    return record["lines"] if record.get("labels") == atomic.file_digest(run.files.labels) else []


def corrections_file(data_dir: Path | None, given: Path | None = None) -> Path | None:
    """The corrections CSV in force: ``given``, else the data folder's ``corrections.csv``, or None."""
    if given is not None:
        if not Path(given).is_file():
            raise InputError(given, "no such corrections file")
        return Path(given)
    found = Path(data_dir) / CORRECTIONS_FILE if data_dir else None
    return found if found is not None and found.is_file() else None


def input_digests(settings) -> dict[str, str | None]:
    """SHA-256 of the side files a run's labels take: corrections and near-duplicate pairs."""
    from helpers.data.registry import dataset_kind

    def digest(path: Path | None) -> str | None:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path and path.is_file() else None

    folder = Path(settings.data_dir) if settings.data_dir else None
    given = settings.corrections
    corrections = Path(given) if given else (folder / CORRECTIONS_FILE if folder else None)
    key = {"corrections": str(given) if given else None, "corrections_sha256": digest(corrections)}
    if "duplicates" in dataset_kind(settings.dataset).options:
        pairs = settings.duplicates or (folder / "duplicates.csv" if folder else None)
        key["duplicates_sha256"] = digest(Path(pairs) if pairs else None)
    return key


def read_corrections(path: Path) -> dict[str, str]:
    """``{path: label}`` of a corrections CSV (``path,label``; later rows win)."""
    from helpers.data.text import read_csv_table

    table = read_csv_table(Path(path), ["path", "label"])
    return dict(zip(table["path"].str.strip(), table["label"].str.strip(), strict=True))


def apply_corrections(labels: LabelSet, path: Path | None) -> LabelSet:
    """``labels`` with the corrections of ``path`` applied (None: unchanged); a note says how many."""
    if path is None:
        return labels
    fixes = read_corrections(path)
    if unknown := sorted(set(fixes.values()) - set(labels.classes)):
        raise AnnotationError(path, f"labels not in the class list: {', '.join(unknown[:5])}")
    table = labels.table.copy()
    hit = table["path"].isin(fixes)
    changed = int((table.loc[hit, "label"] != table.loc[hit, "path"].map(fixes)).sum())
    table.loc[hit, "label"] = table.loc[hit, "path"].map(fixes)
    missing = len(set(fixes) - set(table["path"]))
    confirmed = int(hit.sum()) - changed
    note = f"corrections from {path}: {changed} labels changed, {confirmed} confirmed"
    note += f", {missing} name photos not in the table" if missing else ""
    return replace(labels, table=table, notes=[*labels.notes, note])


def record_correction(data_dir: Path, path: str, label: str) -> Path:
    """Add (or replace) one ``path,label`` row of the data folder's ``corrections.csv``; return it."""
    target = Path(data_dir) / CORRECTIONS_FILE
    rows = read_corrections(target) if target.is_file() else {}
    rows[path] = label
    atomic.write_csv(target, pd.DataFrame(list(rows.items()), columns=["path", "label"]))
    return target


def main(argv: list[str] | None = None) -> int:
    from helpers.data import label_dataset
    from helpers.data.registry import dataset_kind, datasets

    doc = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m helpers.health", description=doc)
    add = parser.add_argument
    kinds = [name for name, kind in datasets().items() if kind.needs_data_dir]
    add("data_dir", type=Path, help="dataset folder (class folders, DeepFashion, Kaggle)")
    add("--dataset", default="folders", choices=kinds)
    add("--groups", type=Path, help="folders: CSV of image ids and contributors")
    add("--out", type=Path, required=True, help="folder for the CSVs and the cached features")
    add("--image-size", type=int, default=IMAGE_SIZE, help="Lite0's input side")
    add("--threshold", type=float, default=THRESHOLD, help="near-duplicates' cosine similarity")
    add("--mirrored", action="store_true", help="flip-averaged features (twice the time)")
    args = parser.parse_args(argv)
    try:
        options = {"groups": args.groups} if "groups" in dataset_kind(args.dataset).options else {}
        labels = label_dataset(args.dataset, args.data_dir, **options)
        if labels.table.empty:
            raise InputError(args.data_dir, "no usable image (python -m helpers.labels says why)")
        labels = apply_corrections(labels, corrections_file(labels.root))
        report = check(labels, args.out, args.image_size, args.threshold, args.mirrored)
    except (InputError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err.filename or args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    print("\n".join(report.summary_lines()))
    print(f"Wrote {args.out / 'duplicates.csv'} and {args.out / 'label_issues.csv'}")
    return 0


if __name__ == "__main__":
    from helpers.tf_logging import quiet_cli

    sys.exit(quiet_cli(main))
