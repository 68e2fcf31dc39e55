"""Fashion-MNIST idx reading and lookup, and the DeepFashion-layout sample written from it."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from helpers.data import fashion_mnist
from helpers.data.deepfashion import OFFICIAL_CATEGORIES, folder_label, label_deepfashion
from helpers.data.fashion_mnist import (
    FashionMNISTNotFound,
    fashion_mnist_labels,
    load_fashion_mnist,
    read_idx,
)
from helpers.data.fashion_mnist_sample import CATEGORY_OF_CLASS
from helpers.data.fashion_mnist_sample import write_fashion_mnist_sample as write_sample
from helpers.data.sample import tree_digest
from helpers.data.splits import groups_in_several_splits


def test_load_reads_shapes_and_labels(fashion_mnist_dir):
    data = load_fashion_mnist(fashion_mnist_dir)
    assert data.x_train.shape == (240, 28, 28) and data.x_test.shape == (60, 28, 28)
    assert data.y_train[:3].tolist() == [0, 1, 2]
    assert data.x_train.dtype == np.uint8


def test_read_idx_names_a_bad_file(tmp_path):
    bad = tmp_path / "bad-images-idx3-ubyte.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"\x01\x02\x03\x04" + b"\x00" * 20)
    with pytest.raises(ValueError, match="bad-images-idx3-ubyte.gz"):
        read_idx(bad)


def test_read_idx_names_a_short_file(tmp_path):
    short = tmp_path / "short-labels-idx1-ubyte.gz"
    with gzip.open(short, "wb") as handle:
        handle.write(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + b"\x00" * 10)
    with pytest.raises(ValueError, match="short-labels-idx1-ubyte.gz: header promises 100"):
        read_idx(short)


def test_lookup_order_prefers_earlier_places(tmp_path, fashion_mnist_dir, monkeypatch):
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setattr(
        fashion_mnist, "SEARCH_PATH", [empty, fashion_mnist_dir, tmp_path / "later"]
    )
    assert fashion_mnist.find_fashion_mnist(download=False) == fashion_mnist_dir
    monkeypatch.setattr(fashion_mnist, "SEARCH_PATH", [empty])
    with pytest.raises(FashionMNISTNotFound, match="dataset-fashion-mnist"):
        fashion_mnist.find_fashion_mnist(download=False)
    with pytest.raises(FashionMNISTNotFound, match=str(empty)):
        fashion_mnist.find_fashion_mnist(empty)


def test_fashion_mnist_labels_keep_official_test_split(fashion_mnist_dir):
    labels = fashion_mnist_labels(fashion_mnist_dir, val_fraction=0.25)
    counts = labels.table["split"].value_counts()
    assert counts["test"] == 60 and counts["val"] == 60 and counts["train"] == 180
    assert labels.table["path"].iloc[0] == "train-images-idx3-ubyte.gz#0"
    assert labels.table["label"].iloc[1] == "Trouser"


@pytest.fixture(scope="module")
def sample(tmp_path_factory, fashion_mnist_dir):
    return write_sample(
        tmp_path_factory.mktemp("s") / "sample",
        images=120,
        seed=7,
        fashion_mnist_dir=fashion_mnist_dir,
        per_product=(3, 5),
    )


def test_sample_same_seed_same_bytes(sample, tmp_path, fashion_mnist_dir):
    again = write_sample(
        tmp_path / "again",
        images=120,
        seed=7,
        fashion_mnist_dir=fashion_mnist_dir,
        per_product=(3, 5),
    )
    assert tree_digest(again) == tree_digest(sample)
    other = write_sample(
        tmp_path / "other",
        images=120,
        seed=8,
        fashion_mnist_dir=fashion_mnist_dir,
        per_product=(3, 5),
    )
    assert tree_digest(other) != tree_digest(sample)


def test_sample_folder_labels_equal_annotation_labels(sample):
    by_folder = label_deepfashion(sample, source="folders").table.set_index("path")["label"]
    by_annotation = label_deepfashion(sample, source="annotations").table.set_index("path")["label"]
    assert len(by_folder) == 120
    assert by_folder.sort_index().equals(by_annotation.sort_index())
    report = label_deepfashion(sample).report
    assert report.empty, report


def test_sample_layout_and_formats(sample):
    lines = (sample / "Anno/list_category_cloth.txt").read_text().splitlines()
    assert lines[0] == "50" and lines[1].split() == ["category_name", "category_type"]
    assert [tuple(line.split()) for line in lines[2:]] == [
        (n, str(t)) for n, t in OFFICIAL_CATEGORIES
    ]
    img_lines = (sample / "Anno/list_category_img.txt").read_text().splitlines()
    assert int(img_lines[0]) == len(img_lines) - 2 == 120
    path, category = img_lines[2].split()
    assert path.startswith("img/") and path.endswith(".jpg") and (sample / path).is_file()
    assert OFFICIAL_CATEGORIES[int(category) - 1][0] == folder_label(path.split("/")[1])
    folders = [p.name for p in (sample / "img").iterdir()]
    assert len(folders) == len(set(folders)) and all(
        folder_label(f) in CATEGORY_OF_CLASS.values() for f in folders
    )
    assert all(len(list((sample / "img" / f).iterdir())) >= 3 for f in folders)


def test_sample_partition_is_grouped_by_product(sample):
    table = label_deepfashion(sample).table
    products = table["path"].str.rsplit("/", n=1).str[0]
    assert groups_in_several_splits(products, table["split"]) == []
    assert set(table["split"]) == {"train", "val", "test"}
