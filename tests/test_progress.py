"""Training progress within an epoch: a live bar in notebooks and terminals, throttled lines elsewhere."""

from __future__ import annotations

import io

import pytest

from helpers.training.progress import ThrottledLines, epoch_progress, progress_mode


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_at_most_every_few_seconds():
    clock, written = FakeClock(), []
    lines = ThrottledLines(100, "epoch 1/3", 32, every=5, write=written.append, clock=clock)
    for step in range(1, 100):  # a step every 0.25 s: 25 s in all
        clock.now += 0.25
        lines(step, 2.0 - step / 100)
    # 24.75 s of steps at >= 5 s apart: lines at 5, 10, 15, 20 s, never one per update.
    assert len(written) == 4
    assert written[0] == (
        "epoch 1/3: 20/100 steps (20%), 128.0 images/s, loss 1.8000, 0:05 elapsed, 0:20 left"
    )
    assert written[-1].startswith("epoch 1/3: 80/100 steps (80%)")


def test_no_line_for_a_short_epoch_or_its_last_step():
    clock, written = FakeClock(), []
    lines = ThrottledLines(10, "epoch 1/1", 16, every=5, write=written.append, clock=clock)
    for step in range(1, 10):
        clock.now += 0.1
        lines(step, 1.0)
    clock.now += 60
    lines(10, 1.0)  # the epoch's own line follows the last step
    assert written == []


def test_time_left_in_hours():
    clock, written = FakeClock(), []
    lines = ThrottledLines(20_000, "epoch 1/15", 128, every=5, write=written.append, clock=clock)
    clock.now += 36
    lines(100, 3.0)
    assert written == [
        "epoch 1/15: 100/20000 steps (0%), 355.6 images/s, loss 3.0000, 0:36 elapsed, 1:59:24 left"
    ]
    clock.now += 3600
    lines(20_000 - 1, 3.0)
    assert written[-1].endswith("1:00:36 elapsed, 0:00 left")


def test_a_pass_that_does_not_train_shows_no_loss():
    clock, written = FakeClock(), []
    lines = ThrottledLines(96, "train features", 32, every=5, write=written.append, clock=clock)
    clock.now += 10
    lines(32, None)
    assert written == ["train features: 32/96 steps (33%), 102.4 images/s, 0:10 elapsed, 0:20 left"]


class Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_mode_follows_where_it_is_shown():
    # Outside a notebook kernel (as here): a terminal gets the bar, a pipe or log gets lines.
    assert progress_mode({}, Stream(tty=True)) == "bar"
    assert progress_mode({}, Stream(tty=False)) == "lines"
    # The series runner's kernels (papermill, no widget front-end) are told to print lines.
    assert progress_mode({"CLOTHING_PROGRESS": "lines"}, Stream(tty=True)) == "lines"
    assert progress_mode({"CLOTHING_PROGRESS": "widget"}, Stream(tty=False)) == "widget"
    assert progress_mode({"CLOTHING_PROGRESS": "nonsense"}, Stream(tty=False)) == "lines"


def test_mode_in_a_notebook_kernel(monkeypatch):
    ipykernel_shell = pytest.importorskip("ipykernel.zmqshell")

    class Shell(ipykernel_shell.ZMQInteractiveShell.__mro__[0]):  # a kernel's shell class
        def __init__(self):  # no kernel needed: only its type is looked at
            pass

    import IPython

    monkeypatch.setattr(IPython, "get_ipython", Shell)
    assert progress_mode({}, Stream(tty=False)) == "widget"
    assert progress_mode({"CLOTHING_PROGRESS": "lines"}, Stream(tty=False)) == "lines"


def test_epoch_progress_shows_nothing_unless_asked(capsys):
    with epoch_progress(10, "epoch 1/1", 8, show=False) as update:
        assert update is None
    with epoch_progress(10, "epoch 1/1", 8, show=True, mode="lines") as update:
        assert isinstance(update, ThrottledLines)
        update(1, 1.0)
    with epoch_progress(10, "epoch 1/1", 8, show=True, mode="bar") as update:
        for step in range(1, 11):
            update(step, 0.5)
        assert update.bar.n == 10 and update.bar.total == 10
        assert update.bar.postfix.endswith("images/s, loss 0.5000")
    err = capsys.readouterr().err
    assert "epoch 1/1:   0%|" in err and "0/10 [00:00<?, ?step/s]" in err  # drawn on stderr
