"""One image reader: every format through every path (labeler, tf.data, ImageDataGenerator,
predict, figures, explorer) gives the same pixels, or is refused at labeling time by name."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
from fixtures import truncated_jpeg
from PIL import Image

from helpers.data.checks import check_image, check_images
from helpers.data.labelset import LabelSet, Report
from helpers.data.registry import kind_of
from helpers.errors import ImageError
from helpers.images import model_input, read_image
from helpers.loading import InputSpec, generator_flow, tf_batches
from helpers.widgets import make_image_loader

SIZE = 16
RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A real PNG whose header claims ``width x height`` pixels (correct CRC, tiny file)."""
    data = encoded(Image.new("L", (1, 1)), "PNG")
    ihdr = struct.pack(">II", width, height) + data[24:29]
    chunk = b"IHDR" + ihdr
    return data[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


def corpus() -> dict[str, tuple[bytes, str | None]]:
    """file name -> (bytes, the labeler's verdict: None = usable, else the issue)."""
    rgb = Image.fromarray(PIXELS)
    wide = Image.fromarray(PIXELS[..., 0].astype(np.uint16) * 257)  # mode I;16
    return {
        "rgb.jpg": (encoded(rgb, "JPEG", quality=92), None),
        "gray.jpg": (encoded(rgb.convert("L"), "JPEG"), None),
        "cmyk.jpg": (encoded(rgb.convert("CMYK"), "JPEG"), None),
        "rgb.png": (encoded(rgb, "PNG"), None),
        "rgba.png": (encoded(rgb.convert("RGBA"), "PNG"), None),
        "palette.png": (encoded(rgb.convert("P"), "PNG"), None),
        "anim.gif": (encoded(rgb, "GIF"), None),
        "lossless.webp": (encoded(rgb, "WEBP", lossless=True), None),
        "rgb.bmp": (encoded(rgb, "BMP"), None),
        "wide16.png": (encoded(wide, "PNG"), "unsupported-format"),
        "scan.tiff": (encoded(rgb, "TIFF"), "unsupported-format"),
        "icon.ico": (encoded(rgb, "ICO", sizes=[(SIZE, SIZE)]), "unsupported-format"),
        "bomb.png": (bomb_png(), "too-large"),
        "cut.jpg": (truncated_jpeg(), "corrupt-image"),
        "empty.jpg": (b"", "empty-file"),
        "notes.jpg": (b"not an image at all\n", "not-an-image"),
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    folder = root / "img" / "Mixed_Formats_Tee"
    folder.mkdir(parents=True)
    for name, (data, _) in corpus().items():
        (folder / name).write_bytes(data)
    return root


@pytest.mark.parametrize(("name", "verdict"), [(n, v) for n, (_, v) in corpus().items()])
def test_the_labeler_keeps_what_training_can_read(files, name, verdict):
    checked = check_image(files / "img/Mixed_Formats_Tee" / name)
    assert checked.problem == verdict, checked
    if verdict is not None:
        with pytest.raises(ImageError) as refused:
            read_image(files / "img/Mixed_Formats_Tee" / name)
        assert str(refused.value).startswith(str(files / "img/Mixed_Formats_Tee" / name))


def test_bulk_check_agrees_with_one_by_one(files):
    paths = sorted((files / "img/Mixed_Formats_Tee").iterdir())
    report = Report()
    usable = check_images(paths, report, files)
    assert usable == [check_image(p).problem is None for p in paths]
    skipped = report.frame().query("action == 'skipped'")
    assert len(skipped) == sum(v is not None for _, v in corpus().values())
    notes = report.frame().query("issue == 'converted-to-rgb'")["path"].str.rsplit("/", n=1).str[1]
    assert set(notes) == {"gray.jpg", "cmyk.jpg", "rgba.png", "palette.png", "anim.gif"}


def test_every_path_sees_the_same_pixels(files):
    usable = [n for n, (_, verdict) in corpus().items() if verdict is None]
    table = pd.DataFrame(
        {"path": [f"img/Mixed_Formats_Tee/{n}" for n in usable], "label": "Tee", "split": "test"}
    )
    labels = LabelSet(table, ["Tee"], root=files, dataset="deepfashion")
    reader = np.stack([read_image(files / p) for p in table["path"]])
    from_tf = np.concatenate(
        [x.numpy() for x, _ in tf_batches(InputSpec(labels, SIZE, 4), "test").epoch(0)]
    )
    from_predict = np.stack([model_input(files / p, (SIZE, SIZE, 3)) for p in table["path"]])
    from_figures = np.stack([kind_of(labels).images.read(labels, p) for p in table["path"]])
    from_explorer = np.stack([make_image_loader(labels)(p) for p in table["path"]])
    np.testing.assert_array_equal(np.round(from_tf * 255), reader)
    np.testing.assert_array_equal(np.round(from_predict * 255), reader)
    np.testing.assert_array_equal(from_figures, reader)
    np.testing.assert_array_equal(from_explorer, reader)
    flow = generator_flow(InputSpec(labels, SIZE, len(usable)), "test")
    from_generator = np.round(flow[0][0] * 255)  # Keras' own loader: PIL underneath
    for i, name in enumerate(usable):
        # PIL and TensorFlow share libjpeg and its accurate DCT; their colour conversions
        # of grayscale and CMYK JPEGs differ by rounding only.
        tolerance = 2 if name.endswith(".jpg") else 0
        assert np.abs(from_generator[i] - reader[i]).max() <= tolerance, name
    assert np.abs(reader[usable.index("rgb.png")].astype(int) - PIXELS).max() == 0


def test_bytes_and_paths_read_alike(files):
    path = files / "img/Mixed_Formats_Tee/rgb.png"
    np.testing.assert_array_equal(read_image(path.read_bytes()), read_image(path))
    assert read_image(path, channels=1).shape == (SIZE, SIZE, 1)
    assert read_image(path, size=8).shape == (8, 8, 3)


def test_a_phone_cameras_mpo_jpeg_is_read(tmp_path):
    path = tmp_path / "phone.jpg"
    Image.fromarray(PIXELS).save(path, format="MPO")
    assert check_image(path).problem is None
    assert read_image(path).shape == (SIZE, SIZE, 3)


def photo(height: int, width: int, orientation: int = 1, ifd_at: int = 8) -> bytes:
    """A smooth, noisy ``height x width`` JPEG with an EXIF orientation (IFD0 at ``ifd_at``)."""
    yy, xx = np.mgrid[0:height, 0:width]
    pixels = np.stack([xx * 255 // width, yy * 255 // height, (xx + 2 * yy) % 256], -1)
    pixels = (pixels + RNG.integers(0, 24, pixels.shape)).clip(0, 255).astype(np.uint8)
    entry = bytes.fromhex("0112 0003 00000001") + orientation.to_bytes(2, "big") + b"\0\0"
    tiff = b"MM\x00\x2a" + ifd_at.to_bytes(4, "big") + b"\0" * (ifd_at - 8)
    tiff += (1).to_bytes(2, "big") + entry + b"\0" * 4
    return encoded(Image.fromarray(pixels), "JPEG", quality=90, exif=b"Exif\0\0" + tiff)


@pytest.mark.parametrize(
    ("shape", "size", "decoded"),
    [
        ((800, 1000), 256, (400, 500)),  # 1/4 would be 200 x 250: too small
        ((1024, 768), 256, (512, 384)),
        ((512, 512), 256, (256, 256)),  # exactly the size at 1/2
        ((2048, 4096), 256, (256, 512)),  # 1/8
        ((2048, 4096), 300, (512, 1024)),  # 1/4: 1/8 would be 256 < 300
        ((511, 600), 256, (511, 600)),  # less than twice the size: full scale
        ((500, 400), 224, (500, 400)),  # the real photos' 400 x 533 at 224
        ((800, 1001), 256, (800, 1001)),  # 1/2 would leave half a block: full scale
    ],
)
def test_a_jpeg_is_dct_scaled_as_far_as_both_sides_stay_at_least_the_size(shape, size, decoded):
    import tensorflow as tf

    from helpers.images import decode

    data = photo(*shape)
    assert tuple(decode(tf.constant(data), 3, size).shape) == (*decoded, 3)
    assert tuple(decode(tf.constant(data)).shape) == (*shape, 3)  # no size: full scale


def test_a_dct_scaled_photo_is_the_same_on_every_path(tmp_path):
    import tensorflow as tf

    from helpers.images import decode, orient, resize

    data = photo(800, 1000, orientation=6)  # sideways: upright it is 1000 x 800
    folder = tmp_path / "img" / "Big_Photo_Tee"
    folder.mkdir(parents=True)
    (folder / "big.jpg").write_bytes(data)
    table = pd.DataFrame({"path": ["img/Big_Photo_Tee/big.jpg"], "label": "Tee", "split": "test"})
    labels = LabelSet(table, ["Tee"], root=tmp_path, dataset="deepfashion")
    size = 256

    reader = read_image(folder / "big.jpg", size=size)
    half = tf.io.decode_jpeg(data, ratio=2, dct_method="INTEGER_ACCURATE")
    np.testing.assert_array_equal(reader, resize(orient(half, tf.constant(6)), size).numpy())
    full = resize(decode(tf.constant(data)), size).numpy()
    assert (reader != full).any()  # scaled, not a full decode
    assert np.abs(reader.astype(int) - full).mean() < 2
    from_tf = next(iter(tf_batches(InputSpec(labels, size, 1), "test").epoch(0)))[0].numpy()
    np.testing.assert_array_equal(np.round(from_tf[0] * 255), reader)
    from_predict = model_input(folder / "big.jpg", (size, size, 3))
    np.testing.assert_array_equal(np.round(from_predict * 255), reader)
    # ImageDataGenerator is Keras' own loader (PIL underneath, upright by its hook): close only.
    from_generator = np.round(generator_flow(InputSpec(labels, size, 1), "test")[0][0][0] * 255)
    assert np.abs(from_generator - reader).mean() < 3


@pytest.mark.parametrize("ifd_at", [8, 40])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_wherever_ifd0_starts(orientation, ifd_at):
    from PIL import ImageOps

    data = photo(48, 64, orientation, ifd_at)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    got = read_image(data)
    assert got.shape == upright.shape
    assert np.abs(got.astype(int) - upright).max() <= 1
