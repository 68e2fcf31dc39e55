"""File checks shared by the adapters: the labeler keeps exactly what training can read.

Every file is opened through :mod:`helpers.images`, the reader the loaders,
``predict``, the figures and the explorer use: its header is read first (format,
mode, claimed size: a decompression bomb is refused before anything is
decoded), then the whole file is decoded as tf.data would decode it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from helpers import images
from helpers.data.labelset import Report
from helpers.errors import ImageError


@dataclass(frozen=True)
class ImageCheck:
    """Outcome of :func:`check_image`: ``problem`` set means unusable, ``note`` means usable."""

    problem: str | None = None
    detail: str = ""
    note: str | None = None


def is_hidden(path: Path) -> bool:
    """Hidden files and folders (``.DS_Store``, ``._foo.jpg``, ``.ipynb_checkpoints``)."""
    return path.name.startswith(".")


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
    """Check many images; record problems and notes; return which are usable.

    Headers are read with PIL (cheap), then every candidate is decoded in one
    parallel tf.data pass, exactly as training will decode it; only the files
    that fail are opened again, one by one, to name their problem. Report paths
    are written relative to ``root``.
    """
    paths = list(paths)
    results: list[ImageCheck | None] = []
    for path in tqdm(paths, desc=f"{desc}: headers", leave=False, mininterval=2):
        results.append(_header_check(path))
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
        if path.stat().st_size == 0:
            return ImageCheck("empty-file", "zero bytes")
        header = images.read_header(path)
    except OSError as err:
        return ImageCheck("unreadable", err.strerror or str(err))
    except ImageError as err:
        issue = "not-an-image" if err.problem.startswith("not an image") else "unreadable"
        return ImageCheck(issue, err.problem)
    refusal = images.refusal(header)
    if refusal:
        return ImageCheck(
            "too-large" if refusal.startswith("claims") else "unsupported-format", refusal
        )
    if header.mode in images.CONVERTED_MODES:
        return ImageCheck(
            note=f"{images.CONVERTED_MODES[header.mode]} {header.format}: converted to RGB when loaded"
        )
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


def visible_entries(entries, base: Path, boundary: Path, report: Report):
    """``(entry, path relative to base)`` of the entries that are not hidden and whose links stay
    inside ``boundary`` (the data folder); the others are reported (shared by the folder adapters)."""
    for entry in entries or []:
        rel = relative(Path(entry.path), base)
        if is_hidden(Path(entry.name)):
            report.skip(rel, "hidden-file", "hidden file or folder")
        elif followable(entry, rel, boundary, report):
            yield entry, rel


def folder_entries(folder: Path, base: Path, report: Report) -> list[os.DirEntry] | None:
    """A folder's entries in name order, or None (reported relative to ``base``) when it cannot
    be read."""
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=lambda e: e.name)
    except OSError as err:
        report.skip(relative(folder, base), "unreadable-folder", err.strerror or str(err))
        return None


def followable(entry: os.DirEntry, rel: str, boundary: Path, report: Report) -> bool:
    """False (reported) for a link that loops, dangles or leaves the data folder."""
    if not entry.is_symlink():
        return True
    try:
        target = Path(entry.path).resolve(strict=True)
    except RuntimeError:
        report.skip(rel, "symlink-loop", "symbolic link loop")
        return False
    except OSError as err:
        if "loop" in str(err).lower():
            report.skip(rel, "symlink-loop", "symbolic link loop")
        else:
            report.skip(rel, "broken-link", f"symbolic link to a missing target ({err.strerror})")
        return False
    if not target.is_relative_to(boundary):
        report.skip(rel, "outside-data-folder", f"symbolic link to {target}, outside {boundary}")
        return False
    return True
