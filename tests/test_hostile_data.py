"""Hostile input on the data side (issue 32): every case ends in a one-line error naming the file,
a recorded skip, or a note; never a traceback, a silent merge, a silent empty split or a hang."""

from __future__ import annotations

import itertools
import os
import signal

import matplotlib
import pandas as pd
import pytest
from fixtures import write_image

from helpers.data import label_dataset
from helpers.data.checks import check_image
from helpers.data.folders import label_folders
from helpers.data.kaggle import label_clothing_full
from helpers.errors import AnnotationError
from helpers.labels import cap_images, main

matplotlib.use("Agg")
_colours = itertools.count(1)


def photo(path, size=(24, 20)):
    """A JPEG whose bytes differ from every other photo's (no accidental identical files)."""
    n = next(_colours)
    return write_image(path, color=(n % 251, n * 7 % 253, n * 13 % 241), size=size)


def tree(root, classes=("dress", "hat"), per_class=6, splits=("",)):
    for split, name in itertools.product(splits, classes):
        for i in range(per_class):
            photo(root / split / name / f"{name}{i}.jpg")
    return root


def issues(labels) -> dict[str, str]:
    return dict(zip(labels.report["path"], labels.report["issue"], strict=True))


def notes(labels) -> str:
    return "\n".join(labels.notes)


def test_a_name_that_is_not_utf8_is_skipped_by_name_with_and_without_the_check(tmp_path, capsys):
    root = tree(tmp_path / "p")
    os.rename(photo(root / "hat" / "x.jpg"), os.fsencode(root / "hat") + b"/caf\xe9.jpg")
    os.makedirs(os.fsencode(root) + b"/b\xe9ret")
    os.rename(photo(tmp_path / "x.jpg"), os.fsencode(root) + b"/b\xe9ret/1.jpg")
    for flags in ([], ["--no-check"]):
        out = tmp_path / "labels.csv"
        report = tmp_path / "report.csv"
        args = [str(root), "--dataset", "folders", "--out", str(out), "--report", str(report)]
        assert main(args + flags) == 0
        assert len(pd.read_csv(out)) == 12
        skipped = pd.read_csv(report).set_index("path")["issue"]
        assert skipped["hat/caf\\xe9.jpg"] == "bad-file-name"
        assert skipped["b\\xe9ret"] == "bad-file-name"
    assert "hat/caf\\xe9.jpg" in capsys.readouterr().out


def test_a_1x1_image_is_skipped_and_the_sample_grid_draws_one_anyway(tmp_path):
    from helpers import plots

    root = tree(tmp_path / "p")
    photo(root / "hat" / "dot.jpg", size=(1, 1))
    assert issues(label_folders(root))["hat/dot.jpg"] == "too-small"
    unchecked = label_folders(root, check_files=False)
    unchecked.table["split"] = "train"  # the 1x1 image among those drawn
    figure = plots.sample_grid(unchecked, per_class=7)
    assert sum(len(ax.images) for ax in figure.axes) == 13


def test_a_cap_below_the_class_count_keeps_rows_and_names_what_it_emptied(tmp_path):
    from helpers import plots

    labels = label_dataset("folders", tree(tmp_path / "p", [f"c{i:03d}" for i in range(200)], 1))
    assert "no val/test images for 200 class(es)" in notes(labels)
    assert "'c000', 'c001'" in notes(labels) and "and 170 more" in notes(labels)
    capped = cap_images(labels, 60)
    assert len(capped.table) == 60 and len(capped.classes) == 60
    assert "no train/val/test images for 140 class(es) (the max_images cap of 60" in notes(capped)
    plots.class_distribution(capped)
    plots.class_distribution(capped.__class__(capped.table.iloc[:0], []))
    plots.sample_grid(capped.__class__(capped.table.iloc[:0], []))


def test_a_cap_that_takes_a_rare_class_out_of_val_and_test_says_so(tmp_path):
    root = tree(tmp_path / "p", ["common"], 40, ("train", "val", "test"))
    tree(root, ["rare"], 1, ("train", "val", "test"))
    labels = label_folders(root)
    assert "rare" not in notes(labels)
    capped = cap_images(labels, 30)
    assert len(capped.table) == 30
    assert "(the max_images cap of 30 left none): 'rare'" in notes(capped)


def test_class_names_differing_in_case_or_spaces_merge_with_a_note(tmp_path):
    root = tree(tmp_path / "p", ["hat", "hat ", "Shirt", "shirt"], 4)
    photo(root / "Shirt" / "extra.jpg")
    labels = label_folders(root)
    assert labels.classes == ["Shirt", "hat"]
    assert labels.counts()["total"].tolist() == [9, 8]
    assert "'hat' + 'hat ' -> 'hat'" in notes(labels)
    assert "'Shirt' + 'shirt' -> 'Shirt'" in notes(labels)


def test_a_class_only_in_test_is_named(tmp_path):
    root = tree(tmp_path / "p", splits=("train", "val", "test"), per_class=2)
    tree(root / "test", ["scarf"], 2)
    labels = label_dataset("folders", root)
    assert "no train/val images for 1 class(es)" in notes(labels)
    assert notes(labels).endswith("'scarf'")


