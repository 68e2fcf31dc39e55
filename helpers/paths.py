"""Where things live: the project folders and the fixed file names of a run folder (:class:`RunFiles`).

The project folder is ``$CLOTHING_HOME``, else this checkout (installed editable), else the
current folder: runs and data never land inside site-packages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def project_root() -> Path:
    """``$CLOTHING_HOME``, else the checkout holding this package, else the working folder."""
    if os.environ.get("CLOTHING_HOME"):
        return Path(os.environ["CLOTHING_HOME"]).expanduser().absolute()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "notebooks").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    cwd = Path.cwd()
    return cwd.parent if cwd.name == "notebooks" else cwd


PROJECT_ROOT = project_root()
DATA_DIR = PROJECT_ROOT / "data"
RUNS_DIR = PROJECT_ROOT / "runs"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
IMAGES_DIR = PROJECT_ROOT / "images"


def cache_root() -> Path:
    """Where disk caches live: ``$CLOTHING_CACHE_DIR``, else ``data/cache``."""
    return Path(os.environ.get("CLOTHING_CACHE_DIR") or DATA_DIR / "cache")


def _file(name: str, folder: str = "") -> property:
    """A run-folder file's path, ``root/[folder/]name``."""
    return property(lambda self: self.root / folder / name)


@dataclass(frozen=True)
class RunFiles:
    """The files of one run folder, ``runs/<name>/``, under fixed names."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def ensure(self) -> RunFiles:
        """Create the run folder and its ``figures/`` subfolder; return self."""
        self.figures.mkdir(parents=True, exist_ok=True)
        return self

    record = _file("run.json")  # the run's settings and what each artifact was made with
    lock = _file(".run.lock")  # held by the one process running here (helpers.run_lock)
    # Labels (01): the table, classes, report, and the dataset folder its paths are relative to
    labels = _file("labels.csv")
    classes = _file("classes.json")
    label_report = _file("label_report.csv")
    dataset = _file("dataset.json")
    throughput = _file("loading_throughput.csv")  # the loaders' images per second (02)
    # Training (03): the model, its history and what training measured (training.json)
    model = _file("model.keras")
    history = _file("history.csv")
    training = _file("training.json")
    checkpoints = _file("checkpoints")  # an unfinished fit's state, resumed with the same settings
    training_state = _file("state.npz", "checkpoints")
    # Receptive fields (04); per-layer table and totals of the run's model, every zoo model (05)
    receptive_field = _file("receptive_field.csv")
    layers = _file("layers.csv")
    costs = _file("costs.json")
    zoo_costs = _file("zoo_costs.csv")
    # Evaluation and class-activation maps' sanity numbers (06), optimisation comparison (07)
    metrics = _file("metrics.json")
    predictions = _file("predictions.csv")
    explanations = _file("explanations.csv")
    optimization = _file("optimization.csv")
    summary = _file("summary.md")
    figures = _file("figures")
    executed = _file("notebooks")  # executed copies of the notebooks (the series runner)

    def variant_model(self, kind: str) -> Path:
        """An optimised Keras model: ``model_<kind>.keras`` (e.g. ``pruned``)."""
        return self.root / f"model_{kind}.keras"

    def tflite(self, variant: str) -> Path:
        """An optimised LiteRT model: ``model_<variant>.tflite`` (spaces become ``_``)."""
        return self.root / f"model_{variant.replace(' ', '_')}.tflite"

    def figure(self, name: str) -> Path:
        """Path of a figure: ``figures/<name>.png``."""
        return self.figures / f"{name}.png"
