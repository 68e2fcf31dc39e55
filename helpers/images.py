"""The one image reader (TensorFlow's decoders, JPEGs with PIL's accurate DCT and upright by
their EXIF orientation), used by every path so all see the same pixels; HEIC and AVIF decoded once
to a cached PNG. What cannot be read the same way everywhere (TIFF, 16-bit PNGs, decompression
bombs, anything but a regular file) is refused with the reason.
"""

import contextlib
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers.errors import ImageError

with contextlib.suppress(ImportError):  # optional: without it a HEIC is refused by name
    from pillow_heif import register_heif_opener

    register_heif_opener()

MAX_PIXELS = 40_000_000  # a 40-megapixel photo; DeepFashion's are 0.09 MP
# MPO: phone cameras' JPEG (first image); HEIF and AVIF go through converted().
DECODABLE = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP", "HEIF", "AVIF")
# ISO-BMFF brands (bytes 8-12, after "ftyp") of HEIC/HEIF and AVIF images, and what reads them.
CODECS = {b"avif": "Pillow>=11.3", b"avis": "Pillow>=11.3"} | dict.fromkeys(
    (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"), "pillow-heif"
)
NOT_REGULAR = dict(d="a folder", p="a named pipe", s="a socket", c="a device", b="a device")
# PIL modes of more than 8 bits per channel: TensorFlow and PIL disagree on them.
WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Modes TensorFlow converts to RGB on decode (worth a note in the labeler's report).
CONVERTED_MODES = {
    "L": "grayscale", "LA": "grayscale with alpha", "1": "black and white", "P": "palette",
    "PA": "palette with alpha", "RGBA": "RGBA", "CMYK": "CMYK", "YCbCr": "YCbCr",
}  # fmt: skip


@dataclass(frozen=True)
class Header:
    """What an image file says about itself before it is decoded."""

    format: str
    mode: str
    width: int
    height: int


def read_header(source: str | Path | bytes) -> Header:
    """Format, mode and size from the file's header (PIL reads only the header), or ImageError."""
    name = "<upload>" if isinstance(source, bytes) else regular(source)
    opened = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        # The pixel limit is ours (checked below), not PIL's decompression-bomb guard.
        with _no_pil_pixel_limit(), Image.open(opened) as image:
            return Header(image.format or "", image.mode, *image.size)
    except UnidentifiedImageError:
        with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as file:
            head = file.read(12)
        if head[4:8] == b"ftyp" and head[8:12] in CODECS:
            why = f"a {head[8:12].decode()} image: install {CODECS[head[8:12]]} to read it"
            raise ImageError(name, why) from None
        raise ImageError(name, "not an image (no format PIL or TensorFlow knows)") from None
    except FileNotFoundError:
        raise ImageError(name, "no such file") from None
    except OSError as err:
        raise ImageError(name, f"unreadable ({err})") from None


def regular(path: str | Path) -> str:
    """``path`` as text, or ImageError when it is not a regular file (read before it can block)."""
    try:
        kind = stat.filemode(os.stat(path).st_mode)[0]
    except FileNotFoundError:
        raise ImageError(path, "no such file") from None
    except OSError as err:
        raise ImageError(path, f"unreadable ({err.strerror or err})") from None
    if kind != "-":
        raise ImageError(path, f"not a regular file but {NOT_REGULAR.get(kind, 'a special file')}")
    return str(path)


def converted(data: bytes, name: str = "<upload>") -> Path:
    """The upright PNG of HEIC/HEIF or AVIF bytes, decoded once into ``<cache>/decoded/``."""
    from helpers.atomic import write_bytes
    from helpers.paths import cache_root

    target = cache_root() / "decoded" / f"{hashlib.sha256(data).hexdigest()[:32]}.png"
    if not target.is_file():
        try:
            with Image.open(io.BytesIO(data)) as image:
                upright = ImageOps.exif_transpose(image)
                upright = upright.convert("RGBA" if "A" in upright.mode else "RGB")
        except (OSError, ValueError) as err:
            raise ImageError(name, f"cannot decode ({err})") from None
        buffer = io.BytesIO()
        upright.save(buffer, format="PNG", compress_level=1)
        write_bytes(target, buffer.getvalue())
    return target


def stored_path(path: str | Path) -> str:
    """Where PIL-based readers (ImageDataGenerator) find ``path``: a HEIC/AVIF file's PNG, else itself."""
    with contextlib.suppress(OSError, ImageError), open(regular(path), "rb") as file:
        if file.read(8)[4:] == b"ftyp":
            return str(converted(file.seek(0) or file.read(), str(path)))
    return str(path)


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


def decode(data, channels: int = 3, size: int | None = None):
    """Encoded bytes to an upright uint8 ``H x W x channels`` tensor (EXIF applied), in tf.data; a
    JPEG to be shrunk to ``size`` decoded at the smallest scale (1/8, 1/4, 1/2: libjpeg's DCT scaling)
    whose sides stay >= ``size`` and divide the JPEG's (a partial last block would stretch it)."""
    import tensorflow as tf

    def png(data):  # a HEIC/AVIF file (an ISO-BMFF "ftyp" box): its decoded PNG
        read = lambda d: converted(np.asarray(d, object).item()).read_bytes()  # noqa: E731
        return tf.ensure_shape(tf.numpy_function(read, [data], tf.string), [])

    head = tf.strings.join([tf.strings.substr(data, 0, 8), b"\0" * 8])
    data = tf.cond(tf.strings.substr(head, 4, 4) == b"ftyp", lambda: png(data), lambda: data)

    def jpeg(ratio: int = 1):
        method = "INTEGER_ACCURATE"
        return lambda: tf.io.decode_jpeg(data, channels=channels, ratio=ratio, dct_method=method)

    def upright():
        if size is None:
            image = jpeg()()
        else:
            shape = tf.io.extract_jpeg_shape(data)[:2]
            fits = lambda r: tf.reduce_all((shape >= size * r) & (shape % r == 0))  # noqa: E731
            image = tf.case([(fits(r), jpeg(r)) for r in (8, 4, 2)], jpeg())
        return orient(image, exif_orientation(data))

    return tf.cond(
        tf.strings.substr(data, 0, 2) == b"\xff\xd8",
        upright,
        lambda: tf.io.decode_image(data, channels=channels, expand_animations=False),
    )


EXIF_SEARCH = 65536  # EXIF's segment (APP1) comes first in a JPEG: it and IFD0 are in 64 KiB
EXIF_ENTRIES = 64  # IFD0 entries looked at (phones write about a dozen)
# Bytes read from IFD0's start (big-endian pairs): its entry count, then each entry's tag and value.
IFD_PAIRS = np.array(
    [[0, 1]] + [[2 + 12 * k + at, 3 + 12 * k + at] for at in (0, 8) for k in range(EXIF_ENTRIES)]
)


def exif_orientation(data):
    """A JPEG's EXIF orientation (1 if none) read with tensor ops, so tf.data stays parallel: the
    "Exif" header found by a string split, then IFD0 in few ops (a cond's untaken ops cost too)."""
    import tensorflow as tf

    head = tf.strings.substr(data, 0, EXIF_SEARCH)
    parts = tf.raw_ops.StringSplitV2(input=head[None], sep=b"Exif\0\0", maxsplit=1).values

    def tagged():
        raw = tf.io.decode_raw(tf.strings.join([head, b"\0" * IFD_PAIRS.max()]), tf.uint8)
        tiff = tf.cast(tf.strings.length(parts[0]) + 6, tf.int64)
        mark = tf.gather(raw, tiff + np.arange(2))  # II (Intel: little-endian) or MM
        little, last = mark[0] == 0x49, tf.size(raw, tf.int64) - 1

        def number(at, offsets):  # unsigned integers at ``at + offsets`` (bytes on the last axis)
            at = tf.minimum(at + tf.where(little, offsets[..., ::-1], offsets), last)
            weights = 256 ** np.arange(offsets.shape[-1], dtype=np.int64)[::-1]
            return tf.reduce_sum(tf.cast(tf.gather(raw, at), tf.int64) * weights, -1)

        fields = number(tiff + number(tiff, np.arange(4, 8)), IFD_PAIRS)
        tags, values = tf.unstack(tf.reshape(fields[1:], [2, EXIF_ENTRIES]))
        listed = (tags == 0x0112) & (tf.range(EXIF_ENTRIES, dtype=tf.int64) < fields[0])
        orientation = tf.cast(tf.reduce_max(tf.where(listed, values, 0)), tf.int32)
        ordered = (mark[0] == mark[1]) & (little | (mark[0] == 0x4D))
        return tf.where(ordered & (orientation >= 1) & (orientation <= 8), orientation, 1)

    return tf.cond(tf.size(parts) == 2, tagged, lambda: tf.constant(1))


def orient(image, orientation):
    """``image`` turned upright for an EXIF ``orientation`` (as PIL's ``exif_transpose``): 5-8
    transposed, then mirrored, in three small conds (a switch_case of tf.image ops cost 0.3 ms)."""
    import tensorflow as tf

    def when(condition, turn, image):
        return tf.cond(condition, lambda: turn(image), lambda: image)

    image = when(orientation >= 5, lambda i: tf.transpose(i, [1, 0, 2]), image)
    image = when(tf.reduce_any(orientation == [2, 3, 6, 7]), lambda i: tf.reverse(i, [1]), image)
    return when(tf.reduce_any(orientation == [3, 4, 7, 8]), lambda i: tf.reverse(i, [0]), image)


ANTIALIAS_ABOVE = 1.5  # shrink factor beyond which plain bilinear would alias visibly


def resize_levels(image, size: int):
    """Resize of uint8 image(s) to ``size x size`` as float32 whole grey levels: bilinear up to an
    :data:`ANTIALIAS_ABOVE` shrink; beyond, an area resize when both axes shrink (alias-free and
    4x faster than antialiased bilinear), else antialiased bilinear; all on float32 (a third faster
    than on uint8, same values) and averaging (no clip needed)."""
    import tensorflow as tf

    image = tf.cast(image, tf.float32)
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
    return tf.round(resized)


def resize(image, size: int):
    """:func:`resize_levels` as uint8 (what the caches store)."""
    import tensorflow as tf

    return tf.cast(resize_levels(image, size), tf.uint8)


def read_image(
    source: str | Path | bytes, channels: int = 3, size: int | None = None
) -> np.ndarray:
    """A file or its bytes as a uint8 ``H x W x channels`` array, or an ImageError naming it."""
    import tensorflow as tf

    header = read_header(source)
    problem = refusal(header)
    name = "<upload>" if isinstance(source, bytes) else str(source)
    if problem:
        raise ImageError(name, problem)
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data:
        raise ImageError(name, "empty file")
    if data[4:8] == b"ftyp":
        data = converted(data, name).read_bytes()
    try:
        image = decode(tf.constant(data), channels, size)
        if size is not None:
            image = resize(image, size)
        return image.numpy()
    except tf.errors.OpError as err:
        reason = re.sub(r"\{\{.*?\}\} *| *\[Op:\w+\]", "", err.message.splitlines()[0])
        raise ImageError(name, f"cannot decode ({reason})") from None


def model_input(source: str | Path | bytes, input_shape) -> np.ndarray:
    """An image as a model's input: ``H x W x C`` float32 in [0, 1], read and resized as in training."""
    height, width, channels = input_shape
    if height != width:
        raise ValueError(f"square inputs only, got {height}x{width}")
    return read_image(source, channels, height).astype(np.float32) * (1 / 255)
