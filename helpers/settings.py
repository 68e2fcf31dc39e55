"""Run settings: one definition of every parameter (:data:`PARAMETERS`), the profiles, validation.

A setting takes, in order: the value given (not ``None``); the value the run folder's ``run.json``
recorded under the same profile; the profile's; the default. The profile is the ``profile``
parameter, else ``$CLOTHING_PROFILE``, else the recorded one, else ``demo``.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from helpers.data.registry import FASHION_MNIST
from helpers.errors import InputError, ParameterError

PROFILE_ENV = "CLOTHING_PROFILE"
RUN_DIR_ENV = "CLOTHING_RUN_DIR"  # default run folder (make test points it at a fresh one)
DEFAULT_PROFILE = "demo"


def _zoo() -> list[str]:
    from helpers.models import MODELS

    return sorted(MODELS)


def _recipes() -> list[str]:
    from helpers.recipes import RECIPES

    return sorted(RECIPES)


def _datasets() -> list[str]:
    from helpers.data.registry import datasets

    return sorted(datasets())


@dataclass(frozen=True)
class Parameter:
    """One setting: its type (``int``, ``bool``, ``str``, ``path``), allowed values and meaning."""

    name: str
    kind: str
    help: str
    choices: tuple[str, ...] | Callable[[], list[str]] | None = None
    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False  # None is a valid final value

    def allowed(self) -> list[str] | None:
        return list(self.choices()) if callable(self.choices) else self.choices

    def coerce(self, value: Any) -> Any:
        """The value in its proper type, or ParameterError naming the parameter."""
        if value is None:
            if self.optional:
                return None
            raise ParameterError(self.name, "needs a value")
        if self.kind == "int":
            if isinstance(value, bool) or not _is_int(value):
                raise ParameterError(self.name, f"expected a whole number, got {value!r}")
            value = int(value)
            if self.minimum is not None and value < self.minimum:
                raise ParameterError(self.name, f"must be at least {self.minimum}, got {value}")
            if self.maximum is not None and value > self.maximum:
                raise ParameterError(self.name, f"must be at most {self.maximum}, got {value}")
            return value
        if self.kind == "bool":
            if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
                return value.lower() in {"true", "yes", "1"}
            if isinstance(value, bool | int) and value in (0, 1):
                return bool(value)
            raise ParameterError(self.name, f"expected True or False, got {value!r}")
        if self.kind == "path":
            if not isinstance(value, str | Path) or not str(value).strip():
                raise ParameterError(self.name, f"expected a folder path, got {value!r}")
            return Path(value).expanduser().absolute()
        if not isinstance(value, str):
            raise ParameterError(self.name, f"expected text, got {value!r}")
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            raise ParameterError(self.name, f"{value!r} is not one of {', '.join(allowed)}")
        return value


def _is_int(value: Any) -> bool:
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        try:
            int(value)
        except ValueError:
            return False
        return True
    return False


# Every setting, in the order a parameters cell lists them.
PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter("profile", "str", "named set of defaults: demo, quick (CI), fashion_mnist, deepfashion",
                  choices=lambda: sorted(PROFILES)),
        Parameter("dataset", "str", "which adapter labels the data", choices=_datasets),
        Parameter("data_dir", "path", "the dataset folder (the sample is written under data/)",
                  optional=True),
        Parameter("run_dir", "path", "where the run's artifacts go (default runs/<profile>)"),
        Parameter("sample_images", "int", "size of the embedded sample (photos)", minimum=30),
        Parameter("source", "str", "DeepFashion labels: auto, folders or annotations",
                  choices=("auto", "folders", "annotations")),
        Parameter("split", "str", "DeepFashion and folders split: auto, official (the dataset's "
                  "own) or grouped (computed, group-disjoint)",
                  choices=("auto", "official", "grouped")),
        Parameter("groups", "path", "folders: a CSV of image ids and their contributor "
                  "(sender_id), e.g. the clothing dataset's images.csv", optional=True),
        Parameter("duplicates", "path", "folders: near-duplicate pairs (helpers.health's "
                  "duplicates.csv; default: the data folder's) a computed split keeps together",
                  optional=True),
        Parameter("corrections", "path", "a path,label CSV of fixed labels (default: the data "
                  "folder's corrections.csv), applied to the labels table", optional=True),
        Parameter("label_column", "str", "product_images: the styles.csv column used as label",
                  choices=("gender", "masterCategory", "subCategory", "articleType", "baseColour",
                           "season", "year", "usage")),
        Parameter("min_images", "int", "folders and Kaggle sets: drop classes with fewer images", minimum=1),
        Parameter("max_images", "int", "cap on images, sampled evenly per split and class",
                  minimum=1, optional=True),
        Parameter("image_size", "int", "side of the square model input, in pixels",
                  minimum=8, maximum=2048),
        Parameter("model", "str", "zoo model name", choices=_zoo),
        Parameter("transfer_model", "str", "a pretrained zoo model trained beside `model` at its "
                  "own input size, in the run's transfer/ folder (None: none)", choices=_zoo,
                  optional=True),
        Parameter("transfer_epochs", "int", "fine-tuning epochs of transfer_model", minimum=1),
        Parameter("epochs", "int", "training epochs (early stopping may end sooner)", minimum=1),
        Parameter("batch_size", "int", "global batch: per-replica batch x replicas", minimum=1),
        Parameter("patience", "int", "early stopping: epochs without a better val_loss", minimum=1),
        Parameter("seed", "int", "seed of weights, shuffling and sampling", minimum=0),
        Parameter("loader", "str", "tf.data (fast path) or ImageDataGenerator",
                  choices=("tf.data", "ImageDataGenerator")),
        Parameter("cache", "str", "tf.data: auto, memory, disk or none (stream)",
                  choices=("auto", "memory", "disk", "none")),
        Parameter("class_weights", "bool", "weight the loss by inverse class frequency"),
        Parameter("recipe", "str", "training recipe by name (None: the model's own; on photos "
                  "the plain CNNs take 'photo'); see helpers.recipes.RECIPES",
                  choices=_recipes, optional=True),
        Parameter("strategy", "str", "auto, one, mirrored (local GPUs) or multiworker (TF_CONFIG)",
                  choices=("auto", "one", "mirrored", "multiworker")),
        Parameter("precision", "str", "auto (mixed_float16 on GPUs), float32 or mixed_float16",
                  choices=("auto", "float32", "mixed_float16")),
    )
}  # fmt: skip

DEFAULTS: dict[str, Any] = {
    "dataset": "sample", "data_dir": None,
    "sample_images": 2500,  # every embedded photo (2,479)
    "source": "auto", "split": "auto", "groups": None, "duplicates": None, "corrections": None,
    "label_column": "articleType", "min_images": 1, "max_images": None,
    "image_size": 256, "model": "deepfashion_cnn", "transfer_model": None, "transfer_epochs": 3,
    "epochs": 10, "batch_size": 32, "patience": 3, "seed": 42,
    "loader": "tf.data", "cache": "auto", "class_weights": False, "recipe": None,
    "strategy": "auto", "precision": "auto",
}  # fmt: skip

PROFILES: dict[str, dict[str, Any]] = {
    # 1,500 of the embedded real photos (DeepFashion's layout): the 256x256 DeepFashion CNN from
    # scratch beside a fine-tuned ImageNet EfficientNet-Lite2 (bench/transfer.py: the most
    # accurate backbone on contributor-disjoint photos), within 20 minutes on 2 CPU cores.
    "demo": {"sample_images": 1500, "epochs": 8, "transfer_model": "efficientnet_lite2",
             "transfer_epochs": 3},
    # CI-sized: 300 photos, one epoch, the smallest backbone.
    "quick": {"sample_images": 300, "epochs": 1, "batch_size": 16,
              "transfer_model": "efficientnet_lite0", "transfer_epochs": 1},
    # Fashion-MNIST's full 60k/10k split at 28x28x1 with our smallest model (bench/fashion_mnist.py).
    # The recipe's cosine schedule spans all 30 epochs; stopping early, mid-schedule at a high
    # learning rate, ended a run at epoch 10 with 91.2% (30 epochs: 93.8%, the benchmark).
    FASHION_MNIST: {"dataset": FASHION_MNIST, "image_size": 28, "model": "ours_tiny", "epochs": 30,
                    "batch_size": 128, "patience": 30},
    # The real benchmark: official partition, 46 categories skewed 4,000 to 1, sized for one GPU.
    "deepfashion": {"dataset": "deepfashion", "image_size": 256, "model": "deepfashion_cnn",
                    "epochs": 15, "batch_size": 128, "patience": 3, "class_weights": True},
}  # fmt: skip


class Settings(Mapping):
    """The resolved settings of one run (read-only; ``settings.epochs`` or ``settings["epochs"]``)."""

    def __init__(self, values: dict[str, Any]):
        self._values = MappingProxyType(dict(values))

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Settings({dict(self._values)!r})"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        from helpers.data.registry import dataset_kind

        return (self.image_size, self.image_size, dataset_kind(self.dataset).channels)

    def as_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self._values.items()}

    def replace(self, **changes: Any) -> Settings:
        return resolve(dict(self.as_json(), **changes))


def check_names(names) -> None:
    """Refuse names that are not settings, listing the known ones (a misspelt ``-p epoch 3``)."""
    unknown = sorted(set(names) - set(PARAMETERS))
    if unknown:
        raise ParameterError(
            ", ".join(unknown),
            f"unknown parameter{'s' if len(unknown) > 1 else ''}; known: {', '.join(PARAMETERS)}",
        )


def run_folder(params: Mapping[str, Any], name: str | None = None) -> Path:
    """The run folder ``params`` name: ``run_dir`` when given, else ``runs/<name>`` (the series'
    ``--name``), else ``$CLOTHING_RUN_DIR``, else ``runs/<profile>`` (the profile given, else
    ``$CLOTHING_PROFILE``, else demo). The one rule; its folder's record is read from there."""
    from helpers.paths import RUNS_DIR

    chosen = params.get("run_dir") or (RUNS_DIR / name if name else os.environ.get(RUN_DIR_ENV))
    if not chosen:
        chosen = RUNS_DIR / str(
            params.get("profile") or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
        )
    return PARAMETERS["run_dir"].coerce(chosen)


