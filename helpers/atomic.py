"""Atomic writes: every artifact is written to a temporary file in its own folder, then renamed.

A process killed mid-write leaves the previous file (or none), never half of
one. The temporary name keeps the final suffix (Keras insists on ``.keras`` and
``.weights.h5``) and starts with a dot, so it is never mistaken for an artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".weights.h5") else path.suffix
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".partial{suffix}", dir=path.parent
    )
    os.close(handle)
    shareable(temporary)
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def shareable(path) -> None:
    """The mode a plain ``open`` would give (0666 less the umask), not mkstemp's private 0600:
    other users, or workers on shared storage, must read the run folder."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def check_writable(folder: Path) -> None:
    """Refuse, in one line, a folder that cannot be created or written."""
    from helpers.errors import InputError

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder) / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise InputError(folder, f"cannot be written ({err.strerror or err})") from None


def write_bytes(path: Path, data: bytes) -> Path:
    with replacing(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    with replacing(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON."""
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_csv(path: Path, frame, **options) -> Path:
    """A pandas DataFrame as CSV (``index=False`` unless said otherwise)."""
    options.setdefault("index", False)
    with replacing(path) as temporary:
        frame.to_csv(temporary, **options)
    return Path(path)


def save_model(model, path: Path) -> Path:
    """``model.save`` to a temporary ``.keras`` file, then renamed."""
    with replacing(path) as temporary:
        model.save(temporary)
    return Path(path)


def save_weights(model, path: Path) -> Path:
    """``model.save_weights`` (a ``.weights.h5`` path), atomically."""
    with replacing(path) as temporary:
        model.save_weights(temporary)
    return Path(path)


def save_figure(figure, path: Path, **options) -> Path:
    with replacing(path) as temporary:
        figure.savefig(temporary, format=Path(path).suffix.lstrip(".") or "png", **options)
    return Path(path)


def read_json(path: Path) -> Any:
    """Read JSON, naming the file if it is missing or malformed."""
    from helpers.errors import InputError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found") from None
    except UnicodeDecodeError as err:
        raise InputError(
            path, f"not UTF-8 (byte 0x{err.object[err.start]:02x} at offset {err.start})"
        ) from None
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON ({err})") from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock (``fcntl.flock`` on ``<path>.lock``) while the block runs, so
    processes that read-modify-write the same file take turns."""
    import fcntl

    lock = Path(path).with_name(f".{Path(path).name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_csv_row(path: Path, row: dict):
    """Add one row to a CSV under :func:`locked` (new columns widen it); returns every row.

    Several processes may append to the same file; none loses another's rows."""
    import pandas as pd

    with locked(path):
        rows = pd.read_csv(path).to_dict("records") if Path(path).exists() else []
        frame = pd.DataFrame([*rows, row])
        write_csv(path, frame)
    return frame
