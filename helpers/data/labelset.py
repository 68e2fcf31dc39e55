"""The one thing every dataset adapter returns: a labels table, its classes, a report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers import atomic
from helpers.atomic import read_json
from helpers.paths import RunFiles

TABLE_COLUMNS = ["path", "label", "split"]
GROUP_COLUMN = "group"  # optional: who a row belongs to (a contributor); splits never cut one
REPORT_COLUMNS = ["path", "issue", "detail", "action"]
SPLITS = ("train", "val", "test")


class Report:
    """What an adapter skipped (not in the table) or kept with a detail worth knowing, a row each."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def skip(self, path: str, issue: str, detail: str) -> None:
        self.rows.append({"path": path, "issue": issue, "detail": detail, "action": "skipped"})

    def keep(self, path: str, issue: str, detail: str) -> None:
        self.rows.append({"path": path, "issue": issue, "detail": detail, "action": "kept"})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=REPORT_COLUMNS)


@dataclass
class LabelSet:
    """A labels table (``path, label, split``, paths relative to ``root``, optionally ``group``: a
    contributor its split keeps whole), its ordered classes and a report."""

    table: pd.DataFrame
    classes: list[str]
    report: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPORT_COLUMNS))
    root: Path | None = None
    dataset: str = ""
    notes: list[str] = field(default_factory=list)  # what the adapter found, in plain words

    def __post_init__(self) -> None:
        if missing := set(TABLE_COLUMNS) - set(self.table.columns):
            raise ValueError(f"labels table lacks columns {sorted(missing)}")
        columns = TABLE_COLUMNS + ([GROUP_COLUMN] if GROUP_COLUMN in self.table.columns else [])
        self.table = self.table[columns].reset_index(drop=True)
        if unknown := set(self.table["label"]) - set(self.classes):
            raise ValueError(f"labels not in the class list: {sorted(unknown)}")
        if bad_splits := set(self.table["split"]) - set(SPLITS):
            raise ValueError(f"unknown splits {sorted(bad_splits)}; expected {SPLITS}")

    def split(self, name: str) -> pd.DataFrame:
        """Rows of one split (``train``, ``val`` or ``test``)."""
        return self.table[self.table["split"] == name].reset_index(drop=True)

    def counts(self) -> pd.DataFrame:
        """Images per class and split, classes in class-list order."""
        counts = pd.crosstab(self.table["label"], self.table["split"])
        counts = counts.reindex(index=self.classes, columns=list(SPLITS), fill_value=0)
        counts["total"] = counts.sum(axis=1)
        return counts

    def split_sizes(self) -> pd.DataFrame:
        """Images and classes per split, with each split's share."""
        table = self.table.groupby("split").agg(
            images=("path", "size"), classes=("label", "nunique")
        )
        table = table.reindex(list(SPLITS)).fillna(0).astype(int)
        table["share"] = (table["images"] / max(1, table["images"].sum())).round(3)
        return table

    def products(self) -> pd.Series:
        """Each row's group: its ``group`` (contributor) when known, else the image's folder (a
        Fashion-MNIST ``<idx file>#<row>`` item is its own)."""
        if GROUP_COLUMN in self.table.columns:
            return self.table[GROUP_COLUMN].astype(str)
        return self.table["path"].str.rsplit("/", n=1).str[0]

    def absolute_paths(self) -> pd.Series:
        """The table's paths joined to the data folder."""
        if self.root is None:
            raise ValueError("this label set has no data folder (root)")
        return self.table["path"].map(lambda p: str(Path(self.root) / p))

    def save(self, run: RunFiles) -> None:
        """Write the table, classes, report and data-folder record into a run folder (atomically)."""
        run.ensure()
        atomic.write_csv(run.labels, self.table)
        atomic.write_csv(run.label_report, self.report)
        atomic.write_json(run.classes, self.classes)
        info = {"dataset": self.dataset, "data_dir": str(self.root or ""), "notes": self.notes}
        atomic.write_json(run.dataset, info)

    @classmethod
    def load(cls, run: RunFiles) -> LabelSet:
        """Read what :meth:`save` wrote, naming the missing file if any."""
        for path in (run.labels, run.classes, run.dataset):
            if not path.exists():
                raise FileNotFoundError(f"{path}: not found; run 01_labels first")
        info = read_json(run.dataset)
        report = (
            pd.read_csv(run.label_report, dtype=str, keep_default_na=False)
            if run.label_report.exists()
            else pd.DataFrame(columns=REPORT_COLUMNS)
        )
        return cls(
            table=pd.read_csv(run.labels, dtype=str, keep_default_na=False),
            classes=read_json(run.classes),
            report=report,
            root=Path(info["data_dir"]) if info.get("data_dir") else None,
            dataset=info.get("dataset", ""),
            notes=info.get("notes", []),
        )


def summarize_report(report: pd.DataFrame) -> pd.DataFrame:
    """Findings counted by issue and action, most frequent first."""
    if report.empty:
        return pd.DataFrame(columns=["issue", "action", "files"])
    counts = report.groupby(["issue", "action"]).size().rename("files").reset_index()
    return counts.sort_values("files", ascending=False, kind="stable").reset_index(drop=True)


def merge_label_variants(table: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Labels that differ only in case or spaces (``Shirt``, ``shirt``, ``hat ``) merged under
    their commonest spelling, each merge said in ``notes``."""
    merged: dict[str, str] = {}
    spelling = table["label"].str.split().str.join(" ").str.casefold()
    for _, labels in table["label"].groupby(spelling):
        counts = labels.value_counts()
        if len(counts) > 1:
            name = " ".join(min(counts.index, key=lambda n: (-counts[n], n)).split())
            variants = " + ".join(map(repr, sorted(counts.index)))
            why = "names differ only in case or spaces"
            notes.append(f"classes merged ({why}): {variants} -> {name!r}")
            merged.update(dict.fromkeys(counts.index, name))
    return table.assign(label=table["label"].replace(merged)) if merged else table


def drop_rare_classes(
    table: pd.DataFrame, min_images: int, report: Report, source: str
) -> pd.DataFrame:
    """Rows of the classes with at least ``min_images`` images; each dropped class reported."""
    counts = table["label"].value_counts()
    rare = counts[counts < min_images]
    for label, count in rare.sort_index().items():
        report.skip(source, "rare-class", f"{label!r} has {count} images, fewer than {min_images}")
    return table[~table["label"].isin(rare.index)].reset_index(drop=True)