def resolve(
    params: Mapping[str, Any] | None = None, recorded: Mapping[str, Any] | None = None
) -> Settings:
    """Validate ``params`` (``None`` = not given) and fill the rest: recorded run, profile, defaults."""
    given = {k: v for k, v in (params or {}).items() if v is not None}
    check_names(given)
    recorded = dict(recorded or {})
    profile = PARAMETERS["profile"].coerce(
        given.get("profile")
        or os.environ.get(PROFILE_ENV)
        or recorded.get("profile")
        or DEFAULT_PROFILE
    )
    values: dict[str, Any] = {**DEFAULTS, **PROFILES[profile]}
    if recorded.get("profile") == profile:
        kept = {k: v for k, v in recorded.items() if k in PARAMETERS and k != "run_dir"}
        if given.get("dataset", kept.get("dataset")) != kept.get("dataset"):
            kept.pop("data_dir", None)  # the recorded folder belongs to the recorded dataset
        values.update(kept)
    values.update(given)
    values["profile"] = profile
    values["run_dir"] = run_folder(given)
    settled = {name: PARAMETERS[name].coerce(values.get(name)) for name in PARAMETERS}
    from helpers.data.registry import dataset_kind

    if dataset_kind(settled["dataset"]).needs_data_dir and settled["data_dir"] is None:
        raise ParameterError(
            "data_dir", f"dataset {settled['dataset']!r} needs data_dir (the folder holding it)"
        )
    return Settings(settled)


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
    except IsADirectoryError:
        raise InputError(path, "a folder, not a parameter file") from None
    except UnicodeDecodeError as err:
        raise InputError(
            path,
            f"not UTF-8 (byte 0x{err.object[err.start]:02x} at offset {err.start}); save it as UTF-8",
        ) from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        raise InputError(path, f"not valid YAML ({str(err).splitlines()[0]})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InputError(path, f"expected name: value lines, got a {type(loaded).__name__}")
    return loaded


def command_line_parameters(
    file: Path | None, pairs: Sequence[Sequence[str]] = (), **options: Any
) -> dict[str, Any]:
    """A command line's ``-f params.yaml``, then its ``-p NAME VALUE`` pairs, then its own
    ``options`` (``--run-dir``; ``None``: not given), each winning over the one before, checked."""
    parameters = read_parameter_file(file) if file else {}
    parameters.update({name: parse_value(value) for name, value in pairs})
    parameters.update({name: value for name, value in options.items() if value is not None})
    return checked_parameters(parameters)


def checked_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Each given parameter checked against the one definition (name, type, range), paths made
    absolute (as text, for papermill's kernels); the whole set is checked by :func:`resolve`."""
    check_names(parameters)
    checked = {}
    for name, value in parameters.items():
        value = PARAMETERS[name].coerce(value)
        checked[name] = str(value) if isinstance(value, Path) else value
    return checked


def from_namespace(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a notebook's parameters cell (or papermill) left in ``globals()``: plain values
    only (a later cell's Keras model called ``model`` is not a setting)."""
    plain = (str, int, float, bool, Path, type(None))
    return {
        name: namespace[name]
        for name in PARAMETERS
        if name in namespace and isinstance(namespace[name], plain)
    }
