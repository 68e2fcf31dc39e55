"""Explanation maps you can check: class-logit Grad-CAM / HiResCAM with sanity checks per map.

**Maps.** A map says which positions of a spatial layer raised the *logit* (the pre-softmax score)
of one class. The probability is not used: for a confident prediction its gradient vanishes
(``p (1 - p) -> 0``) and the map with it. The logit is found whatever the model's last layer is:
a ``Dense`` with a fused softmax (or sigmoid) activation (its pre-activation is recomputed from the
Dense's input, kernel and bias), a separate ``Activation("softmax")`` / ``Softmax`` layer (its input
is taken) or a linear output (the output is the logit).

Two methods, chosen by the head by default (``method="auto"``):

* **Grad-CAM** (Selvaraju et al., 2017), for heads that global-average-pool the layer: each
  channel is weighted by its gradient averaged over positions. When the pooling directly follows
  the layer the gradient is the same at every position, and Grad-CAM equals HiResCAM.
* **HiResCAM** (Draelos & Carin, 2020), for everything else, notably ``Flatten`` + ``Dense``
  heads: gradient times activation, element-wise, summed over channels. When the logit is linear
  in the layer (``Flatten`` + ``Dense``) the raw map is an exact decomposition: it sums, over
  positions, to the logit minus the bias. Averaging the gradient there (Grad-CAM) spreads every
  position's weight over the whole map, which is why it paints the background.

The default layer is the last spatial one: the layer whose 4-D output feeds the head's
``Flatten`` / global pooling (the last layer that drops the spatial axes, so the
squeeze-and-excitation poolings inside EfficientNet's blocks do not count). Any model works: functional, ``Sequential`` (built or not),
backbones nested inside a model, subclassed models. The layers are found by recording one forward
pass; the chosen layer's output and the head's input are caught by wrapping their ``call`` for the
duration of a pass (restored afterwards).

**Normalisation.** ``Explanation.raw`` is the map at the layer's resolution, signed and unscaled.
``Explanation.map`` is ``ReLU(raw)`` upsampled bilinearly to the input size and divided by its
maximum: the hottest pixel is 1 and 0 means "no positive evidence" (no minimum is subtracted).
A map with no positive value is **flat**: it is reported as all zeros with ``flat=True``, never as
NaN.

**Sanity checks** (:func:`check`, run for every map by :func:`explain_batch`):

* *Model randomisation* (Adebayo et al., 2018): every weighted layer is re-drawn, cascading from
  the output down to the input, and the map of the same class is computed again on the fully
  randomised model. Each weight tensor is replaced by Gaussian noise with the tensor's own mean
  and standard deviation, which erases what was learned but keeps each layer's scale (so the
  randomised map is not trivially flat); batch-norm moving statistics, which describe the data,
  are kept, and so are tensors with no spread (fresh biases, batch-norm scales of 1). The
  original weights are restored afterwards, even on error. The number is the Spearman rank
  correlation between the two ReLU'd maps at the layer's resolution (upsampling would only add
  interpolated, correlated pixels). A map passes when it is at most ``max_rank_corr`` = 0.5: a
  map that keeps more than half of its rank agreement after every learned weight is destroyed
  describes the input or the architecture, not the model. In Adebayo et al. the maps that pass
  (gradients, Grad-CAM) lose most of their rank correlation under full randomisation while
  Guided Backprop keeps most of it; 0.5 sits between the two.
  :func:`randomisation_cascade` gives the correlation after each step of the cascade.
* *Deletion / insertion* (Petsiuk et al., 2018): pixels are removed (deletion: replaced by the
  baseline) or revealed (insertion: starting from the baseline), most salient first, in
  ``steps`` equal steps; the explained class's probability is recorded at each step and the
  area under the curve (x = fraction of pixels, 0..1) taken. The same is done for random pixel
  orders (``random_orders`` of them, seeded, averaged). The baseline is, by default, the image
  blurred with a Gaussian of sigma = a tenth of its shorter side (``baseline="blur"``): it removes
  detail without painting a grey or black patch that the model never saw; ``baseline="mean"``
  uses the image's per-channel mean colour. Deletion passes when its AUC is below the random
  order's (``deletion_gain = random - deletion > 0``), insertion when its AUC is above it
  (``insertion_gain = insertion - random > 0``). Ties in the map (zeros) are broken at random.

**What the model looks at** (:func:`garment_mask`, :func:`describe_focus`): the share of each map's
mass that falls on the garment, against the share of the image the garment covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.explain.focus import describe_focus, focus_share, garment_mask, outline_band
from helpers.explain.maps import (
    METHODS,
    Explanation,
    as_batch,
    explain,
    explain_planned,
    head_probabilities,
    make_plan,
)
from helpers.explain.sanity import (
    BASELINES,
    CHUNK,
    MAX_RANK_CORR,
    SanityChecks,
    SanityOptions,
    check,
    check_planned,
    randomisation_cascade,
    rank_correlation,
)

__all__ = [
    "BASELINES",
    "MAX_RANK_CORR",
    "METHODS",
    "Explanation",
    "ExplanationBatch",
    "SanityChecks",
    "SanityOptions",
    "check",
    "describe_focus",
    "explain",
    "explain_batch",
    "focus_share",
    "garment_mask",
    "outline_band",
    "randomisation_cascade",
    "rank_correlation",
]


@dataclass(frozen=True, eq=False)
class ExplanationBatch:
    """:func:`explain_batch`'s result: per image its map, its checks and a row of ``table``."""

    explanations: list[Explanation]
    checks: list[SanityChecks]
    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.explanations)


