"""iPhone HEIC and web AVIF photos read like any JPEG (issue 30): one labels table from a folder
of mixed formats, upright, the same pixels on tf.data, ImageDataGenerator, predict, the figures
and the explorer's upload; a missing codec named with the package to install; and the command
line's stderr free of TensorFlow's and libjpeg's own lines."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures import truncated_jpeg
from PIL import Image

from helpers.data.checks import check_image
from helpers.data.labelset import LabelSet
from helpers.data.registry import kind_of
from helpers.images import model_input, read_header, read_image
from helpers.loading import InputSpec, generator_flow, tf_batches

ROOT = Path(__file__).resolve().parent.parent
SIZE = 16
FORMATS = {"heic": ("HEIF", {"quality": -1}), "avif": ("AVIF", {"quality": 100}),
           "jpg": ("JPEG", {"quality": 95}), "png": ("PNG", {}), "webp": ("WEBP", {"lossless": True})}  # fmt: skip
TURNED = Image.Exif()
TURNED[0x0112] = 6  # "rotate 90 degrees clockwise to view", as phones write it


def photo(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def encoded(pixels: np.ndarray, extension: str, turned: bool = False) -> bytes:
    fmt, options = FORMATS[extension]
    buffer = io.BytesIO()
    exif = {"exif": TURNED.tobytes()} if turned else {}
    Image.fromarray(pixels).save(buffer, format=fmt, **exif, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """hat/ and shirt/, each with one photo per format (HEIC and AVIF turned by EXIF), and a
    truncated JPEG in hat/."""
    root = tmp_path_factory.mktemp("phone-photos")
    for c, label in enumerate(["hat", "shirt"]):
        (root / label).mkdir()
        for i, extension in enumerate(FORMATS):
            data = encoded(photo(10 * c + i), extension, extension in {"heic", "avif"})
            (root / label / f"IMG_{i}.{extension.upper() if c else extension}").write_bytes(data)
    (root / "hat" / "cut.jpg").write_bytes(truncated_jpeg())
    return root


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CLOTHING_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def test_the_labels_command_keeps_every_photo_in_its_class_and_its_stderr_clean(tree, tmp_path):
    out = tmp_path / "labels.csv"
    done = subprocess.run(
        [sys.executable, "-m", "helpers.labels", str(tree), "--dataset", "folders", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=os.environ,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    photos = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("IMG_*"))
    assert sorted(table["path"]) == photos  # the user's own paths, .heic and .avif included
    assert (table["label"] == table["path"].str.split("/").str[0]).all()
    assert "cut.jpg" in done.stdout and "cannot decode (jpeg::Uncompress failed" in done.stdout
    noise = ("E0000", "jpeg_mem", "oneDNN", "Input file read error", "JPEG library")
    assert not [line for line in done.stderr.splitlines() if any(n in line for n in noise)]


def test_heic_and_avif_are_read_upright(tree, tmp_path):
    for extension in ("heic", "avif"):
        i = list(FORMATS).index(extension)
        level = tmp_path / f"level.{extension}"
        level.write_bytes(encoded(photo(i), extension))
        turned = tree / "hat" / f"IMG_{i}.{extension}"
        assert read_header(turned).format == FORMATS[extension][0]
        np.testing.assert_array_equal(read_image(turned), np.rot90(read_image(level), -1))


def test_every_path_sees_the_same_pixels(tree):
    paths = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("IMG_*"))
    assert all(check_image(tree / p).problem is None for p in paths)
    table = pd.DataFrame({"path": paths, "label": [p.split("/")[0] for p in paths]})
    labels = LabelSet(table.assign(split="test"), ["hat", "shirt"], root=tree, dataset="folders")
    reader = np.stack([read_image(tree / p) for p in paths])
    from_tf = np.concatenate(
        [x.numpy() for x, _ in tf_batches(InputSpec(labels, SIZE, 4), "test").epoch(0)]
    )
    from_generator = generator_flow(InputSpec(labels, SIZE, len(paths)), "test")[0][0]
    from_predict = np.stack([model_input(tree / p, (SIZE, SIZE, 3)) for p in paths])
    from_figures = np.stack([kind_of(labels).images.read(labels, p) for p in paths])
    from_upload = np.stack([read_image((tree / p).read_bytes()) for p in paths])
    for other in (from_tf, from_generator, from_predict):
        np.testing.assert_array_equal(np.round(other * 255), reader)
    np.testing.assert_array_equal(from_figures, reader)
    np.testing.assert_array_equal(from_upload, reader)


def test_heic_is_decoded_once_into_a_png_named_by_its_content(tree):
    heic = tree / "hat" / "IMG_0.heic"
    read_image(heic)
    decoded = list((Path(os.environ["CLOTHING_CACHE_DIR"]) / "decoded").glob("*.png"))
    assert decoded and all(Image.open(p).format == "PNG" for p in decoded)
    before = {p: p.stat().st_mtime_ns for p in decoded}
    read_image(heic.read_bytes())  # same bytes, another name: the same file, not rewritten
    assert {p: p.stat().st_mtime_ns for p in decoded} == before


def test_a_missing_codec_names_the_file_and_the_package(tree):
    heic = tree / "hat" / "IMG_0.heic"
    script = (
        "import sys; sys.modules['pillow_heif'] = None\n"  # as if pillow-heif were not installed
        "from pathlib import Path; from helpers.data.checks import check_image\n"
        f"print(check_image(Path({str(heic)!r})).detail)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.stdout.strip() == "a heic image: install pillow-heif to read it", done.stderr