def test_a_link_to_a_class_folder_beside_it_is_not_a_second_class(tmp_path):
    root = tree(tmp_path / "p")
    (root / "dress_alias").symlink_to("dress")
    labels = label_folders(root)
    assert labels.classes == ["dress", "hat"] and len(labels.table) == 12
    assert issues(labels)["dress_alias"] == "duplicate-folder"


def test_identical_bytes_across_splits_are_reported(tmp_path):
    root = tree(tmp_path / "p", splits=("train", "val", "test"), per_class=2)
    for split in ("train", "val", "test"):
        write_image(root / split / "hat" / "same.jpg", color=(1, 2, 3))
    labels = label_folders(root)
    found = labels.report[labels.report["issue"] == "identical-file"]
    assert sorted(found["path"]) == ["train/hat/same.jpg", "val/hat/same.jpg"]
    assert (found["detail"] == "same bytes as test/hat/same.jpg (test/hat)").all()
    assert "2 files repeat another's bytes, 2 of them in another split" in notes(labels)
    assert "identical" not in notes(label_folders(tree(tmp_path / "clean")))


def test_min_images_drops_small_folder_classes_by_name(tmp_path, capsys):
    root = tree(tmp_path / "p")
    tree(root, ["scarf"], 2)
    labels = label_dataset("folders", root, min_images=3)
    assert labels.classes == ["dress", "hat"]
    rare = labels.report[labels.report["issue"] == "rare-class"]["detail"].tolist()
    assert rare == ["'scarf' has 2 images, fewer than 3"]
    out = tmp_path / "labels.csv"
    assert main([str(root), "--dataset", "folders", "--out", str(out), "--min-images", "3"]) == 0
    assert set(pd.read_csv(out)["label"]) == {"dress", "hat"}


def test_a_groups_csv_with_clashing_or_unknown_ids_is_refused_by_name(tmp_path, capsys):
    root = tree(tmp_path / "p", per_class=4)
    clash = tmp_path / "clash.csv"
    clash.write_text("image,sender_id\nhat0,a\nhat0,b\nhat1,a\nhat1,a\ndress1,c\n")
    with pytest.raises(
        AnnotationError, match=r"clash.csv: ids listed with different groups: hat0$"
    ):
        label_folders(root, groups=clash)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("image,sender_id\nzz1,a\nzz2,b\n")
    out = str(tmp_path / "labels.csv")
    assert main([str(root), "--dataset", "folders", "--groups", str(unknown), "--out", out]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {unknown}: none of its 2 ids is a photo's file name or relative path"
    )
    some = tmp_path / "some.csv"
    some.write_text("image,sender_id\nhat0,a\nhat1,a\n")
    assert "6 of 8 photos are not in" in notes(label_folders(root, groups=some))
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("image;sender_id\nhat0;a\n")
    with pytest.raises(AnnotationError, match="missing columns.*delimiter looks like ';'"):
        label_folders(root, groups=semicolons)


def test_clothing_full_drops_non_classes_in_any_case_and_merges_label_case(tmp_path):
    root = tmp_path / "full"
    rows = [("n1", "Not Sure"), ("n2", "skip"), ("n3", "OTHER"), ("p1", "Pants"), ("p2", "Pants"),
            ("p3", "pants"), ("t1", "T-Shirt")]  # fmt: skip
    lines = ["image,sender_id,label,kids", *(f"{i},s{i},{label},False" for i, label in rows)]
    (root / "images").mkdir(parents=True)
    (root / "images.csv").write_text("\n".join(lines) + "\n")
    for image, _ in rows:
        photo(root / "images" / f"{image}.jpg")
    (root / "images.csv").write_text((root / "images.csv").read_text() + "f1,s,T-Shirt,False\n")
    os.mkfifo(root / "images" / "f1.jpg")
    labels = label_clothing_full(root)
    assert labels.classes == ["Pants", "T-Shirt"] and len(labels.table) == 4
    assert issues(labels)["images/f1.jpg"] == "not-a-regular-file"
    assert "not classes, dropped: 'Not Sure', 'OTHER', 'skip'" in notes(labels)
    assert "'Pants' + 'pants' -> 'Pants'" in notes(labels)


def test_links_fifos_and_hidden_folders_are_reported_once_with_their_own_reason(tmp_path):
    root = tree(tmp_path / "p")
    (root / ".cache").mkdir()
    (root / "outside").symlink_to(tmp_path)
    (root / "hat" / "loop_gone.jpg").symlink_to(tmp_path / "nowhere" / "loop")
    (root / "hat" / "a.jpg").symlink_to("b.jpg")
    (root / "hat" / "b.jpg").symlink_to("a.jpg")
    os.mkfifo(root / "hat" / "pipe.jpg")
    labels = label_folders(root)
    assert len(labels.table) == 12
    assert labels.report["path"].value_counts().max() == 1
    assert issues(labels) == {
        ".cache": "hidden-file",
        "outside": "outside-data-folder",
        "hat/a.jpg": "symlink-loop",
        "hat/b.jpg": "symlink-loop",
        "hat/loop_gone.jpg": "broken-link",
        "hat/pipe.jpg": "not-a-regular-file",
    }

    def blocked(*_):
        raise TimeoutError("the FIFO was opened")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(30)  # a reader that opened the FIFO would block here
    try:
        assert check_image(root / "hat" / "pipe.jpg").problem == "not-a-regular-file"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
