"""One process at a time per run folder: an OS lock (``fcntl.flock`` on ``.run.lock``) held for a run.

The kernel releases it when the process ends, however it ends (SIGKILL included); a second run
stops at once naming the holder's process id. Children inherit ``$CLOTHING_RUN_HELD`` and pass
through, so a series never blocks its own notebook kernels.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from helpers.errors import InputError
from helpers.paths import RunFiles

HELD_ENV = "CLOTHING_RUN_HELD"  # the run folder an ancestor process holds


class RunFolderBusy(InputError):
    """The run folder is held by another running process."""


def holder(root: Path) -> int | None:
    """The process id written in ``root``'s lock file (None when unreadable or empty)."""
    for _ in range(20):  # the holder writes its pid just after taking the lock
        try:
            text = RunFiles(root).lock.read_text().strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.01)
    return None


@contextlib.contextmanager
def hold(root: Path) -> Iterator[Path]:
    """Hold run folder ``root`` (created if missing) while the block runs; RunFolderBusy if taken."""
    root = Path(root).expanduser().absolute()
    if os.environ.get(HELD_ENV) == str(root):  # a child of the holder, or the holder again
        yield root
        return
    root.mkdir(parents=True, exist_ok=True)
    lock = RunFiles(root).lock
    try:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)  # not inherited by children
    except OSError as err:
        raise InputError(lock, f"cannot be opened ({err.strerror or err})") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = holder(root)
            who = f"process {pid}" if pid else "another process"
            raise RunFolderBusy(
                root, f"in use by another run ({who}); wait for it or choose another run_dir"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        previous = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = str(root)
        try:
            yield root
        finally:
            if previous is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = previous
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock
