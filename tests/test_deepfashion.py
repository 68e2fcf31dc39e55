"""DeepFashion labels: folder names, official annotations, every bad-file case, splits."""

from __future__ import annotations

import pandas as pd
import pytest
from fixtures import (
    CMYK,
    DISAGREES,
    DS_STORE,
    EMPTY,
    EMPTY_FOLDER,
    GOOD,
    GRAYSCALE,
    MISSING,
    NO_UNDERSCORE,
    NOT_IMAGE,
    RGBA,
    STRAY,
    TRUNCATED,
    make_deepfashion_tree,
)
from PIL import Image

from helpers.data.deepfashion import folder_label, label_deepfashion
from helpers.data.splits import groups_in_several_splits
from helpers.errors import AnnotationError, InputError


@pytest.mark.parametrize(
    ("folder", "label"),
    [
        ("Reindeer_Pattern_Sweater", "Sweater"),
        ("Sheer_Pleated-Front_Blouse", "Blouse"),
        ("Lace_Swing_Tank", "Tank"),
        ("Cotton_Oxford_Button-Down", "Button-Down"),
        ("Faux-Fur_Hooded_Coat", "Coat"),
        ("Dress", None),
        ("Trailing_", None),
    ],
)
def test_folder_label_is_text_after_last_underscore(folder, label):
    assert folder_label(folder) == label


def issues_of(report: pd.DataFrame, path: str) -> set[str]:
    return set(report.loc[report["path"] == path, "issue"])


def test_folder_source_labels_and_skips_every_bad_file(deepfashion_tree):
    labels = label_deepfashion(deepfashion_tree, source="folders", split="grouped")
    table = labels.table.set_index("path")
    for rel, label in GOOD:
        assert table.loc[rel, "label"] == label
    # Converted, not skipped, and labelled from their folders.
    assert table.loc[GRAYSCALE, "label"] == "Blouse"
    assert table.loc[CMYK, "label"] == "Button-Down"
    assert table.loc[RGBA, "label"] == "Tank"
    report = labels.report
    assert issues_of(report, GRAYSCALE) == {"converted-to-rgb"}
    assert issues_of(report, CMYK) == {"converted-to-rgb"}
    assert "CMYK" in report.loc[report["path"] == CMYK, "detail"].item()
    expected_skips = {
        EMPTY: "empty-file",
        NOT_IMAGE: "not-an-image",
        TRUNCATED: "corrupt-image",
        DS_STORE: "hidden-file",
        NO_UNDERSCORE: "no-category-in-folder-name",
        EMPTY_FOLDER: "empty-folder",
        STRAY: "not-in-product-folder",
        "img/.hidden_folder": "hidden-file",
    }
    for path, issue in expected_skips.items():
        assert issue in issues_of(report, path), path
        assert path not in table.index
        assert (report.loc[report["path"] == path, "action"] == "skipped").all()
    assert len(table) == len(GOOD) + 3
    assert labels.classes == ["Blouse", "Button-Down", "Sweater", "Tank"]  # official id order


def test_annotation_source_uses_official_labels_and_reports_disagreements(deepfashion_tree):
    labels = label_deepfashion(deepfashion_tree, source="annotations")
    table = labels.table.set_index("path")
    assert table.loc[DISAGREES, "label"] == "Cardigan"
    row = labels.report[labels.report["issue"] == "label-disagreement"]
    assert row["path"].tolist() == [DISAGREES]
    assert "folder says Sweater, annotation says Cardigan" in row["detail"].item()
    assert issues_of(labels.report, MISSING) == {"missing-file"}
    mismatch = labels.report[labels.report["issue"] == "count-mismatch"]
    assert mismatch["path"].tolist() == ["Anno/list_category_img.txt"]
    assert "count line says 16, found 15 rows" in mismatch["detail"].item()
    # The folder without an underscore is not annotated: skipped in annotation mode.
    assert NO_UNDERSCORE not in table.index


def test_folder_source_still_reports_disagreement_but_keeps_folder_label(deepfashion_tree):
    labels = label_deepfashion(deepfashion_tree, source="folders")
    assert labels.table.set_index("path").loc[DISAGREES, "label"] == "Sweater"
    assert DISAGREES in set(
        labels.report.loc[labels.report["issue"] == "label-disagreement", "path"]
    )


