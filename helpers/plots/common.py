"""Saving a figure: atomically, into the run folder, when a path is given."""

from pathlib import Path

import matplotlib.pyplot as plt

from helpers import atomic


def save(fig: plt.Figure, path: Path | None) -> plt.Figure:
    """Save ``fig`` as PNG (atomically) when ``path`` is given; return it for display."""
    if path is not None:
        atomic.save_figure(fig, path, dpi=110, bbox_inches="tight")
    return fig
