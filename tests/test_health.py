"""The health check on a few embedded real photos with planted copies and one moved label."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from helpers import health
from helpers.data.folders import label_folders
from helpers.paths import DATA_DIR
from tests.fixtures import write_image

PHOTOS = DATA_DIR / "photos"
CLASSES = ("Pants", "T-Shirt", "Dress")
PER_CLASS = 8
SIZE = 128  # Lite0 at a small input: fast, and enough for these checks
MOVED = "T-Shirt/moved.jpg"  # a photo of pants, put in the T-Shirt folder


def _reencoded(image: Image.Image, path: Path, quality: int = 50) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    path.write_bytes(buffer.getvalue())


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Class folders of real photos, four planted copies and one moved label: (root, copies)."""
    root = tmp_path_factory.mktemp("health") / "photos"
    copies = []
    for label in CLASSES:
        (root / label).mkdir(parents=True)
        for i, source in enumerate(sorted((PHOTOS / label).glob("*.jpg"))[:PER_CLASS]):
            shutil.copy(source, root / label / f"{i}.jpg")
    spare = sorted((PHOTOS / "Pants").glob("*.jpg"))[PER_CLASS]
    shutil.copy(spare, root / MOVED)
    original = Image.open(root / "Dress/0.jpg").convert("RGB")
    shutil.copy(root / "Dress/0.jpg", root / "Dress/exact.jpg")
    _reencoded(original, root / "Dress/reencoded.jpg")
    pants = Image.open(root / "Pants/1.jpg").convert("RGB")
    _reencoded(ImageEnhance.Brightness(pants).enhance(1.2), root / "Pants/brightened.jpg", 90)
    shirt = Image.open(root / "T-Shirt/2.jpg").convert("RGB")
    w, h = shirt.size
    cropped = shirt.crop((w // 25, h // 25, w - w // 25, h - h // 25))
    _reencoded(cropped, root / "T-Shirt/cropped.jpg", 90)
    copies = [
        ("Dress/0.jpg", "Dress/exact.jpg"),
        ("Dress/0.jpg", "Dress/reencoded.jpg"),
        ("Pants/1.jpg", "Pants/brightened.jpg"),
        ("T-Shirt/2.jpg", "T-Shirt/cropped.jpg"),
    ]
    return root, copies


@pytest.fixture(scope="module")
def report(planted, tmp_path_factory):
    root, _ = planted
    out = tmp_path_factory.mktemp("out")
    return health.check(label_folders(root), out, image_size=SIZE)


def _pairs(frame: pd.DataFrame) -> set[frozenset]:
    return {frozenset(pair) for pair in zip(frame["path_a"], frame["path_b"], strict=True)}


def test_planted_copies_are_found_and_the_csvs_have_exact_columns(planted, report):
    _, copies = planted
    written = pd.read_csv(report.out / "duplicates.csv")
    assert list(written.columns) == ["path_a", "path_b", "similarity"]
    assert {frozenset(c) for c in copies} <= _pairs(written)
    assert written["similarity"].is_monotonic_decreasing
    exact = written[_pairs_mask(written, copies[0])]
    assert exact["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-3)
    issues = pd.read_csv(report.out / "label_issues.csv")
    assert list(issues.columns) == ["path", "label", "suggested", "score"]
    # The copies share a group; distinct photos of one class do not.
    groups = dict(zip(report.labels.table["path"], report.groups, strict=True))
    assert groups["Dress/exact.jpg"] == groups["Dress/reencoded.jpg"] == groups["Dress/0.jpg"]
    assert groups["Dress/3.jpg"] != groups["Dress/4.jpg"]
    assert any("near-duplicates:" in line for line in report.summary_lines())


def _pairs_mask(frame: pd.DataFrame, pair: tuple[str, str]) -> pd.Series:
    return frame.apply(lambda r: {r.path_a, r.path_b} == set(pair), axis=1)


def test_the_moved_label_ranks_among_the_first_issues(report):
    issues = report.label_issues
    assert MOVED in issues["path"].head(3).tolist()
    row = issues[issues["path"] == MOVED].iloc[0]
    assert (row["label"], row["suggested"]) == ("T-Shirt", "Pants")
    assert issues["score"].is_monotonic_increasing


def test_features_are_cached_by_content(planted, report, monkeypatch):
    root, _ = planted
    import helpers.training.probe as probe

    def refuse(*args, **kwargs):
        raise AssertionError("features computed again")

    monkeypatch.setattr(probe, "features", refuse)
    again = health.check(label_folders(root), report.out, image_size=SIZE, log=lambda _: None)
    assert _pairs(again.duplicates) == _pairs(report.duplicates)


def test_corrections_change_the_labels_and_their_key(planted, tmp_path):
    from helpers.labels import build_labels
    from helpers.run import labels_key
    from helpers.settings import resolve

    root = tmp_path / "photos"
    shutil.copytree(planted[0], root)
    settings = resolve({"dataset": "folders", "data_dir": root, "run_dir": tmp_path / "run"})
    before, key_before = build_labels(settings), labels_key(settings)
    assert before.table.set_index("path").loc[MOVED, "label"] == "T-Shirt"
    written = health.record_correction(root, MOVED, "Pants")
    assert written == root / "corrections.csv"
    after = build_labels(settings)
    assert after.table.set_index("path").loc[MOVED, "label"] == "Pants"
    assert any("1 labels changed" in note for note in after.notes)
    assert labels_key(settings) != key_before
    assert (root / MOVED).is_file()  # the photo itself stays where it was
    health.record_correction(root, MOVED, "Dress")  # a later fix replaces the earlier one
    assert health.read_corrections(written) == {MOVED: "Dress"}
    elsewhere = tmp_path / "fixes.csv"  # -p corrections FILE wins over the data folder's
    elsewhere.write_text(f"path,label\n{MOVED},Pants\n")
    chosen = settings.replace(corrections=str(elsewhere))
    assert build_labels(chosen).table.set_index("path").loc[MOVED, "label"] == "Pants"
    assert labels_key(chosen)["corrections"] == str(elsewhere)
    health.record_correction(root, "Pants/0.jpg", "Hats")
    with pytest.raises(ValueError, match="Hats"):
        build_labels(settings)


def test_grouped_split_keeps_a_near_duplicate_group_whole(tmp_path):
    root = tmp_path / "tree"
    for label in ("a", "b"):
        for i in range(20):
            write_image(root / label / f"{i}.jpg", (10 * i, 100, 50 if label == "a" else 200))
    chain = [("a/0.jpg", "a/1.jpg"), ("a/1.jpg", "a/2.jpg"), ("a/2.jpg", "b/3.jpg")]
    pd.DataFrame(chain, columns=["path_a", "path_b"]).assign(similarity=0.95).to_csv(
        root / "duplicates.csv", index=False
    )
    for seed in range(5):
        labels = label_folders(root, split="grouped", seed=seed)
        splits = labels.table.set_index("path")["split"]
        assert splits[["a/0.jpg", "a/1.jpg", "a/2.jpg", "b/3.jpg"]].nunique() == 1
    assert any("3 near-duplicate pairs" in note for note in labels.notes)
    own = tmp_path / "own"
    (own / "train" / "a").mkdir(parents=True)
    (own / "test" / "a").mkdir(parents=True)
    for i in range(3):
        write_image(own / "train" / "a" / f"{i}.jpg", (20 * i, 0, 0))
        write_image(own / "test" / "a" / f"{i}.jpg", (20 * i, 0, 0))
    pd.DataFrame([("train/a/0.jpg", "test/a/0.jpg")], columns=["path_a", "path_b"]).to_csv(
        own / "duplicates.csv", index=False
    )
    notes = label_folders(own).notes
    assert any("the folders' own split cuts 1 of 5 groups" in note for note in notes)


def test_command_line_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "a" / "notes.txt").write_text("not a photo")
    for argv in (
        [str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
        [str(empty), "--out", str(tmp_path / "o")],
        [str(empty), "--dataset", "deepfashion", "--out", str(tmp_path / "o")],
    ):
        assert health.main(argv) == 2
        err = capsys.readouterr().err  # (a progress bar may come first)
        errors = [line for line in err.splitlines() if "error" in line]
        assert len(errors) == 1 and errors[0].startswith("error: ") and "Traceback" not in err


def test_command_line_writes_both_csvs(planted, report, capsys):
    root, _ = planted
    argv = [str(root), "--out", str(report.out), "--image-size", str(SIZE)]
    assert health.main(argv) == 0
    out = capsys.readouterr().out
    assert "near-duplicates:" in out and "likely label errors:" in out
    assert (report.out / "duplicates.csv").is_file() and (report.out / "label_issues.csv").is_file()


def test_the_reviewer_writes_corrections_and_the_run_summary_shows_the_check(
    planted, report, tmp_path
):
    import dataclasses

    from helpers.run import Run
    from helpers.summary import summary_markdown
    from helpers.widgets import Reviewer

    root = tmp_path / "photos"
    shutil.copytree(planted[0], root)
    labels = dataclasses.replace(report.labels, root=root)
    reviewer = Reviewer(report.label_issues, labels)
    first = reviewer.row["path"]
    reviewer.label.value = "Dress"
    reviewer.correct.click()
    assert reviewer.index.value == 1
    reviewer.confirm.click()
    second = report.label_issues["path"].iloc[1]
    assert health.read_corrections(root / "corrections.csv") == {
        first: "Dress",
        second: report.label_issues["label"].iloc[1],
    }
    run = Run.open({"dataset": "folders", "data_dir": root, "run_dir": tmp_path / "run"})
    (run.files.root / "health").mkdir(parents=True)
    for cached in report.out.glob("features-*.npz"):  # the same photos: nothing to compute
        shutil.copy(cached, run.files.root / "health" / cached.name)
    checked = health.check_run(run, image_size=SIZE)
    assert not {first, second} & set(checked.label_issues["path"])  # reviewed: not listed again
    assert "## Health check" in summary_markdown(run)
    run.files.labels.write_text(run.files.labels.read_text() + "\n")  # other labels: not shown
    assert "## Health check" not in summary_markdown(run)
