"""Loading: ImageDataGenerator and tf.data agree pixel for pixel; evaluation order is kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.data.fashion_mnist import fashion_mnist_labels
from helpers.data.labelset import LabelSet
from helpers.loading import (
    Augment,
    InputSpec,
    class_weights,
    generator_flow,
    split_arrays,
    split_batches,
    tf_batches,
)


def tf_dataset(labels, split, size, batch_size=32, cache="none", shuffle=None):
    """One pass of the tf.data batches (epoch 0)."""
    return tf_batches(InputSpec(labels, size, batch_size, cache=cache), split, shuffle).epoch(0)


@pytest.fixture(scope="module")
def photo_tree(tmp_path_factory) -> LabelSet:
    """JPEGs of several sizes and modes (to upscale and downscale), two classes, all splits."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    rows = []
    sizes = [
        (60, 40),
        (300, 200),
        (112, 112),
        (20, 30),
        (256, 256),
        (500, 333),
        (90, 120),
        (33, 47),
    ]
    for i, (w, h) in enumerate(sizes):
        yy, xx = np.mgrid[0:h, 0:w]
        pixels = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1) + rng.integers(
            0, 30, (h, w, 3)
        )
        label = ["Tee", "Dress"][i % 2]
        path = root / f"img/Item{i}_{label}/img_00000001.jpg"
        path.parent.mkdir(parents=True)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).convert(
            "L" if i == 2 else "RGB"
        ).save(path, quality=90)
        rows.append((path.relative_to(root).as_posix(), label, ["train", "test"][i % 4 == 3]))
    rows += [(r[0], r[1], "test") for r in rows if r[2] == "train"]  # test split holds every file
    table = pd.DataFrame(rows, columns=["path", "label", "split"]).drop_duplicates(
        "path", keep="last"
    )
    return LabelSet(table, ["Dress", "Tee"], root=root, dataset="deepfashion")


@pytest.mark.parametrize("size", [32, 256])
def test_tf_data_is_pixel_comparable_to_image_data_generator(photo_tree, size):
    flow = generator_flow(InputSpec(photo_tree, size, 4), "test")
    from_generator = np.concatenate([flow[i][0] for i in range(len(flow))])
    from_tf = np.concatenate(
        [x.numpy() for x, _ in tf_dataset(photo_tree, "test", size, batch_size=4)]
    )
    assert from_generator.shape == from_tf.shape == (len(photo_tree.split("test")), size, size, 3)
    difference = np.abs(from_generator - from_tf) * 255
    # Same JPEG decoder and DCT; PIL antialiases when shrinking, tf.data's bilinear does not.
    assert difference.max() <= 40 and difference.mean() < 2.0
    if size == 256:  # only the 300 and 500 px images shrink: the rest is within a grey level
        upscaled = [
            i
            for i, p in enumerate(photo_tree.split("test")["path"])
            if "Item1_" not in p and "Item5_" not in p
        ]
        assert difference[upscaled].max() <= 1.0 + 1e-4


