"""Every figure of the series (seaborn / matplotlib), each saved into the run folder when asked
(``plots.<name>(..., path=run.files.figure(name))``): of the data, a model, results, explanations.
"""

from helpers.plots.common import save
from helpers.plots.data import batch_grid, class_distribution, sample_grid
from helpers.plots.explanations import explanation_gallery
from helpers.plots.model import field_on_image, flops_bars, learning_curves, receptive_field_growth
from helpers.plots.results import (
    accuracy_vs_flops,
    accuracy_vs_latency,
    confusion_heatmap,
    image_gallery,
    per_class_accuracy,
)

__all__ = [
    "accuracy_vs_flops", "accuracy_vs_latency", "batch_grid", "class_distribution",
    "confusion_heatmap", "explanation_gallery", "field_on_image", "flops_bars", "image_gallery",
    "learning_curves", "per_class_accuracy", "receptive_field_growth", "sample_grid", "save",
]  # fmt: skip
