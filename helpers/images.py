"""The one image reader: TensorFlow's decoders, used by tf.data, the labeler's check, predict,
the figures and the explorer, so every path sees the same pixels.

Formats are those ``tf.io.decode_image`` reads: JPEG (grayscale and CMYK too),
PNG (8-bit; palette, grey and alpha variants), GIF (first frame), BMP and WebP.
Alpha is dropped, as PIL's ``convert("RGB")`` does. JPEGs decode with libjpeg's
accurate integer DCT, as PIL does (same pixels), which libjpeg-turbo also runs
fastest here (AVX2: 2,255 against 1,560 images/s for its "fast" DCT, 300 px
JPEGs on 2 cores). Resizing is bilinear, antialiased only for shrinks beyond
1.5x (:func:`resize`): antialiasing would match PIL's resize to one grey level
but halves the loader's speed; without it pixels move at most 14 grey levels
(mean 0.6) from ImageDataGenerator's when shrinking 300 px photos to 256
(``helpers.loading.compare_pipelines`` measures it on your data).

Files the labeler must refuse, because they cannot be read the same way
everywhere: TIFF, ICO and other formats TensorFlow cannot decode; 16-bit grayscale PNGs
(PIL, inside ImageDataGenerator, clips them to white while TensorFlow scales
them); and images whose header claims more than ``MAX_PIXELS`` pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from helpers.errors import ImageError

MAX_PIXELS = 40_000_000  # a 40-megapixel photo; DeepFashion's are 0.09 MP
DECODABLE = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP")  # MPO: phone cameras' JPEG (first image)
# PIL modes of more than 8 bits per channel: TensorFlow and PIL disagree on them.
WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Modes TensorFlow converts to RGB on decode (worth a note in the labeler's report).
CONVERTED_MODES = {
    "L": "grayscale",
    "LA": "grayscale with alpha",
    "1": "black and white",
    "P": "palette",
    "PA": "palette with alpha",
    "RGBA": "RGBA",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
}


@dataclass(frozen=True)
class Header:
    """What an image file says about itself before it is decoded."""

    format: str
    mode: str
    width: int
    height: int


def read_header(source: str | Path | bytes) -> Header:
    """Format, mode and size from the file's header (PIL reads only the header), or ImageError."""
    name = "<upload>" if isinstance(source, bytes) else str(source)
    opened = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        # The pixel limit is ours (checked below), not PIL's decompression-bomb guard.
        with _no_pil_pixel_limit(), Image.open(opened) as image:
            return Header(image.format or "", image.mode, *image.size)
    except UnidentifiedImageError:
        raise ImageError(name, "not an image (no format PIL or TensorFlow knows)") from None
    except FileNotFoundError:
        raise ImageError(name, "no such file") from None
    except OSError as err:
        raise ImageError(name, f"unreadable ({err})") from None


class _no_pil_pixel_limit:
    def __enter__(self):
        self.saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None

    def __exit__(self, *exc):
        Image.MAX_IMAGE_PIXELS = self.saved


def refusal(header: Header) -> str | None:
    """Why an image with this header cannot be used everywhere, or None."""
    if header.format not in DECODABLE:
        return f"{header.format or 'unknown'} format: tf.data cannot decode it (convert it to JPEG or PNG)"
    if header.mode in WIDE_MODES:
        return f"{header.mode} ({'16' if '16' in header.mode else '32'}-bit) {header.format}: PIL and TensorFlow read it differently (save it as 8-bit)"
    if header.width * header.height > MAX_PIXELS:
        return f"claims {header.width}x{header.height} pixels, more than {MAX_PIXELS:,}: refused (decompression bomb?)"
    return None


def decode(data, channels: int = 3):
    """Encoded bytes (a string tensor) to a ``H x W x channels`` uint8 tensor; works inside tf.data."""
    import tensorflow as tf

    return tf.cond(
        tf.strings.substr(data, 0, 2) == b"\xff\xd8",
        lambda: tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=channels, expand_animations=False),
    )


ANTIALIAS_ABOVE = 1.5  # shrink factor beyond which plain bilinear would alias visibly


def resize_levels(image, size: int):
    """Bilinear resize of uint8 image(s) to ``size x size``: float32 whole grey levels (0-255).

    The values are exactly those of the rounded uint8 image, kept as floats so the
    streaming loader scales them without a round trip through uint8. Antialiased
    only when shrinking by more than :data:`ANTIALIAS_ABOVE` on either axis: there
    PIL's (antialiased) resize and a plain bilinear one part by tens of grey
    levels, while at DeepFashion's 300 -> 256 px the plain one is within a few
    levels and twice as fast.
    """
    import tensorflow as tf

    shape = tf.shape(image)
    shrink = tf.cast(tf.maximum(shape[-3], shape[-2]), tf.float32) / size
    resized = tf.cond(
        shrink > ANTIALIAS_ABOVE,
        lambda: tf.image.resize(image, (size, size), method="bilinear", antialias=True),
        lambda: tf.image.resize(image, (size, size), method="bilinear"),
    )
    return tf.clip_by_value(tf.round(resized), 0, 255)


def resize(image, size: int):
    """:func:`resize_levels` as uint8 (what the caches store)."""
    import tensorflow as tf

    return tf.cast(resize_levels(image, size), tf.uint8)


def read_image(
    source: str | Path | bytes, channels: int = 3, size: int | None = None
) -> np.ndarray:
    """A file or its bytes as a uint8 ``H x W x channels`` array (resized when ``size`` is given).

    Raises :class:`ImageError` naming the file for anything the labeler would skip.
    """
    import tensorflow as tf

    header = read_header(source)
    problem = refusal(header)
    name = "<upload>" if isinstance(source, bytes) else str(source)
    if problem:
        raise ImageError(name, problem)
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data:
        raise ImageError(name, "empty file")
    try:
        image = decode(tf.constant(data), channels)
        if size is not None:
            image = resize(image, size)
        return image.numpy()
    except tf.errors.OpError as err:
        raise ImageError(name, f"cannot decode ({err.message.splitlines()[0]})") from None


def model_input(source: str | Path | bytes, input_shape) -> np.ndarray:
    """An image as a model's input: ``H x W x C`` float32 in [0, 1], read and resized as in training."""
    height, width, channels = input_shape
    if height != width:
        raise ValueError(f"square inputs only, got {height}x{width}")
    return read_image(source, channels, height).astype(np.float32) * (1 / 255)
