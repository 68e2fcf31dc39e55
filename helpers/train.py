"""Train a run from the command line: the same code path as notebook 03, on one or many devices.

    python -m helpers.train --profile quick --run-dir runs/x
    python -m helpers.train --profile quick --run-dir runs/x --strategy mirrored --cpu-devices 2
    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}' \\
        python -m helpers.train --profile deepfashion -p data_dir /data/DeepFashion \\
        --run-dir /shared/runs/df --strategy multiworker          # and index 1 on the other machine

The chief writes ``model.keras``, ``history.csv`` and ``training.json`` (into a folder every
worker reaches); the same command again resumes from the last finished epoch, or says the model
is current (``--force`` trains again). ``--cpu-devices N`` lets ``mirrored`` run without GPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from helpers.errors import InputError
from helpers.run_lock import hold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.train", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--profile", help="demo, quick, fashion_mnist or deepfashion")
    add("--run-dir", type=Path, help="the run folder (default runs/<profile>)")
    add("--strategy", help="auto, one, mirrored or multiworker")
    add("--cpu-devices", type=int, default=0, help="split the CPU into N devices")
    add("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="any run setting, e.g. -p epochs 3")  # fmt: skip
    add("-f", "--parameters-file", type=Path, help="YAML file of name: value")
    add("--verbose", type=int, default=1, choices=(0, 1, 2),
        help="1: a live bar in each epoch (a line every few seconds off a terminal) and a line "
        "per epoch; 2: a line per epoch; 0: quiet")  # fmt: skip
    add("--force", action="store_true", help="train again even when model.keras is current")
    args = parser.parse_args(argv)

    from helpers.settings import command_line_parameters

    try:
        parameters = command_line_parameters(
            args.parameters_file, args.parameter, run_dir=args.run_dir, strategy=args.strategy
        )
        if args.profile:
            parameters["profile"] = args.profile
        from helpers.atomic import check_writable
        from helpers.run import Run

        settings = Run.open(parameters, writer=False).settings  # reads run.json; no TensorFlow yet
        check_writable(settings.run_dir)
        with contextlib.ExitStack() as held:
            # The chief holds the run folder; multi-worker tasks share it, and only the strategy
            # knows which task is the chief, so they take it once the strategy exists.
            if settings.strategy != "multiworker":
                held.enter_context(hold(settings.run_dir))
            # A strategy (and logical CPUs) must exist before TensorFlow runs anything else.
            from helpers.training.distribute import is_chief, make_strategy, split_cpu

            split_cpu(args.cpu_devices)
            strategy = make_strategy(settings.strategy)
            if settings.strategy == "multiworker" and is_chief(strategy):
                held.enter_context(hold(settings.run_dir))
            run = Run.open(parameters, writer=is_chief(strategy))
            trained = run.train(verbose=args.verbose, strategy=strategy, force=args.force)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: the last finished epoch is saved; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    test = trained.record.get("test") or {}
    if run.writer:
        print(
            f"Saved {run.files.model} (test accuracy {test.get('accuracy', float('nan')):.2%}, "
            f"best epoch {trained.record.get('best_epoch', 0) + 1} of {trained.record.get('epochs_run')})"
        )
    else:
        print("Worker finished; the chief saved the model")
    return 0


if __name__ == "__main__":
    from helpers.tf_logging import quiet_cli

    sys.exit(quiet_cli(main))