def test_auto_source_picks_annotations_when_present(deepfashion_tree, tmp_path):
    assert (
        label_deepfashion(deepfashion_tree).table.set_index("path").loc[DISAGREES, "label"]
        == "Cardigan"
    )
    bare = make_deepfashion_tree(tmp_path / "bare", annotations=False, partition=False)
    assert label_deepfashion(bare).table.set_index("path").loc[DISAGREES, "label"] == "Sweater"


def test_official_partition_is_used_when_present(deepfashion_tree):
    table = label_deepfashion(deepfashion_tree).table.set_index("path")
    assert table.loc["img/Lace_Swing_Tank/img_00000001.jpg", "split"] == "test"
    assert table.loc["img/Cotton_Oxford_Button-Down/img_00000002.jpg", "split"] == "val"


def test_official_partition_leak_is_reported(deepfashion_tree):
    path = deepfashion_tree / "Eval/list_eval_partition.txt"
    moved = "img/Reindeer_Pattern_Sweater/img_00000002.jpg"
    lines = [
        f"{moved}  test" if line.startswith(moved) else line
        for line in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")
    labels = label_deepfashion(deepfashion_tree)
    leaks = labels.report[labels.report["issue"] == "product-in-several-splits"]
    assert leaks["path"].tolist() == ["img/Reindeer_Pattern_Sweater"]


def test_grouped_split_never_puts_a_product_in_two_splits(tmp_path):
    root = tmp_path / "many"
    from fixtures import write_image

    for product in range(40):
        for image in range(1, 4 + product % 3):
            write_image(
                root
                / f"img/Item{product}_Pattern_{['Tee', 'Dress'][product % 2]}/img_{image:08d}.jpg"
            )
    labels = label_deepfashion(root, split="grouped", seed=3)
    products = labels.table["path"].str.rsplit("/", n=1).str[0]
    assert groups_in_several_splits(products, labels.table["split"]) == []
    assert set(labels.table["split"]) == {"train", "val", "test"}
    again = label_deepfashion(root, split="grouped", seed=3)
    pd.testing.assert_frame_equal(labels.table, again.table)


def test_bad_category_id_and_bad_split_rows_are_reported_with_line_numbers(deepfashion_tree):
    anno = deepfashion_tree / "Anno/list_category_img.txt"
    anno.write_text(anno.read_text() + "img/Lace_Swing_Tank/img_00000003.jpg   77\n")
    part = deepfashion_tree / "Eval/list_eval_partition.txt"
    part.write_text(part.read_text() + "img/Lace_Swing_Tank/img_00000002.jpg   holdout\n")
    labels = label_deepfashion(deepfashion_tree)
    bad = labels.report[labels.report["issue"] == "bad-row"]
    assert any(
        p.startswith("Anno/list_category_img.txt:") and "77" in d
        for p, d in zip(bad["path"], bad["detail"], strict=False)
    )
    assert any(
        p.startswith("Eval/list_eval_partition.txt:") and "holdout" in d
        for p, d in zip(bad["path"], bad["detail"], strict=False)
    )


def test_unreadable_count_line_refuses_the_file_by_name(deepfashion_tree):
    cloth = deepfashion_tree / "Anno/list_category_cloth.txt"
    cloth.write_text("fifty\n" + cloth.read_text().split("\n", 1)[1])
    with pytest.raises(AnnotationError, match="list_category_cloth.txt:1"):
        label_deepfashion(deepfashion_tree)


def test_missing_img_folder_names_the_folder(tmp_path):
    with pytest.raises(InputError, match=str(tmp_path)):
        label_deepfashion(tmp_path)


# --- The official layouts -------------------------------------------------------------------


def current_layout(root):
    """The tiny tree moved into the current download's layout: Anno_coarse/, Eval/, Img/img/."""
    import shutil

    tree = make_deepfashion_tree(root / "build")
    (root / "download" / "Img").mkdir(parents=True)
    shutil.move(tree / "img", root / "download" / "Img" / "img")
    shutil.move(tree / "Anno", root / "download" / "Anno_coarse")
    shutil.move(tree / "Eval", root / "download" / "Eval")
    (root / "download" / "Anno_fine").mkdir()
    return root / "download"


@pytest.mark.parametrize("pointed_at", ["", "Img", "Img/img"])
def test_the_current_download_is_recognised_from_its_root_or_image_folders(tmp_path, pointed_at):
    download = current_layout(tmp_path)
    labels = label_deepfashion(download / pointed_at)
    assert labels.root == download / "Img"
    assert "current layout" in labels.notes[0] and "Anno_coarse/" in labels.notes[0]
    table = labels.table.set_index("path")
    assert table.loc[DISAGREES, "label"] == "Cardigan"  # the annotations, not the folder names
    assert table.loc["img/Lace_Swing_Tank/img_00000001.jpg", "split"] == "test"  # official split


def test_the_older_layout_is_recognised_from_its_img_folder(deepfashion_tree):
    labels = label_deepfashion(deepfashion_tree / "img")
    assert labels.root == deepfashion_tree and "older layout" in labels.notes[0]


def test_a_still_zipped_download_says_how_to_unpack_it(tmp_path):
    (tmp_path / "Img").mkdir()
    (tmp_path / "Img" / "img.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    with pytest.raises(InputError) as refused:
        label_deepfashion(tmp_path)
    assert "img.zip: the images are still zipped" in str(refused.value)
    assert "unzip -q img.zip" in str(refused.value)


def test_the_fullsize_generator_writes_the_official_layout_and_counts(tmp_path, fashion_mnist_dir):
    from fixtures import load_bench

    fullsize = load_bench("fullsize")
    category_counts, write_fullsize = fullsize.category_counts, fullsize.write_fullsize

    counts = category_counts(289_222)
    assert counts["Dress"] == 72_158 and counts["Halter"] == 17 and counts["Cape"] == 0
    assert sum(counts.values()) == 289_222 and sum(v > 0 for v in counts.values()) == 46
    root = write_fullsize(
        tmp_path / "full", images=600, distinct=20, fashion_mnist_dir=fashion_mnist_dir
    )
    labels = label_deepfashion(root)
    assert len(labels.table) == 600 and labels.root == root / "Img"
    shares = labels.table["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 209_222 / 289_222) < 0.01
    assert labels.classes[0] == "Anorak" or labels.classes[0] == "Blazer"  # official id order
    with Image.open(next((root / "Img/img").rglob("*.jpg"))) as image:
        assert max(image.size) == 300


# --- Label hygiene ----------------------------------------------------------------------------


def test_folder_suffixes_that_differ_in_case_or_spaces_are_one_class(tmp_path):
    from fixtures import write_image

    for folder in ("A_Tee", "B_tee", "C_TEE", "D_Tee ", "E_Blah", "F_blah", "G_BLAH", "H_blah"):
        write_image(tmp_path / "img" / folder / "img_00000001.jpg")
    labels = label_deepfashion(tmp_path, split="grouped")
    assert labels.classes == ["Tee", "blah"]  # the official spelling; else the commonest one
    normalised = labels.report[labels.report["issue"] == "label-normalised"]
    assert sorted(normalised["path"]) == [
        "img/B_tee",
        "img/C_TEE",
        "img/D_Tee ",
        "img/E_Blah",
        "img/G_BLAH",
    ]
    assert "folder suffix 'TEE' read as 'Tee'" in normalised["detail"].tolist()


def test_duplicated_categories_and_rows_are_reported_and_conflicts_skipped(deepfashion_tree):
    cloth = deepfashion_tree / "Anno/list_category_cloth.txt"
    cloth.write_text(cloth.read_text() + "tee                 1\n")  # id 51 repeats Tee
    anno = deepfashion_tree / "Anno/list_category_img.txt"
    extra = [
        "img/Lace_Swing_Tank/img_00000001.jpg   17",  # repeats its own row: same category
        "img/Lace_Swing_Tank/img_00000002.jpg   3",  # Tank on one line, Blouse on another
        "img/Lace_Swing_Tank/img_00000003.jpg   51",  # the duplicate id: means Tee
        "../../etc/passwd   17",
    ]
    anno.write_text(anno.read_text() + "\n".join(extra) + "\n")
    labels = label_deepfashion(deepfashion_tree)
    table, report = labels.table.set_index("path"), labels.report
    assert "duplicate-category" in set(report["issue"])
    assert "img/Lace_Swing_Tank/img_00000002.jpg" not in table.index
    assert issues_of(report, "img/Lace_Swing_Tank/img_00000002.jpg") == {"conflicting-labels"}
    assert "duplicate-row" in set(report["issue"])
    assert "outside-data-folder" in set(report["issue"])
    assert labels.classes.count("Tee") <= 1


def test_a_byte_order_mark_is_fine_and_other_encodings_are_refused(deepfashion_tree):
    anno = deepfashion_tree / "Anno/list_category_img.txt"
    anno.write_bytes(b"\xef\xbb\xbf" + anno.read_bytes())
    assert len(label_deepfashion(deepfashion_tree).table) > 0
    cloth = deepfashion_tree / "Anno/list_category_cloth.txt"
    cloth.write_bytes(cloth.read_bytes().replace(b"Blouse", "Blousé".encode("latin-1")))
    with pytest.raises(AnnotationError) as refused:
        label_deepfashion(deepfashion_tree)
    assert "list_category_cloth.txt:" in str(refused.value) and "byte 0xe9" in str(refused.value)


def test_links_that_loop_or_leave_the_data_folder_are_skipped(deepfashion_tree, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes((deepfashion_tree / GOOD[0][0]).read_bytes())
    product = deepfashion_tree / "img/Reindeer_Pattern_Sweater"
    (product / "img_00000007.jpg").symlink_to(outside / "secret.jpg")
    (deepfashion_tree / "img/Linked_Outside_Dress").symlink_to(outside)
    (product / "loop.jpg").symlink_to(product / "loop.jpg")
    shelf = deepfashion_tree / "shelf"  # inside the data folder, outside img/: followed
    shelf.mkdir()
    (shelf / "img_00000001.jpg").write_bytes((deepfashion_tree / GOOD[-1][0]).read_bytes())
    (deepfashion_tree / "img/Inside_Link_Tee").symlink_to(shelf)
    (deepfashion_tree / "img/Second_Name_Tank").symlink_to("Lace_Swing_Tank")  # not a 2nd product
    labels = label_deepfashion(deepfashion_tree, source="folders", split="grouped")
    report = labels.report
    assert issues_of(report, "img/Reindeer_Pattern_Sweater/img_00000007.jpg") == {
        "outside-data-folder"
    }
    assert issues_of(report, "img/Linked_Outside_Dress") == {"outside-data-folder"}
    assert issues_of(report, "img/Reindeer_Pattern_Sweater/loop.jpg") == {"symlink-loop"}
    assert "img/Inside_Link_Tee/img_00000001.jpg" in set(labels.table["path"])
    assert issues_of(report, "img/Second_Name_Tank") == {"duplicate-folder"}
    assert not labels.table["path"].str.startswith("img/Second_Name_Tank").any()


def test_an_unreadable_product_folder_is_skipped_and_reported(deepfashion_tree, monkeypatch):
    import os

    real = os.scandir
    locked = str(deepfashion_tree / "img/Lace_Swing_Tank")

    def scandir(path):
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(
        os, "scandir", scandir
    )  # root can read everything: simulate a locked folder
    labels = label_deepfashion(deepfashion_tree, source="folders", split="grouped")
    assert issues_of(labels.report, "img/Lace_Swing_Tank") == {"unreadable-folder"}
    assert not labels.table["path"].str.startswith("img/Lace_Swing_Tank/").any()


def test_category_ids_without_their_list_use_the_official_one(deepfashion_tree):
    (deepfashion_tree / "Anno/list_category_cloth.txt").unlink()
    labels = label_deepfashion(deepfashion_tree)
    assert labels.table.set_index("path").loc[DISAGREES, "label"] == "Cardigan"
    assert "not found: the benchmark's official 50-category list" in " ".join(
        labels.report["detail"]
    )
