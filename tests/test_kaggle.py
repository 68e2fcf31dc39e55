"""Kaggle adapters: Fashion Product Images (Small) and clothing-dataset-full."""

from __future__ import annotations

import pytest

from helpers.data.kaggle import label_clothing_full, label_product_images, read_styles
from helpers.data.labelset import Report


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
    with pytest.raises(FileNotFoundError, match="images_compressed"):
        label_clothing_full(tmp_path)
