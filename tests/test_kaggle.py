"""Kaggle adapters: Fashion Product Images (Small) and clothing-dataset-full."""

from __future__ import annotations

import pytest

from helpers.data.kaggle import label_clothing_full, label_product_images, read_styles
from helpers.data.labelset import Report
from helpers.errors import AnnotationError


def test_product_images_joins_commas_in_display_names(product_images):
    styles = read_styles(product_images / "styles.csv", Report()).set_index("id")
    assert styles.loc["1002", "productDisplayName"] == "Puma Men, Women Blue T-shirt"
    assert styles.loc["1004", "productDisplayName"] == "Levis Women, Slim, Blue Jeans"
    assert styles.loc["1004", "articleType"] == "Jeans"
    labels = label_product_images(product_images)
    assert set(labels.table["path"]) >= {"images/1002.jpg", "images/1004.jpg"}
    assert labels.table.set_index("path").loc["images/1004.jpg", "label"] == "Jeans"


def test_product_images_reports_missing_and_short_rows(product_images):
    report = label_product_images(product_images).report
    assert report.loc[report["path"] == "images/1008.jpg", "issue"].item() == "missing-file"
    assert report.loc[report["issue"] == "bad-row", "path"].item() == "styles.csv:10"


def test_product_images_min_images_and_label_column(product_images):
    labels = label_product_images(product_images, min_images=2)
    assert labels.classes == ["Jeans", "Tshirts"]
    rare = labels.report[labels.report["issue"] == "rare-class"]
    assert "'Handbags' has 1 images" in rare["detail"].item()
    by_sub = label_product_images(product_images, label_column="subCategory")
    assert by_sub.classes == ["Bags", "Bottomwear", "Topwear"]
    with pytest.raises(ValueError, match="label_column"):
        label_product_images(product_images, label_column="productDisplayName")


def test_clothing_full_drops_unsure_labels_by_default(clothing_full):
    labels = label_clothing_full(clothing_full)
    assert labels.classes == ["Pants", "Shoes", "T-Shirt"]
    assert labels.table["path"].str.startswith("images_compressed/").all()
    dropped = labels.report[labels.report["issue"] == "dropped-label"]["detail"].tolist()
    assert dropped == [
        "1 rows labelled 'Not sure'",
        "1 rows labelled 'Other'",
        "1 rows labelled 'Skip'",
    ]
    assert (
        labels.report.loc[labels.report["issue"] == "missing-file", "path"].item()
        == "images_compressed/a10.jpg"
    )


def test_clothing_full_keeps_labels_when_asked_and_reads_originals(tmp_path):
    from fixtures import make_clothing_full

    root = make_clothing_full(tmp_path / "full", folder="images_original")
    labels = label_clothing_full(root, dropped_labels=("Skip",))
    assert "Not sure" in labels.classes and "Skip" not in labels.classes
    assert labels.table["path"].str.startswith("images_original/").all()


def test_clothing_full_without_image_folder_names_it(tmp_path):
    (tmp_path / "images.csv").write_text("image,sender_id,label,kids\n")
    with pytest.raises(AnnotationError, match="images_compressed"):
        label_clothing_full(tmp_path)


@pytest.mark.parametrize(
    "rows",
    [
        [],  # header only
        ["a1,101,,False", "a2,101,,False"],  # every label empty
        ["a5,104,Skip,False"],  # every label dropped
    ],
    ids=["header-only", "no-labels", "all-dropped"],
)
def test_clothing_full_with_nothing_usable_gives_an_empty_table(tmp_path, rows):
    (tmp_path / "images_compressed").mkdir()
    (tmp_path / "images.csv").write_text("\n".join(["image,sender_id,label,kids", *rows]) + "\n")
    labels = label_clothing_full(tmp_path)
    assert labels.table.empty and labels.classes == []


def test_clothing_full_picks_the_folder_that_holds_the_images(tmp_path):
    from fixtures import make_clothing_full

    root = make_clothing_full(tmp_path / "full", folder="images_original")
    (root / "images_compressed").mkdir()  # present but empty
    labels = label_clothing_full(root)
    assert labels.table["path"].str.startswith("images_original/").all() and len(labels.table) == 6
    assert "folder-chosen" in set(labels.report["issue"])


def test_unreadable_csvs_are_refused_naming_the_file(tmp_path):
    (tmp_path / "images_compressed").mkdir()
    (tmp_path / "images.csv").write_text(
        "image,sender_id,label,kids\na1,101,Pants,False\na2,1,Pants,False,x,y\n"
    )
    with pytest.raises(AnnotationError, match="images.csv: not a readable CSV"):
        label_clothing_full(tmp_path)
    (tmp_path / "images.csv").write_bytes(
        "image,sender_id,label,kids\na1,101,Robe de soir\xe9e,False\n".encode("latin-1")
    )
    with pytest.raises(AnnotationError, match=r"images.csv:2: not UTF-8 \(byte 0xe9"):
        label_clothing_full(tmp_path)
    (tmp_path / "images.csv").write_bytes(
        b"\xef\xbb\xbfimage,sender_id,label,kids\n"
    )  # a BOM is fine
    assert label_clothing_full(tmp_path).table.empty


def test_styles_rows_are_never_silently_shifted_and_ids_are_checked(product_images):
    from fixtures import STYLES_HEADER

    rows = [
        # An unquoted comma in subCategory shifts every column after it: skipped, not "Tshirts" -> "Topwear".
        "2001,Men,Apparel,Top,wear,Tshirts,Navy Blue,Fall,2011,Casual,Shifted Tee",
        "abc,Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,Not an id",
        "../styles,Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,Escaping id",
        "1001,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Same id same label",
        "1003,Women,Apparel,Bottomwear,Jeans,Red,Summer,2012,Casual,Same id other label",
    ]
    styles = product_images / "styles.csv"
    styles.write_text(styles.read_text() + "\n".join(rows) + "\n")
    labels = label_product_images(product_images)
    table = labels.table.set_index("path")
    assert "images/2001.jpg" not in table.index
    assert "images/1003.jpg" not in table.index  # two labels for one id: dropped, not guessed
    assert table.loc["images/1001.jpg", "label"] == "Tshirts"
    report = labels.report
    shifted = report[report["issue"] == "bad-row"]["detail"]
    assert shifted.str.contains("shifts the columns").any()
    assert set(report.loc[report["issue"] == "bad-id", "detail"]) == {
        "id 'abc' is not a number: not used as a path",
        "id '../styles' is not a number: not used as a path",
    }
    assert "conflicting-labels" in set(report["issue"]) and "duplicate-id" in set(report["issue"])
    assert STYLES_HEADER.startswith("id,")


def test_a_linked_image_outside_the_data_folder_is_not_read(clothing_full, tmp_path):
    outside = tmp_path / "elsewhere.jpg"
    (clothing_full / "images_compressed" / "a1.jpg").rename(outside)
    (clothing_full / "images_compressed" / "a1.jpg").symlink_to(outside)
    labels = label_clothing_full(clothing_full)
    assert "images_compressed/a1.jpg" not in set(labels.table["path"])
    assert "outside-data-folder" in set(labels.report["issue"])
