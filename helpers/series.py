"""Run the numbered notebooks in order with papermill, into one run folder.

    python -m helpers.series --profile quick -p epochs 3 --name my-run   # or -f params.yaml
    python -m helpers.series --from 04 --only 06 --log-output --timeout 1800

Parameters are checked first; executed copies and kernel logs land in ``runs/<name>/notebooks/``;
a failure names the notebook, the cell, its error and how to continue (``--from``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from helpers.atomic import check_writable
from helpers.errors import InputError, ParameterError
from helpers.paths import NOTEBOOKS_DIR, RunFiles
from helpers.run import Run
from helpers.run_lock import hold
from helpers.settings import (
    PARAMETERS,
    PROFILES,
    checked_parameters,
    command_line_parameters,
    run_folder,
)


class NotebookFailed(RuntimeError):
    """A notebook of the series raised, died or ran out of time; the message says which and how."""


def numbered_notebooks(
    folder: Path = NOTEBOOKS_DIR, only: Sequence[str] = (), start: str | None = None
) -> list[Path]:
    """``NN_*.ipynb`` in numeric order; only names containing one of ``only``; from ``start`` on."""
    found = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(pattern in p.name for pattern in only)]
    if start:
        names = [p.name for p in found]
        matching = [i for i, name in enumerate(names) if name.startswith(start) or start in name]
        if not matching:
            raise NotebookFailed(
                f"--from {start}: no notebook matches; the series has {', '.join(names)}"
            )
        found = found[matching[0] :]
    return found


class _QuietKnownParameters(logging.Filter):
    """Papermill warns about parameters a notebook's cell does not list; ours are checked already."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        unknown = message.startswith("Passed unknown parameter: ")
        return not (unknown and message.rsplit(": ", 1)[1] in PARAMETERS)


def kernel_manager(log_path: Path, timeout: float | None) -> type:
    """A kernel manager that logs the kernel's own stderr to ``log_path`` and kills it after ``timeout`` s."""
    from jupyter_client.manager import AsyncKernelManager

    class SeriesKernelManager(AsyncKernelManager):
        timed_out = False
        opened: ClassVar[list] = []  # the kernel's log and time-out timer, closed by finish()

        async def start_kernel(self, **kw):
            log = open(log_path, "wb")  # noqa: SIM115 (lives as long as the kernel)
            SeriesKernelManager.opened.append(log)
            kw["stderr"] = log
            # No widget front-end here: training progress as a plain line every few seconds.
            kw["env"] = {"CLOTHING_PROGRESS": "lines", **kw.get("env", os.environ)}
            result = await super().start_kernel(**kw)
            if timeout:
                pid = getattr(self.provisioner, "pid", None)
                timer = threading.Timer(timeout, self._expire, args=(pid,))
                timer.daemon = True
                timer.start()
                SeriesKernelManager.opened.append(timer)
            return result

        @classmethod
        def _expire(cls, pid) -> None:
            cls.timed_out = True
            if pid:
                with contextlib.suppress(OSError):  # already gone
                    os.kill(pid, signal.SIGKILL)

        @classmethod
        def finish(cls) -> None:
            """Stop the time-out (its process id may be reused later) and close the kernel's log."""
            for item in cls.opened:
                item.cancel() if isinstance(item, threading.Timer) else item.close()
            cls.opened = []

    return SeriesKernelManager


