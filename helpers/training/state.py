"""A fit's saved state: one ``.npz`` file that lets an interrupted fit continue exactly.

Every variable of each group (``model``, ``optimizer``, ``augment``: generator states included),
the best weights and the :class:`Progress`. A state made with other settings, for another
architecture, or unreadable is discarded with one line; nothing is assigned until all fits.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from helpers import atomic
from helpers.paths import RunFiles


@dataclass
class Progress:
    """Where a fit stands: epochs done, early-stopping state, history, and its settings."""

    epochs_done: int = 0
    best_loss: float = math.inf
    best_epoch: int = -1
    wait: int = 0
    stopped: bool = False
    history: list[dict] = field(default_factory=list)
    key: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Checkpoint:
    """Where a fit keeps its state and results, the settings ``key`` a saved state must match, and
    whether this process writes there (``False``: a worker that only reads the chief's)."""

    files: RunFiles
    key: dict = field(default_factory=dict)
    write: bool = True


def save_state(path: Path, groups: dict[str, list], progress: Progress, best) -> None:
    """Write every variable of ``groups``, the ``best`` weights and ``progress`` atomically."""
    arrays = {
        f"{group}/{i}": np.asarray(v.numpy())
        for group, variables in groups.items()
        for i, v in enumerate(variables)
    }
    arrays.update({f"best/{i}": w for i, w in enumerate(best or [])})
    arrays["progress"] = np.frombuffer(
        json.dumps(asdict(progress), default=float).encode(), np.uint8
    )
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic.write_bytes(path, buffer.getvalue())


def load_state(
    path: Path,
    key: dict,
    groups: dict[str, list],
    weight_count: int,
    log: Callable[[str], None],
    chief: bool = True,
) -> tuple[Progress, list | None]:
    """Assign the state at ``path`` to ``groups`` when made with settings ``key`` and fitting every
    variable: its progress and best weights. Else a fresh :class:`Progress` and one line."""

    def discard(message: str) -> tuple[Progress, None]:  # the chief deletes the stale file
        log(message)
        if chief:
            path.unlink(missing_ok=True)
        return Progress(key=key), None

    if not path.exists():
        return Progress(key=key), None
    try:
        with np.load(path) as saved:
            progress = Progress(**json.loads(saved["progress"].tobytes()))
            old = progress.key
            differing = sorted(k for k in set(key) | set(old) if key.get(k) != old.get(k))
            if differing:
                shown = ", ".join(f"{k}={old.get(k)!r} (now {key.get(k)!r})" for k in differing)
                return discard(f"Discarding the checkpoint of an unfinished fit made with {shown}")
            arrays = {name: saved[name] for name in saved.files}
        saved_groups = {name.split("/")[0] for name in arrays} - {"best", "progress"}
        if saved_groups != set(groups):
            raise ValueError(f"saved {sorted(saved_groups)}, this fit has {sorted(groups)}")
        planned = {
            group: [arrays[f"{group}/{i}"] for i in range(len(variables))]
            for group, variables in groups.items()
        }
        for group, variables in groups.items():  # every count and shape first, then assign
            check(variables, planned[group], arrays, group)
        for group, variables in groups.items():
            for variable, value in zip(variables, planned[group], strict=True):
                variable.assign(value)
        best = [arrays[f"best/{i}"] for i in range(weight_count)] if "best/0" in arrays else None
    except (KeyError, ValueError, OSError, TypeError) as err:
        why = f"{type(err).__name__}: {err}"
        return discard(f"Discarding an unreadable or mismatched checkpoint {path} ({why})")
    if progress.epochs_done:
        log(
            f"Resuming from {path}: {progress.epochs_done} epochs done, best epoch "
            f"{progress.best_epoch + 1} (val_loss {progress.best_loss:.4f}), patience used {progress.wait}"
        )
    return progress, best


def check(variables, values, arrays: dict, group: str) -> None:
    """Refuse (ValueError) saved values that do not fit these variables, before any is assigned."""
    saved = sum(1 for name in arrays if name.startswith(f"{group}/"))
    if saved != len(variables):
        raise ValueError(f"{saved} saved {group} values for {len(variables)} variables")
    for variable, value in zip(variables, values, strict=True):
        shape = tuple(variable.shape)
        if shape != tuple(np.shape(value)):
            raise ValueError(f"{variable.path}: saved shape {np.shape(value)}, model shape {shape}")


def assign(variables, values) -> None:
    """Give ``variables`` these values, after checking that every one fits."""
    check(variables, values, {f"v/{i}": v for i, v in enumerate(values)}, "v")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