def _names(values, classes: Sequence[str] | None) -> list:
    if classes is None:
        return list(values)
    return [classes[int(v)] if isinstance(v, (int, np.integer)) else v for v in values]


def explain_batch(
    model,
    images,
    true: Sequence | None = None,
    classes: Sequence[str] | None = None,
    class_index=None,
    method: str = "auto",
    layer=None,
    options: SanityOptions | None = None,
) -> ExplanationBatch:
    """Maps and sanity checks (run as ``options`` say) of a batch, with one table row per image.

    ``true``: the images' true classes (names or indices), shown in the table; ``classes``: the
    class names, to name indices. The maps explain ``class_index`` (default: the predicted
    class). Columns: ``true``, ``predicted``, ``confidence``, ``explained``, ``method``,
    ``layer``, ``flat``, ``rank_corr``, ``randomisation_passed``, ``deletion_auc``,
    ``random_deletion_auc``, ``deletion_gain``, ``deletion_passed``, ``insertion_auc``,
    ``random_insertion_auc``, ``insertion_gain``, ``insertion_passed`` and ``passed`` (all three
    checks passed and the map is not flat).
    """
    images = as_batch(images)
    true = None if true is None else list(true)  # a Series keeps its own index: drop it
    if true is not None and len(true) != len(images):
        raise ValueError(f"{len(true)} true classes for {len(images)} images")
    plan = make_plan(model, images, method, layer)
    explanations = explain_planned(model, plan, images, class_index)
    checks = check_planned(model, plan, images, explanations, options or SanityOptions())
    probabilities = np.concatenate(
        [
            head_probabilities(
                plan, model(tf.convert_to_tensor(images[s : s + CHUNK]), training=False)
            )
            for s in range(0, len(images), CHUNK)
        ]
    )
    predicted = probabilities.argmax(axis=1)
    rows = []
    for i, (e, c) in enumerate(zip(explanations, checks, strict=True)):
        rows.append(
            {
                "true": _names([true[i]], classes)[0] if true is not None else None,
                "predicted": _names([int(predicted[i])], classes)[0],
                "confidence": float(probabilities[i, predicted[i]]),
                "explained": _names([e.class_index], classes)[0],
                "method": e.method,
                "layer": e.layer,
                "flat": e.flat,
                "rank_corr": c.rank_corr,
                "randomisation_passed": c.randomisation_passed,
                "deletion_auc": c.deletion_auc,
                "random_deletion_auc": c.random_deletion_auc,
                "deletion_gain": c.deletion_gain,
                "deletion_passed": c.deletion_passed,
                "insertion_auc": c.insertion_auc,
                "random_insertion_auc": c.random_insertion_auc,
                "insertion_gain": c.insertion_gain,
                "insertion_passed": c.insertion_passed,
                "passed": not e.flat
                and c.randomisation_passed
                and c.deletion_passed
                and c.insertion_passed,
            }
        )
    table = pd.DataFrame(rows)
    if true is None:
        table = table.drop(columns="true")
    return ExplanationBatch(explanations, checks, table)
