"""Atomic writes: every artifact is written to a temporary file in its own folder, then renamed,
so a process killed mid-write leaves the previous file (or none), never half of one.
"""

import contextlib
import hashlib
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
    check_target(path, writable=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The final suffix kept (Keras insists on ``.keras`` and ``.weights.h5``), a dot in front.
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
    """The mode a plain ``open`` gives (0666 less the umask): others must read the run folder."""
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


def check_target(path: Path, writable: bool = True) -> None:
    """Refuse, before the work, a target that is a folder or (``writable``) in an unwritable one."""
    from helpers.errors import InputError

    if Path(path).is_dir():
        raise InputError(path, "is a folder: give a file name")
    if writable:
        check_writable(Path(path).parent)


def _write(path: Path, write, *args, **options) -> Path:
    """``write(temporary, *args, **options)`` into a temporary file, then renamed over ``path``."""
    with replacing(path) as temporary:
        write(temporary, *args, **options)
    return Path(path)


def write_bytes(path: Path, data: bytes) -> Path:
    return _write(path, Path.write_bytes, data)


def write_text(path: Path, text: str) -> Path:
    return _write(path, Path.write_text, text)


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON."""
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_csv(path: Path, frame, **options) -> Path:
    """A pandas DataFrame as CSV (``index=False`` unless said otherwise)."""
    return _write(path, frame.to_csv, **{"index": False, **options})


def save_model(model, path: Path) -> Path:
    return _write(path, model.save)


def save_weights(model, path: Path) -> Path:  # a ``.weights.h5`` path
    return _write(path, model.save_weights)


def save_figure(figure, path: Path, **options) -> Path:
    return _write(path, figure.savefig, format=Path(path).suffix.lstrip(".") or "png", **options)


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
    """Hold an exclusive ``fcntl.flock`` on ``.<name>.lock`` while the block runs."""
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
    """Add one row to a CSV under :func:`locked` (new columns widen it); returns every row."""
    import pandas as pd

    with locked(path):
        rows = pd.read_csv(path).to_dict("records") if Path(path).exists() else []
        frame = pd.DataFrame([*rows, row])
        write_csv(path, frame)
    return frame


def file_digest(path: Path) -> str:
    """A file's SHA-256 (hex), read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
