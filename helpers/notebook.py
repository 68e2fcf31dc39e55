"""First-cell set-up shared by every notebook: versions, Colab detection, plot style, Colab installs.

In Colab the notebooks keep Colab's own TensorFlow, Keras and kernel stack (upgrading ipykernel
there can crash the runtime) and install only the other missing dependencies of ``pyproject.toml``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

PACKAGES = ("tensorflow", "keras", "pandas", "seaborn", "papermill", "ipywidgets", "fastai")
# What Colab's own stack must meet (googlecolab/backend-info lists TF 2.20, Keras 3.13).
MINIMUM_VERSIONS = {"tensorflow": "2.20", "keras": "3.13"}
# Never installed or upgraded by the notebooks: Colab's runtime depends on its own copies.
COLAB_KEEPS = {"tensorflow", "keras", "ipykernel", "jupyter-client", "jupyter_client", "ipywidgets"}


def in_colab() -> bool:
    """Whether this kernel runs in Google Colab."""
    return "google.colab" in sys.modules


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions without importing the packages (TensorFlow takes seconds)."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(
        int("".join(ch for ch in part if ch.isdigit()) or 0) for part in version.split(".")[:3]
    )


def too_old(found: dict[str, str]) -> list[str]:
    """``name found < minimum`` for each package below :data:`MINIMUM_VERSIONS`."""
    return [
        f"{name} {found.get(name)} < {minimum}"
        for name, minimum in MINIMUM_VERSIONS.items()
        if found.get(name, "not installed") == "not installed"
        or _as_tuple(found[name]) < _as_tuple(minimum)
    ]


def setup_notebook() -> dict[str, str]:
    """A notebook's set-up: in Colab, work from the checkout's ``notebooks/`` and install what Colab
    lacks; everywhere, set the plot style and print where we run with which versions."""
    if in_colab():
        os.chdir(Path(__file__).resolve().parent.parent / "notebooks")
        install_for_colab()
    import matplotlib.pyplot as plt
    import seaborn as sns

    # Library notices, not problems: Keras on fit's default shuffle=True with a (shuffled) tf.data
    # dataset, and tf2onnx probing for numpy's removed np.object when Keras exports ONNX.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed, but will be ignored")
    warnings.filterwarnings("ignore", message="In the future `np.object`", category=FutureWarning)
    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams["figure.dpi"] = 100
    info = versions()
    place = "Colab" if in_colab() else "local Jupyter/papermill"
    print(f"Running in {place}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    for problem in too_old(info):
        print(f"Warning: {problem} (this project needs at least that version)")
    return info


def _name(requirement: str) -> str:
    for stop in "<>=!~;[ ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower().replace("_", "-")


def install_for_colab(pyproject: Path | None = None) -> list[str]:
    """Install the requirements Colab lacks, never Colab's own stack; say if a restart is needed."""
    import tomllib  # Colab runs Python 3.11+

    pyproject = pyproject or Path(__file__).resolve().parent.parent / "pyproject.toml"
    required = tomllib.loads(Path(pyproject).read_text())["project"]["dependencies"]
    wanted = [r for r in required if _name(r) not in COLAB_KEEPS]
    missing = []
    for requirement in wanted:
        try:
            metadata.version(_name(requirement))
        except metadata.PackageNotFoundError:
            missing.append(requirement)
    if missing:
        print("Installing what Colab lacks: " + ", ".join(missing))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    loaded = [r for r in missing if _name(r).replace("-", "_") in sys.modules]
    if loaded:
        print(
            "Restart the runtime (Runtime > Restart session), then run the notebook again: "
            f"{', '.join(loaded)} changed after import."
        )
    problems = too_old(versions(("tensorflow", "keras")))
    if problems:
        print(
            "Colab's " + "; ".join(problems) + ": the notebooks may fail. Keep Colab's versions "
            "and tell the project, or use a local `make setup`."
        )
    return missing
