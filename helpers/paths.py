"""Where things live: the project folders and the fixed file names of a run folder.

Every notebook, command and benchmark reads and writes run artifacts through
:class:`RunFiles` (``run.files`` of a :class:`helpers.run.Run`), so each name is
defined once, here, checkpoints included.

The project folder is ``$CLOTHING_HOME`` when set, else this checkout (the
package installed editable, as ``make setup`` does), else the current folder:
runs and data never land inside site-packages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from helpers.atomic import read_json, write_json  # noqa: F401  (re-exported for older callers)


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

    @property
    def record(self) -> Path:
        """``run.json``: the run's settings and what each artifact was made with."""
        return self.root / "run.json"

    @property
    def lock(self) -> Path:
        """``.run.lock``: held by the one process running in this folder (:mod:`helpers.run_lock`)."""
        return self.root / ".run.lock"

    # Labels (01)
    @property
    def labels(self) -> Path:
        return self.root / "labels.csv"

    @property
    def classes(self) -> Path:
        return self.root / "classes.json"

    @property
    def label_report(self) -> Path:
        return self.root / "label_report.csv"

    @property
    def dataset(self) -> Path:
        """Which dataset and data folder the labels table's paths are relative to."""
        return self.root / "dataset.json"

    # Loading (02)
    @property
    def throughput(self) -> Path:
        """Images per second of the loaders (02_loading)."""
        return self.root / "loading_throughput.csv"

    # Training (03)
    @property
    def model(self) -> Path:
        return self.root / "model.keras"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def training(self) -> Path:
        """What training measured: model, epochs, best epoch, test scores, wall time."""
        return self.root / "training.json"

    @property
    def checkpoints(self) -> Path:
        """Training state of an unfinished fit: resumed by the next one with the same settings."""
        return self.root / "checkpoints"

    @property
    def training_state(self) -> Path:
        """Weights, optimizer, random-number and early-stopping state after the last finished epoch."""
        return self.checkpoints / "state.npz"

    @property
    def training_progress(self) -> Path:
        """The epoch count, early-stopping state and settings of ``training_state``."""
        return self.checkpoints / "state.json"

    @property
    def best_weights(self) -> Path:
        return self.checkpoints / "best.weights.h5"

    # Receptive fields and costs (04, 05)
    @property
    def receptive_field(self) -> Path:
        return self.root / "receptive_field.csv"

    @property
    def layers(self) -> Path:
        """Per-layer costs and fields of the run's model (05)."""
        return self.root / "layers.csv"

    @property
    def costs(self) -> Path:
        """Totals of the run's model: params, MACs, FLOPs, other ops, file size (05)."""
        return self.root / "costs.json"

    @property
    def zoo_costs(self) -> Path:
        """Every zoo model at its natural input size (05)."""
        return self.root / "zoo_costs.csv"

    # Evaluation (06)
    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.csv"

    @property
    def explanations(self) -> Path:
        """Class-activation maps' sanity numbers (06)."""
        return self.root / "explanations.csv"

    # Optimisation (07)
    @property
    def optimization(self) -> Path:
        """The optimisation comparison table (07)."""
        return self.root / "optimization.csv"

    def variant_model(self, kind: str) -> Path:
        """An optimised Keras model: ``model_<kind>.keras`` (e.g. ``pruned``)."""
        return self.root / f"model_{kind}.keras"

    def tflite(self, variant: str) -> Path:
        """An optimised LiteRT model: ``model_<variant>.tflite`` (spaces become ``_``)."""
        return self.root / f"model_{variant.replace(' ', '_')}.tflite"

    # Summary and figures
    @property
    def summary(self) -> Path:
        return self.root / "summary.md"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    def figure(self, name: str) -> Path:
        """Path of a figure: ``figures/<name>.png``."""
        return self.figures / f"{name}.png"

    @property
    def executed(self) -> Path:
        """Executed copies of the notebooks (written by the series runner)."""
        return self.root / "notebooks"
