"""Run settings: the notebook parameters, filled in from a named profile.

Every notebook's ``parameters`` cell sets the same names, ``None`` meaning "the
profile's value". The profile is the ``profile`` parameter, else the
``CLOTHING_PROFILE`` environment variable (the test suite sets ``quick``), else
``demo``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from helpers.paths import DATA_DIR, RUNS_DIR, RunFiles

PROFILE_ENV = "CLOTHING_PROFILE"
DEFAULT_PROFILE = "demo"

# "sample" is DeepFashion's layout written from Fashion-MNIST (helpers.data.sample).
PROFILES: dict[str, dict[str, Any]] = {
    # Fashion-MNIST's full 60k/10k split at 28x28x1 with our smallest model (bench/fashion_mnist.py compares).
    "fashion_mnist": {
        "dataset": "fashion_mnist",
        "sample_images": 3000,
        "image_size": 28,
        "model": "ours_tiny",
        "epochs": 30,
        "batch_size": 128,
        "max_images": None,
        "seed": 42,
        "loader": "tf.data",
    },
    "demo": {
        "dataset": "sample",
        "sample_images": 3000,
        "image_size": 256,
        "model": "deepfashion_cnn",
        "epochs": 10,
        "batch_size": 32,
        "max_images": None,
        "seed": 42,
        "loader": "tf.data",
    },
    "quick": {
        "dataset": "sample",
        "sample_images": 300,
        "image_size": 256,
        "model": "deepfashion_cnn",
        "epochs": 1,
        "batch_size": 16,
        "max_images": None,
        "seed": 42,
        "loader": "tf.data",
    },
}


@dataclass(frozen=True)
class RunConfig:
    """The resolved settings of one run."""

    profile: str
    dataset: str
    data_dir: Path | None
    run_dir: Path
    image_size: int
    model: str
    epochs: int
    batch_size: int
    max_images: int | None
    seed: int
    sample_images: int
    loader: str

    @property
    def run(self) -> RunFiles:
        return RunFiles(self.run_dir)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Model input: RGB images, or one channel for Fashion-MNIST."""
        channels = 1 if self.dataset == "fashion_mnist" else 3
        return (self.image_size, self.image_size, channels)

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def profile_name(profile: str | None = None) -> str:
    """The profile in force: the argument, else ``$CLOTHING_PROFILE``, else ``demo``."""
    name = profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return name


def sample_dir(images: int) -> Path:
    """Where the embedded sample of ``images`` images is written."""
    return DATA_DIR / f"deepfashion-sample-{images}"


# The names every notebook's parameters cell sets (papermill overrides them).
PARAMETERS = (
    "profile",
    "dataset",
    "data_dir",
    "run_dir",
    "image_size",
    "model",
    "epochs",
    "batch_size",
    "max_images",
    "seed",
    "loader",
)


def notebook_config(namespace: dict[str, Any]) -> RunConfig:
    """Resolve the parameters a notebook's ``parameters`` cell left in ``namespace`` (its globals())."""
    missing = [name for name in PARAMETERS if name not in namespace]
    if missing:
        raise NameError(f"the parameters cell does not set {missing}")
    return resolve_config(**{name: namespace[name] for name in PARAMETERS})


def resolve_config(profile: str | None = None, **params: Any) -> RunConfig:
    """Fill every ``None`` parameter from the profile; derive data and run folders."""
    name = profile_name(profile)
    values = {**PROFILES[name], **{k: v for k, v in params.items() if v is not None}}
    known = {f.name for f in fields(RunConfig)} - {"profile"}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}")
    if values.get("data_dir") is None:
        if values["dataset"] == "sample":
            values["data_dir"] = sample_dir(values["sample_images"])
        elif values["dataset"] != "fashion_mnist":
            raise ValueError(
                f"dataset {values['dataset']!r} needs data_dir (the folder holding it)"
            )
    values.setdefault("data_dir", None)
    values["data_dir"] = Path(values["data_dir"]).expanduser() if values["data_dir"] else None
    values["run_dir"] = Path(values.get("run_dir") or RUNS_DIR / name).expanduser()
    return RunConfig(profile=name, **values)
