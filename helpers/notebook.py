"""First-cell set-up shared by every notebook: versions, Colab detection, plot style."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

PACKAGES = ("tensorflow", "keras", "pandas", "seaborn", "papermill", "ipywidgets", "fastai")


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


def setup_notebook() -> dict[str, str]:
    """Set the plot style and print where we run and with which versions."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams["figure.dpi"] = 100
    info = versions()
    place = "Colab" if in_colab() else "local Jupyter/papermill"
    print(f"Running in {place}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    return info
