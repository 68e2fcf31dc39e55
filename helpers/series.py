"""Run the numbered notebooks in order with papermill, into one run folder.

    python -m helpers.series                                  # the demo profile into runs/demo/
    python -m helpers.series --profile quick                  # the CI-sized profile
    python -m helpers.series -p epochs 3 -p model baseline_bn --name my-run
    python -m helpers.series -f params.yaml --from 04         # settings from a file; 04 onwards
    python -m helpers.series --only 06 --log-output --timeout 1800

Parameters are checked before anything runs (a misspelt ``-p epoch 3`` or
``-p epochs abc`` stops with one line naming it); relative paths are resolved
against the folder you run this from. Executed copies land in
``runs/<name>/notebooks/`` with each kernel's own log beside them. While a
notebook runs, a line every ``--heartbeat`` seconds says how long it has been
running; ``--log-output`` streams every cell's output instead. On failure the
runner names the notebook, the failing cell and its error, and how to continue
(``--from``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from helpers.errors import InputError, ParameterError
from helpers.paths import NOTEBOOKS_DIR, RUNS_DIR, RunFiles
from helpers.settings import PARAMETERS, PROFILES, check_names, resolve


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


def parse_value(text: str) -> Any:
    """``-p`` values: Python literals (``3``, ``None``, ``0.5``, ``True``) or else plain strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def read_parameter_file(path: Path) -> dict[str, Any]:
    """``-f params.yaml``: a mapping of setting names to values (YAML or JSON)."""
    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(path, "no such parameter file") from None
    except yaml.YAMLError as err:
        raise InputError(path, f"not valid YAML ({str(err).splitlines()[0]})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InputError(path, f"expected name: value lines, got a {type(loaded).__name__}")
    return loaded


def checked_parameters(parameters: dict[str, Any], profile: str | None) -> dict[str, Any]:
    """Parameters validated against the one definition, with paths made absolute (for the kernels)."""
    check_names(parameters)
    given = {**parameters, **({"profile": profile} if profile else {})}
    resolve(given)  # every type, range and name, before any notebook starts
    absolute = dict(parameters)
    for name, value in parameters.items():
        if PARAMETERS[name].kind == "path" and value is not None:
            absolute[name] = str(Path(value).expanduser().absolute())
    return absolute


def writable(folder: Path) -> None:
    """Refuse a run folder that cannot be created or written, in one line."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise InputError(
            folder, f"the run folder cannot be written ({err.strerror or err})"
        ) from None


class _QuietKnownParameters(logging.Filter):
    """Papermill warns about parameters a notebook's cell does not list; ours are checked already."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message.startswith("Passed unknown parameter: ")
            and message.rsplit(": ", 1)[1] in PARAMETERS
        )


def kernel_manager(log_path: Path, timeout: float | None) -> type:
    """A kernel manager that logs the kernel's own stderr to ``log_path`` and kills it after ``timeout`` s.

    ``start_kernel`` is jupyter_client's public entry point; ``stderr`` is passed on to the
    process launcher, and ``provisioner.pid`` names the process to stop.
    """
    from jupyter_client.manager import AsyncKernelManager

    class SeriesKernelManager(AsyncKernelManager):
        timed_out = False

        async def start_kernel(self, **kw):
            self._stderr_log = open(log_path, "wb")  # noqa: SIM115 (lives as long as the kernel)
            kw["stderr"] = self._stderr_log
            result = await super().start_kernel(**kw)
            if timeout:
                pid = getattr(self.provisioner, "pid", None)
                timer = threading.Timer(timeout, self._expire, args=(pid,))
                timer.daemon = True
                timer.start()
            return result

        @classmethod
        def _expire(cls, pid) -> None:
            cls.timed_out = True
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    return SeriesKernelManager


class _Heartbeat:
    """A line every ``every`` seconds while a notebook runs: long training cells are not silent."""

    def __init__(self, name: str, every: float, log: Callable):
        self.name, self.every, self.log = name, every, log
        self.stop = threading.Event()
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.every):
            minutes = (time.perf_counter() - self.started) / 60
            self.log(f"      {self.name}: still running ({minutes:.1f} min)")

    def __enter__(self):
        if self.every:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()


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
    """Execute ``notebooks`` (default: every numbered one) in order; return the run folder."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    parameters = checked_parameters(dict(parameters or {}), profile)
    settings = resolve({**parameters, **({"profile": profile} if profile else {})})
    run_dir = Path(parameters.pop("run_dir", None) or RUNS_DIR / (name or settings.profile))
    run = RunFiles(run_dir.absolute())
    writable(run.root)
    run.ensure()
    run.executed.mkdir(exist_ok=True)
    notebooks = list(notebooks if notebooks is not None else numbered_notebooks())
    if not notebooks:
        raise NotebookFailed("no numbered notebooks found")
    logging.getLogger("papermill").addFilter(_QuietKnownParameters())
    if log_output:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        logging.getLogger("papermill").setLevel(logging.INFO)
    log(f"Series: {len(notebooks)} notebooks, profile {settings.profile}, run folder {run.root}")
    for index, notebook in enumerate(notebooks, start=1):
        output = run.executed / notebook.name
        kernel_log = output.with_suffix(".kernel.log")
        manager = kernel_manager(kernel_log, timeout)
        started = time.perf_counter()
        log(
            f"[{index}/{len(notebooks)}] {notebook.stem} ...",
            end="\n" if log_output else " ",
            flush=True,
        )
        resume = f"continue with: python -m helpers.series --from {notebook.name[:2]} (same -p/-f)"
        try:
            with _Heartbeat(notebook.stem, heartbeat, log):
                papermill.execute_notebook(
                    str(notebook),
                    str(output),
                    parameters={
                        "profile": settings.profile,
                        "run_dir": str(run.root),
                        **parameters,
                    },
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
            why = (
                f"exceeded --timeout {timeout:g} s"
                if manager.timed_out
                else f"stopped: {type(err).__name__}: {err}"
            )
            raise NotebookFailed(
                f"{notebook.name} {why}\n  kernel log: {kernel_log}\n  {resume}"
            ) from None
        log(f"done in {time.perf_counter() - started:.1f} s")
    from helpers.run import Run
    from helpers.summary import write_summary

    given = {**parameters, "profile": settings.profile, "run_dir": str(run.root)}
    write_summary(Run.open(given, writer=False, log=lambda _: None))
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.series", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), help="default: $CLOTHING_PROFILE or demo"
    )
    parser.add_argument("--name", help="run folder name under runs/ (default: the profile)")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="notebook parameter, e.g. -p epochs 3",
    )
    parser.add_argument("-f", "--parameters-file", type=Path, help="YAML file of name: value")
    parser.add_argument(
        "--notebooks", type=Path, default=NOTEBOOKS_DIR, help="folder of NN_*.ipynb"
    )
    parser.add_argument(
        "--only", nargs="+", default=(), help="run only notebooks whose name contains one"
    )
    parser.add_argument("--from", dest="start", help="start at this notebook (e.g. 04)")
    parser.add_argument("--timeout", type=float, help="seconds one notebook may run")
    parser.add_argument("--log-output", action="store_true", help="stream every cell's output")
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=60,
        help="seconds between 'still running' lines (0: none)",
    )
    parser.add_argument("--kernel", default="python3")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        parameters = read_parameter_file(args.parameters_file) if args.parameters_file else {}
        parameters.update({key: parse_value(value) for key, value in args.parameter})
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