@pytest.mark.parametrize("cache", ["none", "memory", "disk"])
def test_every_cache_mode_gives_the_same_images_in_order(photo_tree, cache, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOTHING_CACHE_DIR", str(tmp_path / "cache"))
    streamed = np.concatenate([x.numpy() for x, _ in tf_dataset(photo_tree, "test", 32, 3)])
    for epoch in range(2):  # a cache's first pass fills it, the second reads it
        batches = tf_batches(InputSpec(photo_tree, 32, 3, cache=cache), "test")
        cached = np.concatenate([x.numpy() for x, _ in batches.epoch(epoch)])
        np.testing.assert_array_equal(cached, streamed)
    assert batches.cache == cache


def test_disk_cache_is_written_once_and_reused(photo_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOTHING_CACHE_DIR", str(tmp_path / "cache"))
    tf_batches(InputSpec(photo_tree, 32, 2, cache="disk"), "test", shuffle=True)
    shards = sorted((tmp_path / "cache").rglob("shard-*.tfrecord"))
    assert len(shards) == 1 and (shards[0].parent / "manifest.json").exists()
    written = shards[0].stat().st_mtime_ns
    train = tf_batches(InputSpec(photo_tree, 32, 2, cache="disk"), "test", shuffle=True)  # reused
    assert shards[0].stat().st_mtime_ns == written
    epoch_labels = [
        np.concatenate([y.numpy().argmax(1) for _, y in train.epoch(e)]) for e in (0, 1)
    ]
    assert len(epoch_labels[0]) == len(photo_tree.split("test"))
    assert sorted(epoch_labels[0]) == sorted(epoch_labels[1])  # every image, every epoch
    tf_batches(InputSpec(photo_tree, 48, 2, cache="disk"), "test", shuffle=True)  # another cache
    assert len(list((tmp_path / "cache").rglob("manifest.json"))) == 2


def test_the_cache_setting_is_resolved_per_split_in_one_place(photo_tree, monkeypatch):
    from helpers.loading import pipeline, split_caches

    assert split_caches(photo_tree, 32, "disk") == dict.fromkeys(("train", "val", "test"), "disk")
    monkeypatch.setattr(pipeline, "memory_budget", lambda: 0)
    table = photo_tree.table
    labels = LabelSet(
        table.assign(split=[("train", "val", "test")[i % 3] for i in range(len(table))]),
        photo_tree.classes, root=photo_tree.root, dataset=photo_tree.dataset,
    )  # fmt: skip
    # nothing fits: train and val on disk, test streams, and one split alone gets the same
    assert split_caches(labels, 32) == {"train": "disk", "val": "disk", "test": "none"}
    assert tf_batches(InputSpec(labels, 32, 2, cache="auto"), "test").cache == "none"
    with pytest.raises(ValueError, match="cache must be one of"):
        split_caches(photo_tree, 32, "ram")


def test_auto_cache_shares_the_memory_budget_between_splits():
    from helpers.loading import plan_caches

    counts = {"train": 1000, "val": 100, "test": 100}
    one = 256 * 256 * 3
    assert plan_caches(counts, 256, 3, budget=10**12) == dict.fromkeys(counts, "memory")
    assert plan_caches(counts, 256, 3, budget=1050 * one) == {
        "train": "memory",
        "val": "disk",
        "test": "none",
    }
    assert plan_caches(counts, 256, 3, budget=150 * one) == {
        "train": "disk",
        "val": "memory",
        "test": "none",
    }


def test_training_batches_shuffle_paths_not_images(photo_tree):
    train = tf_batches(InputSpec(photo_tree, 32, 2, seed=3), "test", shuffle=True)
    epochs = [np.concatenate([y.numpy().argmax(1) for _, y in train.epoch(e)]) for e in range(2)]
    assert sorted(epochs[0]) == sorted(epochs[1])  # same images each epoch
    x, _ = next(iter(train.epoch(0)))
    assert x.dtype.name == "float32" and float(x.numpy().max()) <= 1.0


def test_evaluation_iterators_keep_table_order(photo_tree):
    test = photo_tree.split("test")
    expected = test["label"].map({"Dress": 0, "Tee": 1}).tolist()
    flow = generator_flow(InputSpec(photo_tree, 16, 3), "test")
    assert [p.split("/img/")[1] for p in flow.filenames] == [
        p.split("img/", 1)[1] for p in test["path"]
    ]
    assert np.concatenate([flow[i][1] for i in range(len(flow))]).argmax(1).tolist() == expected
    from_tf = np.concatenate(
        [y.numpy() for _, y in tf_dataset(photo_tree, "test", 16, batch_size=3)]
    )
    assert from_tf.argmax(1).tolist() == expected


def test_training_split_is_shuffled_by_default(photo_tree):
    assert generator_flow(InputSpec(photo_tree, 16), "train").shuffle
    assert not generator_flow(InputSpec(photo_tree, 16), "test").shuffle


def test_augmentation_changes_pixels_but_not_shapes(photo_tree):
    from helpers.loading import augmentation_layers

    augment = Augment(horizontal_flip=True, shift=0.1, rotation=15, zoom=0.1, shear=10)
    plain = next(iter(tf_dataset(photo_tree, "test", 32, batch_size=8)))[0].numpy()
    moved = np.asarray(augmentation_layers(augment, seed=1)(plain, training=True))
    assert plain.shape == moved.shape and not np.allclose(plain, moved)
    flow = generator_flow(InputSpec(photo_tree, 32, 8, augment=augment), "test")
    assert flow[0][0].shape == plain.shape
    batches = split_batches(
        InputSpec(photo_tree, 32, 8, loader="ImageDataGenerator", augment=augment)
    )
    assert batches["train"].augments and not batches["test"].augments


def test_class_weights_are_balanced_from_training_split():
    table = pd.DataFrame(
        {
            "path": list("abcdefgh"),
            "label": ["Tee"] * 6 + ["Dress"] * 2,
            "split": ["train"] * 6 + ["train", "test"],
        }
    )
    weights = class_weights(LabelSet(table, ["Dress", "Tee"]))
    # 7 training images, 2 classes: Dress 7 / (2 * 1) = 3.5, Tee 7 / (2 * 6).
    assert weights == pytest.approx({0: 3.5, 1: 7 / 12})


def test_fashion_mnist_arrays_follow_the_table(fashion_mnist_dir):
    labels = fashion_mnist_labels(fashion_mnist_dir)
    x, y = split_arrays(labels, "test")
    assert x.shape == (60, 28, 28, 1) and y[:3].tolist() == [0, 1, 2]
    batch = next(iter(tf_dataset(labels, "test", 28, batch_size=60)))
    assert batch[0].shape == (60, 28, 28, 1) and float(batch[0].numpy().max()) <= 1.0
    assert np.allclose(batch[0].numpy(), x / 255.0)


def test_compare_pipelines_reports_agreement(photo_tree):
    from helpers.loading import compare_pipelines

    summary = compare_pipelines(photo_tree, "test", 32, batch_size=4)
    assert summary["same labels in the same order"] is True
    # 300-500 px photos shrunk to 32: both filter out aliasing, tf.data with an area (box) filter,
    # PIL with a triangle one: they part on edges only.
    assert summary["max pixel difference (grey levels)"] <= 30.0
    assert summary["mean pixel difference (grey levels)"] <= 1.0


def test_every_augmentation_setting_adds_its_layer():
    from helpers.loading import augmentation_layers

    augment = Augment(horizontal_flip=True, shift=0.1, rotation=15, zoom=0.1, shear=10, erasing=1.0)
    kinds = [type(layer).__name__ for layer in augmentation_layers(augment).layers]
    assert kinds == [
        "RandomFlip",
        "RandomTranslation",
        "RandomRotation",
        "RandomZoom",
        "RandomShear",
        "RandomErasing",
    ]
    shear = augmentation_layers(Augment(shear=45)).layers[0]
    assert shear.x_factor == pytest.approx((-1.0, 1.0))  # 45 degrees: factor tan(45) = 1
    erased = augmentation_layers(Augment(erasing=1.0), seed=1)(
        np.ones((4, 28, 28, 1), "float32"), training=True
    )
    assert float(np.asarray(erased).min()) < 1.0  # some pixels were erased
