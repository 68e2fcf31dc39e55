"""Run the numbered notebooks in order with papermill, into one run folder.

    python -m helpers.series                     # the demo profile into runs/demo/
    python -m helpers.series --profile quick     # the CI-sized profile
    python -m helpers.series -p epochs 3 -p model baseline_bn --name my-run

Executed copies land in ``runs/<name>/notebooks/``; artifacts beside them. On
failure the runner names the notebook, the failing cell and its error.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers.config import PROFILES, profile_name
from helpers.paths import NOTEBOOKS_DIR, RUNS_DIR, RunFiles


class NotebookFailed(RuntimeError):
    """A notebook of the series raised; the message names it and the failing cell."""


def numbered_notebooks(folder: Path = NOTEBOOKS_DIR, only: Sequence[str] = ()) -> list[Path]:
    """``NN_*.ipynb`` in ``folder`` in numeric order, optionally only names containing a pattern."""
    found = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if any(pattern in p.name for pattern in only)]
    return found


def parse_value(text: str) -> Any:
    """``-p`` values: Python literals (``3``, ``None``, ``0.5``) or else plain strings."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def kernel_log_manager(log_path: Path) -> type:
    """A kernel manager that writes the kernel process's own stderr to ``log_path``.

    TensorFlow's C++ start-up lines and ipykernel's warnings would otherwise
    interleave with the runner's progress lines; the file keeps them for a
    post-mortem (a kernel killed for memory, say).
    """
    from jupyter_client.manager import AsyncKernelManager

    class KernelLogManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            self._stderr_log = open(log_path, "wb")  # noqa: SIM115 (lives as long as the kernel)
            kw["stderr"] = self._stderr_log
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return KernelLogManager


def run_series(
    profile: str | None = None,
    name: str | None = None,
    parameters: dict[str, Any] | None = None,
    notebooks: Sequence[Path] | None = None,
    kernel: str = "python3",
    log=print,
) -> RunFiles:
    """Execute ``notebooks`` (default: every numbered one) in order; return the run folder."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    profile = profile_name(profile)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # kernels inherit it
    parameters = dict(parameters or {})
    run_dir = Path(parameters.pop("run_dir", None) or RUNS_DIR / (name or profile))
    run = RunFiles(run_dir.resolve()).ensure()
    run.executed.mkdir(exist_ok=True)
    notebooks = list(notebooks if notebooks is not None else numbered_notebooks())
    if not notebooks:
        raise NotebookFailed("no numbered notebooks found")
    log(f"Series: {len(notebooks)} notebooks, profile {profile}, run folder {run.root}")
    for index, notebook in enumerate(notebooks, start=1):
        output = run.executed / notebook.name
        started = time.perf_counter()
        log(f"[{index}/{len(notebooks)}] {notebook.stem} ...", end=" ", flush=True)
        try:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters={"profile": profile, "run_dir": str(run.root), **parameters},
                kernel_name=kernel,
                cwd=str(notebook.parent),
                progress_bar=False,
                kernel_manager_class=kernel_log_manager(output.with_suffix(".kernel.log")),
            )
        except PapermillExecutionError as err:
            log("FAILED")
            first_line = (err.source or "").strip().splitlines()[:1] or [""]
            raise NotebookFailed(
                f"{notebook.name} failed in cell {err.cell_index} of the executed copy "
                f"(`{first_line[0]}`): {err.ename}: {err.evalue}\n  executed copy: {output}"
            ) from None
        except Exception as err:  # a dead kernel or a time-out: no cell raised
            log("FAILED")
            raise NotebookFailed(
                f"{notebook.name} stopped: {type(err).__name__}: {err}\n"
                f"  kernel log: {output.with_suffix('.kernel.log')}"
            ) from None
        log(f"done in {time.perf_counter() - started:.1f} s")
    from helpers.summary import write_summary

    write_summary(run)
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
    parser.add_argument(
        "--notebooks", type=Path, default=NOTEBOOKS_DIR, help="folder of NN_*.ipynb"
    )
    parser.add_argument(
        "--only", nargs="+", default=(), help="run only notebooks whose name contains one"
    )
    parser.add_argument("--kernel", default="python3")
    args = parser.parse_args(argv)
    parameters = {key: parse_value(value) for key, value in args.parameter}
    started = time.perf_counter()
    try:
        run = run_series(
            args.profile,
            args.name,
            parameters,
            numbered_notebooks(args.notebooks, args.only),
            args.kernel,
        )
    except NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"Series finished in {time.perf_counter() - started:.0f} s; run folder: {run.root}")
    if run.summary.exists():
        print(f"Results summary: {run.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
