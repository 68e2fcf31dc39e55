"""File checks shared by the adapters: the labeler keeps exactly what training can read.

Files go through :mod:`helpers.images`, the loaders' reader: the header first (a decompression
bomb is refused before decoding), then a whole decode as tf.data would do it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from helpers import images
from helpers.data.labelset import Report
from helpers.errors import ImageError

MIN_SIDE = 8  # pixels: anything smaller is not a photo of a garment (a 1x1 image is a colour)


@dataclass(frozen=True)
class ImageCheck:
    """Outcome of :func:`check_image`: ``problem`` set means unusable, ``note`` means usable."""

    problem: str | None = None
    detail: str = ""
    note: str | None = None


def check_image(path: Path) -> ImageCheck:
    """Whether ``path`` is an image every loader reads the same way; why not, or what is converted."""
    checked = _header_check(path)
    if checked is not None and checked.problem:
        return checked
    try:
        images.read_image(path)
    except ImageError as err:
        return ImageCheck("corrupt-image", err.problem)
    except OSError as err:
        return ImageCheck("unreadable", err.strerror or str(err))
    return checked or ImageCheck()


def check_images(
    paths: Iterable[Path], report: Report, root: Path, desc: str = "checking images"
) -> list[bool]:
    """Which images are usable, problems and notes reported (relative to ``root``): headers first,
    then one parallel tf.data decode; only the failures are reopened to name their problem."""
    paths = list(paths)
    bar = tqdm(paths, desc=f"{desc}: headers", leave=False, mininterval=2)
    results: list[ImageCheck | None] = [_header_check(path) for path in bar]
    candidates = [i for i, result in enumerate(results) if result is None or not result.problem]
    decoded = _decodable([paths[i] for i in candidates], desc)
    for position, index in enumerate(candidates):
        if position not in decoded:
            results[index] = check_image(paths[index])  # names the problem
    usable = []
    for path, result in zip(paths, results, strict=True):
        rel = relative(path, root)
        if result is not None and result.problem:
            report.skip(rel, result.problem, result.detail)
        elif result is not None and result.note:
            report.keep(rel, "converted-to-rgb", result.note)
        usable.append(result is None or result.problem is None)
    return usable


def _header_check(path: Path) -> ImageCheck | None:
    """The header part of :func:`check_image`: a problem, a note, or None (plain RGB so far)."""
    try:
        status = path.stat()  # a FIFO or a device would block a reader: never opened
        if not stat.S_ISREG(status.st_mode):
            return ImageCheck("not-a-regular-file", "a pipe, socket or device, not a file")
        if status.st_size == 0:
            return ImageCheck("empty-file", "zero bytes")
        header = images.read_header(path)
    except OSError as err:
        return ImageCheck("unreadable", err.strerror or str(err))
    except ImageError as err:
        issue = "not-an-image" if err.problem.startswith("not an image") else "unreadable"
        return ImageCheck(issue, err.problem)
    refusal = images.refusal(header)
    if refusal:
        issue = "too-large" if refusal.startswith("claims") else "unsupported-format"
        return ImageCheck(issue, refusal)
    if min(header.width, header.height) < MIN_SIDE:
        size = f"{header.width}x{header.height} pixels"
        return ImageCheck("too-small", f"{size}, under {MIN_SIDE} on a side")
    if header.mode in images.CONVERTED_MODES:
        mode = images.CONVERTED_MODES[header.mode]
        return ImageCheck(note=f"{mode} {header.format}: converted to RGB when loaded")
    return None


def _decodable(paths: list[Path], desc: str) -> set[int]:
    """Positions in ``paths`` that decode through :func:`helpers.images.decode` (one tf.data pass)."""
    if not paths:
        return set()
    import tensorflow as tf

    def attempt(position, path):
        image = images.decode(tf.io.read_file(path))
        return position, tf.shape(image)[0]

    dataset = (
        tf.data.Dataset.from_tensor_slices((list(range(len(paths))), [str(p) for p in paths]))
        .map(attempt, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        .ignore_errors()
        .batch(256)
    )
    decoded: set[int] = set()
    with tqdm(total=len(paths), desc=f"{desc}: decoding", leave=False, mininterval=2) as bar:
        for positions, _ in dataset.as_numpy_iterator():
            decoded.update(positions.tolist())
            bar.update(len(positions))
    return decoded


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form (as in DeepFashion's lists)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def printable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 shown as ``\\xe9`` (a CSV cannot hold them)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def visible_entries(entries, base: Path, boundary: Path, report: Report):
    """``(entry, path relative to base)`` of the visible, UTF-8-named folders and regular files
    whose links stay inside ``boundary`` without repeating a folder beside them; others reported."""
    entries = entries or []
    folders = {Path(e.path).resolve() for e in entries if e.is_dir(follow_symlinks=False)}
    for entry in entries:
        rel = relative(Path(entry.path), base)
        if (shown := printable(rel)) != rel:
            report.skip(shown, "bad-file-name", "name is not valid UTF-8: rename it")
        elif entry.name.startswith("."):  # .DS_Store, ._foo.jpg, .ipynb_checkpoints
            report.skip(rel, "hidden-file", "hidden file or folder")
        elif followable(entry, rel, boundary, report, folders):
            if entry.is_dir() or entry.is_file():
                yield entry, rel
            else:  # never opened: reading a FIFO blocks
                report.skip(rel, "not-a-regular-file", "a pipe, socket or device, not a file")


def folder_entries(folder: Path, base: Path, report: Report) -> list[os.DirEntry] | None:
    """A folder's entries in name order, or None (reported) when it cannot be read."""
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=lambda e: e.name)
    except OSError as err:
        report.skip(relative(folder, base), "unreadable-folder", err.strerror or str(err))
        return None


def followable(
    entry: os.DirEntry, rel: str, boundary: Path, report: Report, folders: set[Path] = frozenset()
) -> bool:
    """False (reported) for a link that loops, dangles, leaves the data folder or repeats one of
    ``folders``."""
    if not entry.is_symlink():
        return True
    try:
        target = Path(entry.path).resolve(strict=True)
    except (RuntimeError, OSError) as err:  # Python raises RuntimeError for a loop
        if isinstance(err, RuntimeError) or err.errno == errno.ELOOP:
            report.skip(rel, "symlink-loop", "symbolic link loop")
        else:
            report.skip(rel, "broken-link", f"symbolic link to a missing target ({err.strerror})")
        return False
    if not target.is_relative_to(boundary):
        report.skip(rel, "outside-data-folder", f"symbolic link to {target}, outside {boundary}")
        return False
    if target in folders:
        report.skip(
            rel, "duplicate-folder", f"symbolic link to {target.name!r}, read under its own name"
        )
        return False
    return True


def identical_files(table: pd.DataFrame, root: Path, report: Report) -> list[str]:
    """Report every file whose bytes repeat an earlier row's; a note when any do."""
    first: dict[str, int] = {}
    across = 0
    for row in table.itertuples():
        digest = hashlib.blake2b((root / row.path).read_bytes(), digest_size=16).hexdigest()
        earlier = table.loc[first.setdefault(digest, row.Index)]
        if earlier.name != row.Index:
            across += (earlier["split"], earlier["label"]) != (row.split, row.label)
            where = f"{earlier['split']}/{earlier['label']}"
            report.keep(row.path, "identical-file", f"same bytes as {earlier['path']} ({where})")
    repeated = len(table) - len(first)
    note = f"{repeated} files repeat another's bytes, {across} of them in another split or class"
    return [f"{note} (identical-file in the report)"] if repeated else []
