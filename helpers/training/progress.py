"""A live progress display within a training epoch: a ``tqdm.notebook`` widget in a notebook
kernel, tqdm's text bar in a terminal, else (papermill logs, papermill#765; CI; pipes) a plain line
at most every ``LINE_SECONDS``. ``CLOTHING_PROGRESS=widget|bar|lines`` forces one.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable

LINE_SECONDS = 5.0
MODES = ("widget", "bar", "lines")


def _in_notebook_kernel() -> bool:
    """Whether this is an IPython kernel (JupyterLab, Colab) that can show ipywidgets."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or "ZMQInteractiveShell" not in {c.__name__ for c in type(shell).__mro__}:
        return False
    return importlib.util.find_spec("ipywidgets") is not None


def progress_mode(environ=os.environ, stream=None) -> str:
    """``widget``, ``bar`` or ``lines`` (see the module's docstring)."""
    forced = environ.get("CLOTHING_PROGRESS", "").strip().lower()
    if forced in MODES:
        return forced
    if _in_notebook_kernel():
        return "widget"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ThrottledLines:
    """Progress as plain lines, at most one every ``every`` seconds (none for a short epoch)."""

    def __init__(
        self,
        total: int,
        desc: str,
        batch_size: int,
        every: float = LINE_SECONDS,
        write: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total, self.desc, self.batch_size, self.every = total, desc, batch_size, every
        self.write, self.clock = write, clock
        self.started = self.last = clock()

    def line(self, step: int, loss: float | None, now: float) -> str:
        """``epoch 1/3: 12/40 steps (30%), 95.2 images/s, loss 1.2345, 0:03 elapsed, 0:07 left``
        (no loss part when ``loss`` is None: a pass that does not train)."""
        elapsed = max(now - self.started, 1e-9)
        rate = step * self.batch_size / elapsed
        left = elapsed / step * (self.total - step) if step else float("nan")
        shown_left = _clock(left) if step else "?"
        return (
            f"{self.desc}: {step}/{self.total} steps ({step / max(self.total, 1):.0%}), "
            f"{_rate_and_loss(rate, loss)}, {_clock(elapsed)} elapsed, {shown_left} left"
        )

    def __call__(self, step: int, loss: float | None) -> None:
        now = self.clock()
        if now - self.last >= self.every and step < self.total:
            self.last = now
            self.write(self.line(step, loss, now))

    def close(self) -> None:  # nothing to tidy: the epoch's own line follows
        pass


def _rate_and_loss(rate: float, loss: float | None) -> str:
    return f"{rate:.1f} images/s" + ("" if loss is None else f", loss {loss:.4f}")


class _TqdmBar:
    """A tqdm bar (widget or text) over an epoch's steps, showing images/s and the loss."""

    def __init__(self, total: int, desc: str, batch_size: int, widget: bool):
        if widget:
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
        self.batch_size = batch_size
        self.started = time.monotonic()
        self.bar = tqdm(total=total, desc=desc, unit="step", leave=widget, mininterval=0.5)

    def __call__(self, step: int, loss: float | None) -> None:
        rate = step * self.batch_size / max(time.monotonic() - self.started, 1e-9)
        self.bar.set_postfix_str(_rate_and_loss(rate, loss), refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class epoch_progress:
    """``with epoch_progress(steps, "epoch 1/3", batch_size, show) as update: update(step, loss)``;
    ``update`` is None when not shown."""

    def __init__(self, total: int, desc: str, batch_size: int, show: bool, mode: str | None = None):
        self.display = None
        if show:
            mode = mode or progress_mode()
            if mode == "lines":
                self.display = ThrottledLines(total, desc, batch_size)
            else:
                self.display = _TqdmBar(total, desc, batch_size, widget=mode == "widget")

    def __enter__(self):
        return self.display

    def __exit__(self, *exc):
        if self.display is not None:
            self.display.close()
