"""Real photographs: folder-per-class trees, the clothing dataset as published, the embedded
photo sample, and phone photos that stand upright."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fixtures import make_clothing_full, write_image
from PIL import Image, ImageOps

from helpers import images
from helpers.data.deepfashion import label_deepfashion
from helpers.data.folders import label_folders
from helpers.data.kaggle import label_clothing_full
from helpers.data.photos import CLASSES, PHOTOS_DIR, read_pool
from helpers.data.sample import SOURCES, SOURCES_COLUMNS, tree_digest, write_sample
from helpers.data.splits import groups_in_several_splits
from helpers.errors import InputError


def _class_tree(root, classes=("dress", "pants", "shirt"), per_class=12, splits=None):
    """``root/[split/]class/img_N.jpg`` with distinct colours per class."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            split = splits[i % len(splits)] if splits else ""
            write_image(root / split / name / f"{name}{i:03d}.jpg", color=(40 * c, 200, 10 * i))
    return root


def test_flat_class_folders_are_split_stratified(tmp_path):
    root = _class_tree(tmp_path / "photos")
    (root / "notes.txt").write_text("not a photo")
    labels = label_folders(root)
    assert labels.classes == ["dress", "pants", "shirt"]
    assert len(labels.table) == 36
    counts = labels.counts()
    assert (counts[["train", "val", "test"]] > 0).all().all()
    assert labels.table.loc[0, "path"] == "dress/dress000.jpg"
    assert "image by image" in " ".join(labels.notes)
    assert labels.report.set_index("path").loc["notes.txt", "issue"] == "stray-file"


def test_split_folders_give_the_split_whatever_their_case(tmp_path):
    root = _class_tree(tmp_path / "p", splits=["Train", "VALID", "test"])
    labels = label_folders(root)
    by_name = labels.table.set_index("path")["split"]
    assert by_name["Train/dress/dress000.jpg"] == "train"
    assert by_name["VALID/dress/dress001.jpg"] == "val"
    assert by_name["test/dress/dress002.jpg"] == "test"
    with pytest.raises(InputError, match="no train/validation/test folders"):
        label_folders(_class_tree(tmp_path / "flat"), split="official")


def test_train_and_test_only_gets_a_validation_split_carved_from_train(tmp_path):
    root = _class_tree(tmp_path / "p", per_class=20, splits=["train", "train", "train", "test"])
    labels = label_folders(root)
    table = labels.table
    carved = table[table["split"] == "val"]
    assert len(carved) > 0 and carved["path"].str.startswith("train/").all()
    assert (table.loc[table["path"].str.startswith("test/"), "split"] == "test").all()
    assert any("no validation folder" in note for note in labels.notes)


def test_messy_trees_are_reported_not_guessed(tmp_path):
    root = _class_tree(tmp_path / "p", splits=["train", "val", "test"])
    write_image(root / "train" / "dress" / "deeper" / "x.jpg")
    write_image(root / "train" / ".hidden.jpg")
    write_image(root / "train" / "loose.jpg")
    (root / "train" / "dress" / "readme.txt").write_text("hello")
    (root / "extra").mkdir()
    labels = label_folders(root)
    issues = labels.report.set_index("path")["issue"]
    assert issues["train/dress/deeper"] == "unexpected-subfolder"
    assert issues["train/.hidden.jpg"] == "hidden-file"
    assert issues["train/loose.jpg"] == "not-in-class-folder"
    assert issues["train/dress/readme.txt"] == "not-an-image"
    assert issues["extra"] == "not-a-split-folder"
    assert not labels.table["path"].str.contains("deeper|loose|readme").any()


