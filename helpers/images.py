"""The one image reader: TensorFlow's decoders, used by tf.data, the labeler's check, predict,
the figures and the explorer, so every path sees the same pixels.

Formats are those ``tf.io.decode_image`` reads: JPEG (grayscale and CMYK too),
PNG (8-bit; palette, grey and alpha variants), GIF (first frame), BMP and WebP.
Alpha is dropped, as PIL's ``convert("RGB")`` does. JPEGs decode with libjpeg's
accurate integer DCT, as PIL does (same pixels), which libjpeg-turbo also runs
fastest here (AVX2: 2,255 against 1,560 images/s for its "fast" DCT, 300 px
JPEGs on 2 cores). A JPEG's EXIF orientation is applied on decode
(:func:`exif_orientation`), so phone photos stand upright everywhere. Resizing
is bilinear, an area (box-filter) resize for shrinks beyond 1.5x
(:func:`resize_levels`): antialiased bilinear would match PIL's resize to one
grey level but runs at a quarter of the speed; plain bilinear moves pixels at
most 14 grey levels (mean 0.6) from ImageDataGenerator's when shrinking 300 px
photos to 256 (``helpers.loading.compare_pipelines`` measures it on your data).

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
    """Encoded bytes (a string tensor) to an upright ``H x W x channels`` uint8 tensor; works
    inside tf.data. A JPEG's EXIF orientation tag (phones store pixels sideways and say so)
    is applied here, once, so every path sees the photo as it was taken."""
    import tensorflow as tf

    return tf.cond(
        tf.strings.substr(data, 0, 2) == b"\xff\xd8",
        lambda: orient(
            tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE"),
            exif_orientation(data),
        ),
        lambda: tf.io.decode_image(data, channels=channels, expand_animations=False),
    )


EXIF_SEARCH = (
    65536  # the EXIF segment (APP1) comes first in a JPEG; its tag sits in the first 64 KiB
)
EXIF_ENTRIES = 64  # IFD0 entries looked at (phones write about a dozen)


def exif_orientation(data):
    """A JPEG's EXIF orientation (1-8; 1 when absent or unreadable) read with TensorFlow ops.

    Finds ``Exif\\0\\0``, reads the TIFF byte order and IFD0, and looks for tag 0x0112,
    all as tensor arithmetic (no Python per image, so tf.data stays parallel).
    """
    import tensorflow as tf

    head = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 0, EXIF_SEARCH), tf.uint8), tf.int32)
    head = tf.concat([head, tf.zeros([16], tf.int32)], 0)  # room to read past a short header
    size = tf.size(head) - 16
    marker = tf.constant([0x45, 0x78, 0x69, 0x66, 0, 0])  # "Exif\0\0"
    span = tf.maximum(size - 5, 1)
    found = tf.reduce_all(tf.stack([head[k : k + span] == marker[k] for k in range(6)]), axis=0)
    tiff = tf.cast(tf.argmax(tf.cast(found, tf.int32)), tf.int32) + 6
    little = tf.logical_and(head[tiff] == 0x49, head[tiff + 1] == 0x49)

    def number(at, width):
        """The ``width``-byte unsigned integer at ``at`` in the TIFF's byte order."""
        at = tf.clip_by_value(at, 0, size + 16 - width)
        digits = [tf.gather(head, at + k) for k in range(width)]
        forward = (
            digits[0] + 256 * digits[1]
            if width == 2
            else digits[0] + 256 * (digits[1] + 256 * (digits[2] + 256 * digits[3]))
        )
        backward = (
            digits[-1] + 256 * digits[-2]
            if width == 2
            else digits[3] + 256 * (digits[2] + 256 * (digits[1] + 256 * digits[0]))
        )
        return tf.where(little, forward, backward)

    ifd = tiff + number(tiff + 4, 4)
    count = tf.minimum(number(ifd, 2), EXIF_ENTRIES)
    entries = ifd + 2 + 12 * tf.range(EXIF_ENTRIES)
    is_tag = tf.logical_and(number(entries, 2) == 0x0112, tf.range(EXIF_ENTRIES) < count)
    value = number(entries + 8, 2)
    orientation = tf.reduce_max(tf.where(is_tag, value, 0))
    valid = tf.logical_and(
        tf.reduce_any(found),
        tf.logical_and(orientation >= 1, orientation <= 8),
    )
    valid = tf.logical_and(valid, tf.logical_or(little, head[tiff] == 0x4D))
    return tf.where(valid, orientation, 1)


def orient(image, orientation):
    """``image`` turned upright for an EXIF ``orientation`` (as PIL's ``exif_transpose``)."""
    import tensorflow as tf

    return tf.switch_case(
        orientation - 1,
        [
            lambda: image,
            lambda: tf.image.flip_left_right(image),
            lambda: tf.image.rot90(image, 2),
            lambda: tf.image.flip_up_down(image),
            lambda: tf.image.transpose(image),
            lambda: tf.image.rot90(image, 3),
            lambda: tf.image.rot90(tf.image.transpose(image), 2),
            lambda: tf.image.rot90(image, 1),
        ],
    )


ANTIALIAS_ABOVE = 1.5  # shrink factor beyond which plain bilinear would alias visibly


def resize_levels(image, size: int):
    """Resize of uint8 image(s) to ``size x size``: float32 whole grey levels (0-255).

    The values are exactly those of the rounded uint8 image, kept as floats so the
    streaming loader scales them without a round trip through uint8. Plain bilinear
    up to a :data:`ANTIALIAS_ABOVE` shrink on either axis (at DeepFashion's 300 ->
    256 px it is within a few levels of an antialiased resize and twice as fast).
    Beyond it, when both axes shrink (a phone photo of 400x533 to 256), an area
    (box-filter) resize: alias-free, as fast as plain bilinear (1,237 against 311
    images/s for antialiased bilinear on these photos) and within 0.94 grey levels
    of antialiased bilinear on average (at most 43, on edges). An image that
    shrinks on one axis and grows on the other takes antialiased bilinear.
    """
    import tensorflow as tf

    shape = tf.cast(tf.shape(image), tf.float32)
    tall, wide = shape[-3] / size, shape[-2] / size
    shrink = tf.maximum(tall, wide)
    both = tf.minimum(tall, wide) >= 1.0
    resized = tf.case(
        [
            (shrink <= ANTIALIAS_ABOVE, lambda: tf.image.resize(image, (size, size))),
            (both, lambda: tf.image.resize(image, (size, size), method="area")),
        ],
        default=lambda: tf.image.resize(image, (size, size), antialias=True),
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
