"""summary.md's figure links open from the run folder; the summary shown in a notebook's from there."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from helpers.evaluation import save_evaluation
from helpers.summary import show_summary, summary_markdown, write_summary


def linked(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)]+\.png)\)", markdown)


@pytest.fixture
def run_with_figures(tmp_path):
    from helpers.run import Run

    run = Run.open({"profile": "quick", "run_dir": str(tmp_path / "runs" / "r")}, log=lambda _: 0)
    run.files.ensure()
    save_evaluation(run.files, pd.DataFrame({"path": ["a"]}), {"accuracy": 0.5})
    run.record("evaluation")
    for name in ("confusion_counts", "per_class_accuracy"):
        (run.files.figures / f"{name}.png").write_bytes(b"png")
    return run


def test_file_on_disk_links_from_the_run_folder(run_with_figures):
    run = run_with_figures
    links = linked(write_summary(run).read_text())
    assert links == ["figures/confusion_counts.png", "figures/per_class_accuracy.png"]
    assert all((run.files.root / link).is_file() for link in links)


def test_notebook_summary_links_from_the_notebook_folder(run_with_figures, tmp_path, monkeypatch):
    run = run_with_figures
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)  # a notebook runs in its own folder
    shown = show_summary(run).data
    links = linked(shown)
    assert links == [
        "../runs/r/figures/confusion_counts.png",
        "../runs/r/figures/per_class_accuracy.png",
    ]
    assert all((notebooks / link).is_file() for link in links)
    # The same text apart from the links; the file on disk is untouched by showing.
    assert re.sub(r"\]\([^)]+\)", "]()", shown) == re.sub(
        r"\]\([^)]+\)",
        "]()",
        run.files.summary.read_text()
        if run.files.summary.exists()
        else write_summary(run).read_text(),
    )
    assert linked(run.files.summary.read_text())[0] == "figures/confusion_counts.png"


def test_links_from_any_folder(run_with_figures, tmp_path):
    run = run_with_figures
    deeper = tmp_path / "a" / "b"
    deeper.mkdir(parents=True)
    links = linked(summary_markdown(run, links_from=deeper))
    assert links[0] == "../../runs/r/figures/confusion_counts.png"
    assert (deeper / links[0]).resolve() == (run.files.figures / "confusion_counts.png").resolve()
    assert (
        linked(summary_markdown(run, links_from=Path(run.files.root)))[0]
        == "figures/confusion_counts.png"
    )
