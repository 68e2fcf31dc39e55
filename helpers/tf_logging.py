"""Quiet TensorFlow's C++ start-up lines (written to file descriptor 2 before its log level applies,
red boxes in Jupyter), and only those: :func:`install`'s one-shot import hook captures fd 2 during
the first ``import tensorflow`` and writes back every other line.
"""

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator

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


def filter_startup(text: str) -> str:
    """``text`` without TensorFlow's start-up lines (cuInit's only when no CUDA driver was found)."""
    no_driver = NO_DRIVER in text and "Could not find cuda drivers" in text
    lines = [(line, line.rstrip("\r\n")) for line in text.splitlines(keepends=True)]
    drop = lambda t: STARTUP_LINES.match(t) or (no_driver and CUINIT_LINE.match(t))  # noqa: E731
    return "".join(line for line, bare in lines if not drop(bare))


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
                with contextlib.suppress(
                    Exception
                ):  # its Python logger too ("INFO:tensorflow:...")
                    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2").strip()
                    module.get_logger().setLevel(PYTHON_LEVELS.get(level, logging.ERROR))
        finally:
            if text := filter_startup("".join(captured)):
                with contextlib.suppress(OSError):
                    os.write(2, text.encode("utf-8", "replace"))

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


PYTHON_LEVELS = {"0": logging.INFO, "1": logging.WARNING, "2": logging.ERROR, "3": logging.CRITICAL}


def install() -> None:
    """Set TensorFlow's C++ and Python log level (your own value wins); quiet its start-up lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ.get("CLOTHING_TF_STARTUP_LOG") == "1":
        return
    if not any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


# TensorFlow's C++ and libjpeg's lines while decoding: command lines give their own reason per file.
LIBRARY_LINES = re.compile(
    rb"[IWE]\d{4} [\d:.]+ +\d+ [\w.-]+:\d+\] [^\n]*\n"
    rb"|(Input file read error|Improper call to JPEG library in state \d+|Premature end of JPEG"
    rb" file|Corrupt JPEG data: [^\n]*|Not a JPEG file: [^\n]*|Invalid JPEG file structure: "
    rb"[^\n]*|Bogus [^\n]*|Unsupported marker type [^\n]*)\n"
)


def quiet_cli(main: Callable[[], int]) -> int:
    """Run a command line's ``main`` with file descriptor 2 filtered of :data:`LIBRARY_LINES`."""
    try:
        saved = os.dup(2)
    except OSError:
        return main()
    read_end, write_end = os.pipe()
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
                os.write(saved, LIBRARY_LINES.sub(b"", pending[:cut]))
                pending = pending[cut:]
        os.write(saved, LIBRARY_LINES.sub(b"", pending))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        return main()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the pump drains it and ends
        thread.join(5)
        os.close(saved)
