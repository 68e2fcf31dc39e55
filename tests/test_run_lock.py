"""One process per run folder: a second run is refused at once; a killed holder frees the folder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from helpers.run_lock import HELD_ENV, RunFolderBusy, hold


def write_notebook(path, source):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell("profile = None\nrun_dir = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)


def environment():
    env = {k: v for k, v in os.environ.items() if k != HELD_ENV}
    return {**env, "CLOTHING_PROFILE": "quick"}


def wait_for(path, process, seconds=120):
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the holder ended early ({process.returncode}): {out}\n{err}")
        assert time.monotonic() < deadline, f"{path} did not appear in {seconds} s"
        time.sleep(0.2)


def stop(pid):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_hold_refuses_a_second_holder_and_names_it(tmp_path, monkeypatch):
    monkeypatch.delenv(HELD_ENV, raising=False)
    code = (
        "import sys, time\nfrom helpers.run_lock import hold\n"
        "with hold(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(
                RunFolderBusy, match=rf"run: in use by another run \(process {holder.pid}\)"
            ),
            hold(tmp_path / "run"),
        ):
            pass
        os.kill(holder.pid, signal.SIGKILL)  # no chance to clean up
        holder.wait(timeout=10)
        with hold(tmp_path / "run") as held:  # usable at once
            assert (held / ".run.lock").read_text().strip() == str(os.getpid())
            assert os.environ[HELD_ENV] == str(held)
            with hold(tmp_path / "run"):  # the holder (or its child) passes through
                pass
        assert HELD_ENV not in os.environ
    finally:
        stop(holder.pid)
        holder.wait(timeout=10)


def test_second_series_and_train_on_a_held_folder_stop_at_once(tmp_path):
    """A real series holds its folder while a notebook runs; its own kernel passes through; a
    second series and a training run on the folder stop within seconds with one line naming the
    holder; SIGKILLed, the holder leaves the folder usable at once."""
    notebooks, run_dir, marker = tmp_path / "nbs", tmp_path / "run", tmp_path / "kernel.json"
    notebooks.mkdir()
    write_notebook(
        notebooks / "01_hold.ipynb",
        "import json, os, time\nfrom helpers.run_lock import hold\n"
        "with hold(run_dir):  # a kernel of the holder is not blocked\n    pass\n"
        f"open({str(marker)!r}, 'w').write(json.dumps(os.getpid()))\ntime.sleep(120)",
    )
    series = [sys.executable, "-m", "helpers.series", "--notebooks", str(notebooks)]
    series += ["--heartbeat", "0", "-p", "run_dir", str(run_dir)]
    holder = subprocess.Popen(
        series, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    kernel = None
    try:
        wait_for(marker, holder)
        kernel = json.loads(marker.read_text())
        for command in (
            series,
            [sys.executable, "-m", "helpers.train", "--run-dir", str(run_dir)],
        ):
            started = time.monotonic()
            second = subprocess.run(
                command, env=environment(), capture_output=True, text=True, timeout=60
            )
            seconds = time.monotonic() - started
            assert second.returncode != 0, second.stdout
            lines = second.stderr.strip().splitlines()
            assert lines == [
                f"error: {run_dir}: in use by another run (process {holder.pid}); "
                "wait for it or choose another run_dir"
            ], second.stderr
            assert seconds < 30, f"{command[2]} took {seconds:.1f} s to refuse"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        with hold(run_dir):
            pass
    finally:
        stop(holder.pid)
        holder.communicate(timeout=10)
        if kernel:
            stop(kernel)
