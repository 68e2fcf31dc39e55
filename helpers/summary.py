"""The results summary of a run: one table and links to the figures, of current artifacts only
(a missing or stale one is named with the notebook that remakes it).
"""

import os
from pathlib import Path

import pandas as pd

from helpers import atomic
from helpers.latency import cpu_description
from helpers.run import TRANSFER_DIR, Run

NOTEBOOK_OF = {
    "model": "03_training", "costs": "05_flops", "evaluation": "06_evaluation",
    "optimization": "07_optimization",
}  # fmt: skip
# Which artifact each figure belongs to: a figure is shown only while its artifact is current.
FIGURE_OF = {
    **dict.fromkeys(("class_distribution", "samples", "augmentation"), "labels"),
    "learning_curves": "model",
    **dict.fromkeys(("receptive_field_growth", "receptive_field_box"), "fields"),
    "flops_by_layer": "costs",
    **dict.fromkeys(
        ("confusion_counts", "confusion_normalised", "per_class_accuracy", "confident_mistakes",
         "explanations"), "evaluation",
    ),
    "accuracy_vs_latency": "optimization",
}  # fmt: skip
COLUMNS = {
    "model": "model", "input": "input size", "accuracy": "accuracy", "top3": "top-3",
    "top5": "top-5", "params": "params", "macs": "MACs (M)", "flops": "FLOPs (M)",
    "file_bytes": "file size (MB)", "latency": "latency p50 (ms)",
}  # fmt: skip


def _current(run: Run, artifact: str, path: Path) -> dict:
    return atomic.read_json(path) if run.current(artifact) else {}


def summary_table(run: Run) -> pd.DataFrame:
    """One row per model and optimised variant, for the run and its transfer model."""
    tables = [_one_model(r) for r in (run, run.transfer_run()) if r is not None]
    return pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True)


def side_by_side(run: Run) -> pd.DataFrame:
    """The run's trained model beside its transfer model: one formatted row each."""
    table = summary_table(run)
    return _formatted(table[~table["model"].str.contains(" · ")].reset_index(drop=True))


def _one_model(run: Run) -> pd.DataFrame:
    """:func:`summary_table`'s rows of one run (nothing for a transfer run not trained yet)."""
    files = run.files
    training = _current(run, "model", files.training)
    metrics = _current(run, "evaluation", files.metrics)
    costs = _current(run, "costs", files.costs)
    shape = costs.get("input_shape") or training.get("input_shape") or []
    name = training.get("model") or costs.get("model") or run.settings.model
    if run.files.root.name == TRANSFER_DIR and not training:
        return pd.DataFrame(columns=list(COLUMNS))
    saved = files.model.stat().st_size if training and files.model.exists() else None
    rows = [{
        "model": name, "input": "x".join(map(str, shape)) or "—",
        "accuracy": metrics.get("accuracy", training.get("test", {}).get("accuracy")),
        "top3": metrics.get("top3_accuracy"), "top5": metrics.get("top5_accuracy"),
        "params": costs.get("params", training.get("params")), "macs": costs.get("macs"),
        "flops": costs.get("flops"), "file_bytes": costs.get("file_bytes") or saved,
    }]  # fmt: skip
    if run.current("optimization"):
        for variant in pd.read_csv(files.optimization).to_dict("records"):
            if variant.get("variant") == "Keras float32":  # the trained model itself: row 1
                rows[0]["latency"] = variant.get("latency_p50_ms")
                continue
            costs = {
                k: variant.get(k) for k in ("accuracy", "params", "macs", "flops", "file_bytes")
            }
            model, latency = f"{name} · {variant['variant']}", variant.get("latency_p50_ms")
            rows.append({"model": model, "input": rows[0]["input"], **costs, "latency": latency})  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _formatted(table: pd.DataFrame) -> pd.DataFrame:
    def pct(value):
        return f"{value:.2%}" if pd.notna(value) else "—"

    def num(scale, digits):
        return lambda v: f"{v / scale:,.{digits}f}" if pd.notna(v) else "—"

    shown = table.copy()
    for column in ("accuracy", "top3", "top5"):
        shown[column] = shown[column].map(pct)
    shown["params"] = shown["params"].map(num(1, 0))
    for column in ("macs", "flops", "file_bytes"):
        shown[column] = shown[column].map(num(1e6, 2))
    shown["latency"] = shown["latency"].map(num(1, 2))
    return shown.rename(columns=COLUMNS)


def _link(target: Path, links_from: Path | None, root: Path) -> str:
    """``target`` as a Markdown link path: relative to ``links_from`` (default: the run folder)."""
    start = root if links_from is None else Path(links_from).absolute()
    try:
        return Path(os.path.relpath(target.absolute(), start)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return target.absolute().as_uri()


def summary_markdown(run: Run, links_from: Path | None = None) -> str:
    """The summary's Markdown: table, missing or stale artifacts, figures linked."""
    table = _formatted(summary_table(run)).to_markdown(index=False, disable_numparse=True)
    lines = [f"# Results of run `{run.files.root.name}`", "", table, ""]
    lines += [
        "FLOPs = 2 x MACs of convolutions and dense layers, per image. Accuracy is on the test split."
        f" Latency: one image, median, measured in 07 on {cpu_description()}.",
        "",
    ]
    from helpers.health import health_lines

    checked = health_lines(run)
    lines += ["## Health check", "", *[f"- {line}" for line in checked], ""] if checked else []
    missing = {artifact: run.stale(artifact) for artifact in NOTEBOOK_OF}
    missing = [f"- {why}: run {NOTEBOOK_OF[a]}" for a, why in missing.items() if why is not None]
    lines += ["## Not in the table", "", *missing, ""] if missing else []
    figures = sorted(run.files.figures.glob("*.png")) if run.files.figures.exists() else []
    figures = [p for p in figures if p.stem in FIGURE_OF and run.current(FIGURE_OF[p.stem])]
    if figures:
        root = run.files.root.absolute()
        lines += ["## Figures", ""] + [
            f"- [{p.stem.replace('_', ' ')}]({_link(p, links_from, root)})" for p in figures
        ]
    return "\n".join(lines) + "\n"


def write_summary(run: Run) -> Path:
    """Write ``summary.md`` (its figure links relative to the run folder); return its path."""
    atomic.write_text(run.files.summary, summary_markdown(run))
    return run.files.summary


def show_summary(run: Run, folder: Path | None = None):
    """The summary for a notebook, its figure links relative to ``folder`` (default: cwd)."""
    from IPython.display import Markdown

    return Markdown(summary_markdown(run, links_from=Path.cwd() if folder is None else folder))


def training_line(record: dict, test_images: int) -> str:
    """What a training record (``training.json``) says, in one line: accuracy, best epoch, time."""
    return (
        f"{record['model']}: test accuracy {record['test']['accuracy']:.2%} on {test_images} images "
        f"(chance {record['chance_accuracy']:.2%}); best epoch {record['best_epoch'] + 1} of "
        f"{record['epochs_run']}; {record['train_seconds']} s of training on {record['replicas']} "
        "replica(s)."
    )
