"""One run: its settings and its folder's artifacts, each recorded with the settings it was made with.

``run.json`` holds the settings and, per artifact, the settings it depends on and each file's
SHA-256. An artifact missing, made with other settings, unrecorded or changed on disk is rebuilt,
saying why in one line: nothing made with other settings is ever handed back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from helpers import atomic
from helpers.atomic import file_digest
from helpers.paths import RunFiles
from helpers.settings import Settings, from_namespace, resolve, run_folder

# What each artifact is made of (its files) and which settings it depends on.
MODEL_SETTINGS = (
    "image_size", "model", "epochs", "batch_size", "patience", "seed", "loader",
    "class_weights", "precision",
)  # fmt: skip


def labels_key(settings: Settings) -> dict[str, Any]:
    """The settings a labels table depends on: the dataset, its folder and options, the cap, and
    the contents of its corrections and near-duplicates files (a fixed label makes a new table)."""
    from helpers.data.registry import dataset_kind
    from helpers.health import input_digests

    names = ["dataset", "data_dir", *dataset_kind(settings.dataset).options, "max_images"]
    if settings.max_images is not None:
        names.append("seed")  # the cap samples with the run's seed

    return {**{name: _plain(settings[name]) for name in names}, **input_digests(settings)}


def model_key(settings: Settings) -> dict[str, Any]:
    """What a trained model depends on: its labels' settings, the training ones, and the
    model's recipe (its description: a changed recipe must not hand back an old model)."""
    from helpers.recipes import recipe_for

    return {
        **labels_key(settings),
        **{name: _plain(settings[name]) for name in MODEL_SETTINGS},
        "recipe": recipe_for(settings).description,
    }


def architecture_key(settings: Settings) -> dict[str, Any]:
    """What per-layer tables depend on: the architecture, its input size and (via the labels) classes."""
    return {**labels_key(settings), "model": settings.model, "image_size": settings.image_size}


def loading_key(settings: Settings) -> dict[str, Any]:
    """What loader measurements depend on: the labels, the input size, the batch and the cache."""
    return {
        **labels_key(settings),
        **{n: settings[n] for n in ("image_size", "batch_size", "cache")},
    }


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


ARTIFACTS: dict[str, tuple[Callable[[Settings], dict], tuple[str, ...]]] = {
    "labels": (labels_key, ("labels", "classes", "label_report", "dataset")),
    "model": (model_key, ("model", "history", "training")),
    "fields": (architecture_key, ("receptive_field",)),
    "costs": (architecture_key, ("costs", "layers")),
    "evaluation": (model_key, ("predictions", "metrics")),
    "optimization": (model_key, ("optimization",)),
    "explanations": (model_key, ("explanations",)),
    "throughput": (loading_key, ("throughput",)),
    "zoo_costs": (lambda settings: {}, ("zoo_costs",)),
}


# Artifacts computed from another artifact's file: a new model.keras makes them stale even when
# the settings did not change (trained again with --force, or on other hardware).
DEPENDS_ON = {"evaluation": "model", "optimization": "model", "explanations": "model"}


TRANSFER_DIR = "transfer"  # the run of ``transfer_model`` inside a run folder