def test_known_groups_keep_contributors_whole(tmp_path):
    root = _class_tree(tmp_path / "p", per_class=30)
    ids = [p.stem for p in sorted(root.rglob("*.jpg"))]
    senders = [f"s{i % 12}" for i in range(len(ids))]
    pd.DataFrame({"image": ids, "sender_id": senders}).to_csv(root / "images.csv", index=False)
    labels = label_folders(root)
    assert labels.table["group"].nunique() == 12
    assert groups_in_several_splits(labels.products(), labels.table["split"]) == []
    assert "grouped by 12 groups" in " ".join(labels.notes)


def test_folder_splits_with_groups_say_how_many_groups_span_them(tmp_path):
    root = _class_tree(tmp_path / "p", splits=["train", "validation", "test"])
    ids = [p.stem for p in sorted(root.rglob("*.jpg"))]
    table = pd.DataFrame({"image": ids, "sender_id": ["one", "two"] * (len(ids) // 2)})
    table.to_csv(tmp_path / "senders.csv", index=False)
    labels = label_folders(root, groups=tmp_path / "senders.csv")
    assert any(note.startswith("2 of 2 groups") for note in labels.notes)
    grouped = label_folders(root, groups=tmp_path / "senders.csv", split="grouped")
    assert groups_in_several_splits(grouped.products(), grouped.table["split"]) == []


def test_clothing_full_as_published_on_github_groups_by_sender(tmp_path):
    root = make_clothing_full(tmp_path / "full", folder="images")
    labels = label_clothing_full(root)
    assert labels.table["path"].str.startswith("images/").all()
    assert groups_in_several_splits(labels.table["group"], labels.table["split"]) == []
    # a1 and a2 share sender 101: always the same split
    by_path = labels.table.set_index("path")
    assert by_path.loc["images/a1.jpg", "split"] == by_path.loc["images/a2.jpg", "split"]
    assert "contributors" in labels.notes[0]


def test_clothing_full_many_senders_never_span_splits(tmp_path):
    root = tmp_path / "full"
    (root / "images").mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(0)
    for i in range(120):
        sender = int(rng.integers(0, 25))
        label = ["Pants", "T-Shirt", "Dress"][i % 3]
        rows.append(f"p{i},{sender},{label},False")
        write_image(root / "images" / f"p{i}.jpg", color=(i, 2 * i % 255, 90))
    (root / "images.csv").write_text("image,sender_id,label,kids\n" + "\n".join(rows) + "\n")
    labels = label_clothing_full(root)
    assert set(labels.table["split"]) == {"train", "val", "test"}
    assert groups_in_several_splits(labels.table["group"], labels.table["split"]) == []


def test_embedded_photos_are_real_whole_and_credited():
    pool = read_pool()
    assert len(pool) > 2000 and set(pool["label"]) == {label for label, _ in CLASSES.values()}
    assert (PHOTOS_DIR / "LICENSE").read_text().startswith("CC0") or "CC0" in (
        PHOTOS_DIR / "LICENSE"
    ).read_text()
    total = sum(p.stat().st_size for p in PHOTOS_DIR.rglob("*.jpg"))
    assert total <= 40_000_000
    first = images.read_image(PHOTOS_DIR / pool["file"].iloc[0])
    assert max(first.shape[:2]) == 300 and first.shape[2] == 3 and first.std() > 10


@pytest.fixture(scope="module")
def photo_sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("s") / "sample", images=120, seed=3)


def test_photo_sample_is_deepfashion_layout_grouped_by_contributor(photo_sample):
    labels = label_deepfashion(photo_sample)
    assert labels.report.empty, labels.report
    by_folder = label_deepfashion(photo_sample, source="folders").table.set_index("path")["label"]
    assert by_folder.sort_index().equals(labels.table.set_index("path")["label"].sort_index())
    sources = pd.read_csv(photo_sample / SOURCES, dtype=str)
    assert list(sources.columns) == SOURCES_COLUMNS
    assert set(sources["file"]) == set(labels.table["path"])
    assert (sources["licence"] == "CC0-1.0").all()
    joined = labels.table.merge(sources, left_on="path", right_on="file")
    assert (joined["label"] == joined["source_class"]).all()
    assert groups_in_several_splits(joined["contributor"], joined["split"]) == []
    folders = joined["path"].str.split("/").str[1]
    assert (joined.groupby(folders)["contributor"].nunique() == 1).all()  # one contributor a folder
    assert (photo_sample / "LICENSE").is_file()


def test_photo_sample_same_seed_same_bytes(photo_sample, tmp_path):
    assert tree_digest(write_sample(tmp_path / "a", images=120, seed=3)) == tree_digest(
        photo_sample
    )
    assert tree_digest(write_sample(tmp_path / "b", images=120, seed=4)) != tree_digest(
        photo_sample
    )


def _rotated_jpeg(orientation: int, big_endian: bool = False) -> tuple[bytes, np.ndarray]:
    """A landscape JPEG whose EXIF tag asks for ``orientation``, and PIL's upright reading."""
    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 255, (48, 64, 3)).astype(np.uint8)
    pixels[:12, :16] = 255
    buffer = io.BytesIO()
    if big_endian:  # written by hand: PIL writes little-endian EXIF only
        entry = bytes.fromhex("0112 0003 00000001") + orientation.to_bytes(2, "big") + b"\0\0"
        tiff = b"MM\x00\x2a" + (8).to_bytes(4, "big") + (1).to_bytes(2, "big") + entry + b"\0" * 4
        Image.fromarray(pixels).save(buffer, "JPEG", quality=95, exif=b"Exif\0\0" + tiff)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(pixels).save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    data = buffer.getvalue()
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    return data, upright


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pil_does(orientation):
    data, upright = _rotated_jpeg(orientation)
    got = images.read_image(data)
    assert got.shape == upright.shape
    assert np.abs(got.astype(int) - upright).max() <= 1


def test_big_endian_exif_and_a_sideways_phone_photo_on_disk(tmp_path):
    data, upright = _rotated_jpeg(6, big_endian=True)
    assert upright.shape[:2] == (64, 48)  # landscape pixels, portrait photo
    path = tmp_path / "phone.jpg"
    path.write_bytes(data)
    assert images.read_image(path).shape[:2] == (64, 48)
    resized = images.read_image(path, size=32)
    assert (
        np.abs(
            resized.astype(int) - images.read_image(upright_path(tmp_path, upright), size=32)
        ).mean()
        < 3
    )


def upright_path(tmp_path, pixels):
    path = tmp_path / "upright.png"
    Image.fromarray(pixels).save(path)
    return path


def test_large_shrinks_are_alias_free_and_close_to_antialiased_resize():
    import tensorflow as tf

    stripes = np.zeros((400, 533, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: plain bilinear aliases them into bands
    area = images.resize(tf.constant(stripes), 256).numpy().astype(float)
    smooth = tf.image.resize(stripes, (256, 256), antialias=True).numpy()
    plain = tf.image.resize(stripes, (256, 256)).numpy()
    assert area.std() < 20  # a flat grey, as an antialiased resize gives
    assert np.abs(area - smooth).mean() < 10 < np.abs(plain - smooth).mean()


def test_image_data_generator_reads_phone_photos_upright_as_tf_data_does(tmp_path):
    from helpers.loading.augment import image_data_generator

    data, _ = _rotated_jpeg(8)
    path = tmp_path / "phone.jpg"
    path.write_bytes(data)
    frame = pd.DataFrame({"path": [str(path)], "label": ["a"]})
    flow = image_data_generator().flow_from_dataframe(
        frame, x_col="path", y_col="label", target_size=(64, 48), shuffle=False, batch_size=1
    )
    batch = next(iter(flow))[0][0] * 255
    ours = images.read_image(path).astype(float)
    assert batch.shape == ours.shape == (64, 48, 3)
    assert np.abs(batch - ours).mean() < 2
    import keras

    assert not getattr(keras.utils.load_img, "upright", False)  # Keras' own reader untouched
