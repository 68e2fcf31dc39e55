"""Explanation maps you can check: class-logit Grad-CAM (global-average-pooled heads) or HiResCAM
(others) of a spatial layer, each with sanity checks (:func:`check`: model randomisation,
deletion / insertion against random pixel orders) and the share of its mass on the garment.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.explain.focus import describe_focus, focus_share, garment_mask, outline_band
from helpers.explain.maps import METHODS, Explanation, as_batch, explain, explain_planned, make_plan
from helpers.explain.sanity import (
    BASELINES,
    MAX_RANK_CORR,
    SanityChecks,
    SanityOptions,
    check,
    check_planned,
    probabilities,
    randomisation_cascade,
    rank_correlation,
)

__all__ = [
    "BASELINES", "MAX_RANK_CORR", "METHODS", "Explanation", "ExplanationBatch", "SanityChecks",
    "SanityOptions", "check", "describe_focus", "explain", "explain_batch", "focus_share",
    "garment_mask", "outline_band", "randomisation_cascade", "rank_correlation",
]  # fmt: skip
CHECK_COLUMNS = (
    "rank_corr", "randomisation_passed", "deletion_auc", "random_deletion_auc", "deletion_gain",
    "deletion_passed", "insertion_auc", "random_insertion_auc", "insertion_gain", "insertion_passed",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class ExplanationBatch:
    """:func:`explain_batch`'s result: per image its map, its checks and a row of ``table``."""

    explanations: list[Explanation]
    checks: list[SanityChecks]
    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.explanations)


def explain_batch(
    model, images, true: Sequence | None = None, classes: Sequence[str] | None = None,
    class_index=None, method: str = "auto", layer=None, options: SanityOptions | None = None,
) -> ExplanationBatch:  # fmt: skip
    """Maps (of ``class_index``, default the predicted class) and sanity checks of a batch, with one
    table row per image: ``true`` (given), prediction, map and checks, ``passed`` (all, not flat)."""
    images = as_batch(images)
    true = None if true is None else list(true)  # a Series keeps its own index: drop it
    if true is not None and len(true) != len(images):
        raise ValueError(f"{len(true)} true classes for {len(images)} images")

    def name(value):
        is_index = classes is not None and isinstance(value, (int, np.integer))
        return classes[int(value)] if is_index else value

    plan = make_plan(model, images, method, layer)
    explanations = explain_planned(model, plan, images, class_index)
    checks = check_planned(model, plan, images, explanations, options or SanityOptions())
    probs = probabilities(model, plan, images)
    predicted = probs.argmax(axis=1)
    rows = [{
        "true": name(true[i]) if true is not None else None, "predicted": name(int(predicted[i])),
        "confidence": float(probs[i, predicted[i]]), "explained": name(e.class_index),
        "method": e.method, "layer": e.layer, "flat": e.flat,
        **{column: getattr(c, column) for column in CHECK_COLUMNS},
        "passed": not e.flat and c.randomisation_passed and c.deletion_passed and c.insertion_passed,
    } for i, (e, c) in enumerate(zip(explanations, checks, strict=True))]  # fmt: skip
    table = pd.DataFrame(rows)
    return ExplanationBatch(
        explanations, checks, table.drop(columns="true") if true is None else table
    )
