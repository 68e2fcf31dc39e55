"""Quiet TensorFlow's C++ start-up lines, and only those, in every process that imports ``helpers``.

``TF_CPP_MIN_LOG_LEVEL=2`` hides TensorFlow's INFO and WARNING lines once its logging is set up, but
a few lines come earlier, from static initialisers that write straight to file descriptor 2 (absl's
"All log messages before absl::InitializeLog()" banner, ``port.cc``'s oneDNN note, ``cudart_stub``'s
"Could not find cuda drivers"), and on a machine without a CUDA driver the first device query logs
``failed call to cuInit`` as an ERROR. In Jupyter each becomes a red stderr box that looks like a
failure. :func:`install` adds a one-shot import hook: the first ``import tensorflow`` (directly or
through Keras) runs with file descriptor 2 captured; afterwards every captured line is written back
except those start-up lines. Real errors, and everything TensorFlow logs later, still show.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# Start-up lines TensorFlow writes before its log level applies (or, for cuInit, only because there
# is no CUDA driver on this machine). Each pattern names its source file, so nothing else matches.
STARTUP_LINES = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard)\.cc:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    r")$"
)
NO_DRIVER = "cudart_stub.cc"
CUINIT_LINE = re.compile(
    r"^E\d{4} [\d:. ]+\d+ cuda_(platform|driver|executor)\.cc:\d+\] failed call to cuInit"
)


def keep_line(line: str, no_driver: bool) -> bool:
    """Whether a captured stderr line is shown: everything but the known start-up lines."""
    text = line.rstrip("\r\n")
    if STARTUP_LINES.match(text):
        return False
    return not (no_driver and CUINIT_LINE.match(text))


def filter_startup(text: str) -> str:
    """``text`` without TensorFlow's start-up lines (cuInit's only when no CUDA driver was found)."""
    no_driver = NO_DRIVER in text and "Could not find cuda drivers" in text
    return "".join(line for line in text.splitlines(keepends=True) if keep_line(line, no_driver))


@contextlib.contextmanager
def captured_stderr_fd() -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file for the block; the list gets what was written."""
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile(mode="w+b") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield captured
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                sink.seek(0)
                captured.append(sink.read().decode("utf-8", "replace"))
    finally:
        os.close(saved)


def _write_stderr(text: str) -> None:
    if text:
        with contextlib.suppress(OSError):
            os.write(2, text.encode("utf-8", "replace"))


def _python_level(logger: logging.Logger) -> None:
    """TF_CPP_MIN_LOG_LEVEL for TensorFlow's Python logger too (its ``get_logger()`` sets INFO in
    Jupyter, where "INFO:tensorflow:Assets written to ..." then shows as a red box)."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2").strip()
    logger.setLevel(PYTHON_LEVELS.get(level, logging.ERROR))


def _quiet_exec(exec_module):
    """``exec_module`` of TensorFlow's loader, with its start-up lines filtered out."""

    def run(module) -> None:
        try:
            os.fstat(2)
        except OSError:  # no file descriptor 2 (a windowless process): import as usual
            exec_module(module)
            return
        captured: list[str] = []
        try:
            with captured_stderr_fd() as captured:
                exec_module(module)
                # The first device query is where cuInit fails; do it here, while captured (it
                # initialises no device, so logical-device configuration still works later).
                with contextlib.suppress(Exception):
                    module.config.list_physical_devices("GPU")
                with contextlib.suppress(Exception):
                    _python_level(module.get_logger())
        finally:
            _write_stderr(filter_startup("".join(captured)))

    return run


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` through the other finders and quiets its first import; then leaves."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader.exec_module = _quiet_exec(spec.loader.exec_module)
        return spec


# TF_CPP_MIN_LOG_LEVEL for TensorFlow's Python logger too ("INFO:tensorflow:Assets written to ...").
PYTHON_LEVELS = {"0": logging.INFO, "1": logging.WARNING, "2": logging.ERROR, "3": logging.CRITICAL}


def install() -> None:
    """Set TensorFlow's log level (your own value wins), for its C++ and its Python logging, and
    quiet its start-up lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ.get("CLOTHING_TF_STARTUP_LOG") == "1":
        return
    if not any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