class Run:
    """Settings in force plus the run folder; ``writer=False`` for workers that only read."""

    def __init__(self, settings: Settings, writer: bool = True, log: Callable[[str], None] = print):
        self.settings = settings
        self.files = RunFiles(settings.run_dir)
        self.writer = writer
        self.log = log
        record, values = self._record(), settings.as_json()
        if writer and record.get("settings") != values:  # the settings in force, saved at once
            self.files.root.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self.files.record, {**record, "settings": values})

    @classmethod
    def open(cls, params: Mapping[str, Any] | None = None, writer: bool = True, log=print) -> Run:
        """Resolve ``params`` against what the run folder (:func:`helpers.settings.run_folder`)
        recorded, then the profile."""
        params = {**(params or {}), "run_dir": run_folder(params or {})}
        recorded = _read_record(RunFiles(params["run_dir"]).record)
        return cls(resolve(params, recorded.get("settings")), writer=writer, log=log)

    @classmethod
    def from_notebook(cls, namespace: Mapping[str, Any]) -> Run:
        """The run of a notebook: the settings its parameters cell (or papermill) left in ``globals()``."""
        run = cls.open(from_namespace(namespace))
        run.files.ensure()
        return run

    # --- the record ---------------------------------------------------------------------------

    def _record(self) -> dict:
        return _read_record(self.files.record)

    def record(self, artifact: str, extra_files: tuple[Path, ...] = ()) -> None:
        """Note that ``artifact``'s files were just written with the settings in force."""
        if not self.writer:
            return
        key_of, names = ARTIFACTS[artifact]
        paths = [getattr(self.files, name) for name in names] + list(extra_files)
        upstream = DEPENDS_ON.get(artifact)
        depends = {}
        if upstream:
            source = getattr(self.files, ARTIFACTS[upstream][1][0])
            depends[source.name] = file_digest(source) if source.exists() else None
        entry = {
            "key": key_of(self.settings),
            "depends": depends,
            "files": {
                path.relative_to(self.files.root).as_posix(): file_digest(path)
                for path in paths
                if path.exists()
            },
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        record = self._record()
        record.setdefault("artifacts", {})[artifact] = entry
        record["settings"] = self.settings.as_json()
        atomic.write_json(self.files.record, record)

    def stale(self, artifact: str) -> str | None:
        """Why ``artifact`` cannot be reused (missing, other settings, no record, changed), or None."""
        key_of, names = ARTIFACTS[artifact]
        first = getattr(self.files, names[0])
        if not first.exists():
            return f"{first.name} does not exist yet"
        entry = self._record().get("artifacts", {}).get(artifact)
        if entry is None:
            return f"{first.name} has no record of the settings it was made with (an older version or another tool wrote it)"
        wanted = key_of(self.settings)
        differing = [
            f"{name}={entry['key'].get(name)!r} (now {value!r})"
            for name, value in wanted.items()
            if entry["key"].get(name) != value
        ]
        if differing:
            return f"{first.name} was made with {', '.join(differing)}"
        for name, digest in entry.get("depends", {}).items():
            source = self.files.root / name
            if (file_digest(source) if source.exists() else None) != digest:
                return f"{first.name} was made from another {name} (trained again since)"
        for name, digest in entry["files"].items():
            path = self.files.root / name
            if not path.exists():
                return f"{name} is missing"
            if file_digest(path) != digest:
                return (
                    f"{name} changed since it was written (torn by an interrupted write, or edited)"
                )
        return None

    def current(self, artifact: str) -> bool:
        return self.stale(artifact) is None

    # --- the artifacts --------------------------------------------------------------------------

    def labels(self, rebuild: bool = False):
        """The run's labels: read back when current (unless ``rebuild``), else built, saved, recorded."""
        from helpers.data import LabelSet
        from helpers.labels import build_labels

        reason = "asked to rebuild" if rebuild else self.stale("labels")
        if reason is None:
            return LabelSet.load(self.files)
        if self.files.labels.exists() and not rebuild:
            self.log(f"Rebuilding the labels: {reason}")
        labels = build_labels(self.settings)
        if self.writer:
            labels.save(self.files)
            self.record("labels")
        return labels

    def train(self, verbose: int = 2, strategy=None, force: bool = False, callbacks=()):
        """The trained model for these settings (:class:`helpers.training.Trained`): read back when
        current (unless ``force``), else trained now (resuming a matching unfinished fit), recorded."""
        from helpers.training import Checkpoint, Trained, load_run_model, read_history, train_model

        reason = "asked to train again" if force else self.stale("model")
        if reason is None:
            self.log(f"{self.files.model.name} is current for these settings: read back")
            files = self.files
            return Trained(
                load_run_model(files), read_history(files), atomic.read_json(files.training)
            )
        if self.files.model.exists():
            self.log(f"Training again: {reason}")
        else:
            self.log(
                f"Training {self.settings.model} for up to {self.settings.epochs} epochs: {reason}"
            )
        trained = train_model(
            self.settings,
            self.labels(),
            Checkpoint(self.files, model_key(self.settings), write=self.writer),
            strategy,
            verbose=verbose,
            callbacks=callbacks,
            log=self.log,
        )
        if trained.record:  # this process wrote the model (the chief)
            self.record("model")
            self.files.training_state.unlink(missing_ok=True)  # the fit finished
        return trained

    def batches(self, augment=None) -> dict:
        """The run's ``train`` (shuffled per epoch), ``val`` and ``test`` batches, read as training
        reads them; ``.epoch(e)`` is a tf.data dataset a Keras ``fit`` or ``predict`` takes."""
        from helpers.loading import InputSpec, split_batches

        return split_batches(InputSpec.of(self.labels(), self.settings, augment))

    def save(self, artifact: str, table):
        """Write ``artifact``'s table (one CSV, atomically) and record it with the settings in force;
        return the table (what a notebook cell shows)."""
        path = getattr(self.files, ARTIFACTS[artifact][1][0])
        if self.writer:
            self.files.ensure()
            atomic.write_csv(path, table)
            self.record(artifact)
        return table

    def model_or_untrained(self):
        """For receptive fields and costs (they do not depend on weights): the trained model when
        current, else the untrained zoo model with the run's input size and classes."""
        from helpers.models import build_untrained
        from helpers.training import load_run_model

        if self.current("model"):
            self.log(f"Using the trained model {self.files.model}")
            return load_run_model(self.files)
        labels = self.labels()
        self.log(
            f"No current trained model in {self.files.root}: using an untrained {self.settings.model} "
            "(fields and costs do not depend on weights)"
        )
        return build_untrained(self.settings.model, self.settings.input_shape, len(labels.classes))

    def evaluation(self, model=None):
        """Test-split predictions and metrics: read back when current, else computed and recorded."""
        import pandas as pd

        from helpers.evaluation import evaluate_split, save_evaluation

        reason = self.stale("evaluation")
        if reason is None:
            predictions = pd.read_csv(self.files.predictions, keep_default_na=False)
            return predictions, atomic.read_json(self.files.metrics)
        if self.files.predictions.exists():
            self.log(f"Evaluating again: {reason}")
        labels = self.labels()
        model = model if model is not None and self.current("model") else self.train().model
        predictions, metrics = evaluate_split(
            model, labels, "test", self.settings.image_size, self.settings.batch_size
        )
        if self.writer:
            save_evaluation(self.files, predictions, metrics)
            self.record("evaluation")
        return predictions, metrics

    def costs(self, model=None):
        """The per-layer table (``layers.csv``) and totals (``costs.json``) of the run's model (or
        ``model``): computed, written and recorded; returns ``(table, totals)``."""
        from helpers.flops import file_size, totals
        from helpers.layer_table import layer_table

        net = model if model is not None else self.model_or_untrained()
        table = layer_table(net)
        costs = {
            "model": self.settings.model,
            "input_shape": list(self.settings.input_shape),
            **totals(net),
            "file_bytes": file_size(net),
        }
        if self.writer:
            atomic.write_csv(self.files.layers, table)
            atomic.write_json(self.files.costs, costs)
            self.record("costs")
        return table, costs

    def transfer_run(self) -> Run | None:
        """The run of ``transfer_model`` in ``transfer/`` inside this one: the same data settings, its
        natural input size, ``transfer_epochs`` (None when there is none or this run trains it)."""
        from helpers.models import NATURAL_INPUTS

        name = self.settings.transfer_model
        if not name or name == self.settings.model:
            return None
        if self.settings.input_shape[-1] != 3:  # an ImageNet backbone reads RGB photos
            self.log(f"transfer_model {name} skipped: {self.settings.dataset} images are not RGB")
            return None
        size = NATURAL_INPUTS.get(name, ((self.settings.image_size,),))[0][0]
        settings = self.settings.replace(
            run_dir=str(self.files.root / TRANSFER_DIR),
            model=name,
            image_size=size,
            epochs=self.settings.transfer_epochs,
        )
        return Run(settings, writer=self.writer, log=self.log)


def _read_record(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return {}  # no record yet (a folder that cannot be written is refused where it is written)
