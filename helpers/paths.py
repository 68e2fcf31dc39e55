"""Where things live: the project folders and the fixed artifact names of a run folder.

Every notebook reads and writes run artifacts through :class:`RunFiles`, so the
names are defined once here instead of as string literals across notebooks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
RUNS_DIR = PROJECT_ROOT / "runs"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
IMAGES_DIR = PROJECT_ROOT / "images"


@dataclass(frozen=True)
class RunFiles:
    """The artifacts of one run folder, ``runs/<name>/``, under fixed names."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def ensure(self) -> RunFiles:
        """Create the run folder and its ``figures/`` subfolder; return self."""
        self.figures.mkdir(parents=True, exist_ok=True)
        return self

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

    # Training (03) and later notebooks
    @property
    def model(self) -> Path:
        return self.root / "model.keras"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def training(self) -> Path:
        """What 03_training measured: model, epochs, best epoch, test scores, wall time."""
        return self.root / "training.json"

    @property
    def loading(self) -> Path:
        """Images per second of both loaders (02_loading)."""
        return self.root / "loading_throughput.csv"

    @property
    def receptive_field(self) -> Path:
        """Per-layer receptive field of the run's model (04)."""
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

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.csv"

    @property
    def summary(self) -> Path:
        return self.root / "summary.md"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def executed(self) -> Path:
        """Executed copies of the notebooks (written by the series runner)."""
        return self.root / "notebooks"

    def figure(self, name: str) -> Path:
        """Path of a figure: ``figures/<name>.png``."""
        return self.figures / f"{name}.png"

    @property
    def optimization(self) -> Path:
        """The optimisation comparison table (07)."""
        return self.root / "optimization.csv"

    def variant_model(self, kind: str) -> Path:
        """An optimised Keras model: ``model_<kind>.keras`` (e.g. ``pruned``)."""
        return self.root / f"model_{kind}.keras"

    def tflite(self, variant: str) -> Path:
        """Path of an optimised model: ``model_<variant>.tflite``."""
        return self.root / f"model_{variant}.tflite"


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def read_json(path: Path) -> Any:
    """Read JSON, naming the file if it is missing or malformed."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
