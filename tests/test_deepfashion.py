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

from helpers.data.deepfashion import AnnotationError, folder_label, label_deepfashion
from helpers.data.splits import groups_in_several_splits
from helpers.errors import InputError


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
