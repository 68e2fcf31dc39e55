"""The results summary of a run: one table in the seed write-ups' style, plus links to the figures."""

from __future__ import annotations

from pathlib import Path

from helpers.paths import RunFiles, read_json


def _pct(value) -> str:
    return f"{value:.2%}" if isinstance(value, int | float) else "—"


def _num(value, scale: float = 1.0, digits: int = 2) -> str:
    return f"{value / scale:,.{digits}f}" if isinstance(value, int | float) else "—"


def summary_rows(run: RunFiles) -> list[dict]:
    """One row for the trained model, plus one per optimised variant when 07 measured them."""
    training = read_json(run.training) if run.training.exists() else {}
    metrics = read_json(run.metrics) if run.metrics.exists() else {}
    costs = read_json(run.costs) if run.costs.exists() else {}
    shape = costs.get("input_shape") or training.get("input_shape") or []
    rows = [
        {
            "model": training.get("model") or costs.get("model", "—"),
            "input": "x".join(map(str, shape)) or "—",
            "accuracy": metrics.get("accuracy", training.get("test", {}).get("accuracy")),
            "top3": metrics.get("top3_accuracy"),
            "top5": metrics.get("top5_accuracy"),
            "params": costs.get("params", training.get("params")),
            "macs": costs.get("macs"),
            "flops": costs.get("flops"),
            "file_bytes": costs.get("file_bytes")
            or (run.model.stat().st_size if run.model.exists() else None),
        }
    ]
    optimisation = run.root / "optimization.csv"
    if optimisation.exists():
        import pandas as pd

        for variant in pd.read_csv(optimisation).to_dict("records"):
            if variant.get("variant") == "Keras float32":  # the trained model itself: row 1
                continue
            rows.append(
                {
                    "model": f"{rows[0]['model']} · {variant['variant']}",
                    "input": rows[0]["input"],
                    "accuracy": variant.get("accuracy"),
                    "top3": None,
                    "top5": None,
                    "params": variant.get("params"),
                    "macs": variant.get("macs"),
                    "flops": variant.get("flops"),
                    "file_bytes": variant.get("file_bytes"),
                }
            )
    return rows


def write_summary(run: RunFiles) -> Path:
    """Write ``summary.md``: the results table and links to every figure of the run."""
    lines = [
        f"# Results of run `{run.root.name}`",
        "",
        "| model | input size | accuracy | top-3 | top-5 | params | MACs (M) | FLOPs (M) | file size (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary_rows(run):
        lines.append(
            f"| {row['model']} | {row['input']} | {_pct(row['accuracy'])} | {_pct(row['top3'])} | "
            f"{_pct(row['top5'])} | {_num(row['params'], 1, 0)} | {_num(row['macs'], 1e6)} | "
            f"{_num(row['flops'], 1e6)} | {_num(row['file_bytes'], 1e6)} |"
        )
    lines += [
        "",
        "FLOPs = 2 x MACs of convolutions and dense layers, per image. Accuracy is on the test split.",
        "",
    ]
    figures = sorted(run.figures.glob("*.png")) if run.figures.exists() else []
    if figures:
        lines += ["## Figures", ""] + [
            f"- [{p.stem.replace('_', ' ')}](figures/{p.name})" for p in figures
        ]
    run.summary.write_text("\n".join(lines) + "\n")
    return run.summary