@contextlib.contextmanager
def _heartbeat(name: str, every: float, log: Callable):
    """A line every ``every`` seconds while a notebook runs: long training cells are not silent."""
    stop, started = threading.Event(), time.perf_counter()

    def beat() -> None:
        while not stop.wait(every):
            log(f"      {name}: still running ({(time.perf_counter() - started) / 60:.1f} min)")

    if every:
        threading.Thread(target=beat, daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def run_series(
    profile: str | None = None,
    name: str | None = None,
    parameters: dict[str, Any] | None = None,
    notebooks: Sequence[Path] | None = None,
    kernel: str = "python3",
    log=print,
    timeout: float | None = None,
    log_output: bool = False,
    heartbeat: float = 0,
) -> RunFiles:
    """Execute ``notebooks`` (default: every numbered one) in order, holding the run folder
    (:func:`helpers.run_lock.hold`) until the summary; return the run folder."""
    parameters = dict(parameters or {})
    profile = profile or parameters.pop("profile", None)  # --profile wins over -p profile
    parameters.pop("profile", None)
    parameters = checked_parameters(parameters)
    parameters["run_dir"] = str(run_folder({**parameters, "profile": profile}, name))
    # every setting checked as the run will see it, the folder's recorded profile included
    settings = Run.open({**parameters, "profile": profile}, writer=False).settings
    profile = settings.profile
    run = RunFiles(settings.run_dir)
    check_writable(run.root)
    with hold(run.root):
        import papermill
        from papermill.exceptions import PapermillExecutionError

        run.ensure()
        run.executed.mkdir(exist_ok=True)
        notebooks = list(notebooks if notebooks is not None else numbered_notebooks())
        if not notebooks:
            raise NotebookFailed("no numbered notebooks found")
        logging.getLogger("papermill").addFilter(_QuietKnownParameters())
        if log_output:
            logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
            logging.getLogger("papermill").setLevel(logging.INFO)
        log(f"Series: {len(notebooks)} notebooks, profile {profile}, run folder {run.root}")
        given = {**parameters, "profile": profile, "run_dir": str(run.root)}
        for index, notebook in enumerate(notebooks, start=1):
            output = run.executed / notebook.name
            kernel_log = output.with_suffix(".kernel.log")
            manager = kernel_manager(kernel_log, timeout)
            started = time.perf_counter()
            end = "\n" if log_output else " "
            log(f"[{index}/{len(notebooks)}] {notebook.stem} ...", end=end, flush=True)
            resume = (
                f"continue with: python -m helpers.series --from {notebook.name[:2]} --profile {profile} "
                f"-p run_dir {run.root} (and the same -p/-f)"
            )
            try:
                with _heartbeat(notebook.stem, heartbeat, log):
                    papermill.execute_notebook(
                        str(notebook),
                        str(output),
                        parameters=given,
                        kernel_name=kernel,
                        cwd=str(notebook.parent),
                        progress_bar=False,
                        log_output=log_output,
                        kernel_manager_class=manager,
                    )
            except PapermillExecutionError as err:
                log("FAILED")
                first_line = (err.source or "").strip().splitlines()[:1] or [""]
                raise NotebookFailed(
                    f"{notebook.name} failed in cell {err.cell_index} of the executed copy "
                    f"(`{first_line[0]}`): {err.ename}: {err.evalue}\n  executed copy: {output}\n  {resume}"
                ) from None
            except Exception as err:  # a dead kernel or a time-out: no cell raised
                log("FAILED")
                why = f"stopped: {type(err).__name__}: {err}"
                if manager.timed_out:
                    why = f"exceeded --timeout {timeout:g} s"
                raise NotebookFailed(
                    f"{notebook.name} {why}\n  kernel log: {kernel_log}\n  {resume}"
                ) from None
            finally:
                manager.finish()
            log(f"done in {time.perf_counter() - started:.1f} s")
        from helpers.summary import write_summary

        write_summary(Run.open(given, writer=False, log=lambda _: None))
        return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.series", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--profile", choices=sorted(PROFILES), help="default: $CLOTHING_PROFILE or demo")
    add("--name", help="run folder name under runs/ (default: the profile)")
    add("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="notebook parameter, e.g. -p epochs 3")  # fmt: skip
    add("-f", "--parameters-file", type=Path, help="YAML file of name: value")
    add("--notebooks", type=Path, default=NOTEBOOKS_DIR, help="folder of NN_*.ipynb")
    add("--only", nargs="+", default=(), help="run only notebooks whose name contains one")
    add("--from", dest="start", help="start at this notebook (e.g. 04)")
    add("--timeout", type=float, help="seconds one notebook may run")
    add("--log-output", action="store_true", help="stream every cell's output")
    add("--heartbeat", type=float, default=60, help="'still running' line every N s (0: none)")
    add("--kernel", default="python3")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        parameters = command_line_parameters(args.parameters_file, args.parameter)
        run = run_series(
            args.profile,
            args.name,
            parameters,
            numbered_notebooks(args.notebooks, args.only, args.start),
            args.kernel,
            timeout=args.timeout,
            log_output=args.log_output,
            heartbeat=0 if args.log_output else args.heartbeat,
        )
    except (NotebookFailed, InputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ParameterError | InputError) else 1
    print(f"Series finished in {time.perf_counter() - started:.0f} s; run folder: {run.root}")
    if run.summary.exists():
        print(f"Results summary: {run.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
