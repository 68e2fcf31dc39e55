"""The sanity checks of a map: model randomisation (Adebayo et al., 2018; weights re-drawn from the
output down, the maps' Spearman rank correlation at most ``max_rank_corr``) and deletion /
insertion against random pixel orders (Petsiuk et al., 2018; a blurred baseline by default)."""

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.explain.maps import (
    Explanation,
    Plan,
    as_batch,
    compute_maps,
    head_probabilities,
    make_plan,
)

BASELINES = ("blur", "mean")
MAX_RANK_CORR = 0.5
CHUNK = 32  # images per forward pass in the checks
_MOVING_STATISTICS = ("moving_mean", "moving_variance")


@dataclass(frozen=True, eq=False)
class SanityChecks:
    """The sanity numbers of one map; curves are the class probability at ``fractions``."""

    rank_corr: float
    deletion_auc: float
    random_deletion_auc: float
    insertion_auc: float
    random_insertion_auc: float
    fractions: np.ndarray = field(repr=False)
    deletion_curve: np.ndarray = field(repr=False)
    insertion_curve: np.ndarray = field(repr=False)
    random_deletion_curve: np.ndarray = field(repr=False)
    random_insertion_curve: np.ndarray = field(repr=False)
    max_rank_corr: float = MAX_RANK_CORR

    @property
    def randomisation_passed(self) -> bool:
        """The map moved when the weights were randomised (NaN, a single position, fails)."""
        return bool(self.rank_corr <= self.max_rank_corr)

    @property
    def deletion_gain(self) -> float:  # positive when the map beats a random order
        return self.random_deletion_auc - self.deletion_auc

    @property
    def insertion_gain(self) -> float:  # positive when the map beats a random order
        return self.insertion_auc - self.random_insertion_auc

    @property
    def deletion_passed(self) -> bool:
        return bool(self.deletion_gain > 0)

    @property
    def insertion_passed(self) -> bool:
        return bool(self.insertion_gain > 0)


@contextlib.contextmanager
def _randomised(layers: Sequence[keras.layers.Layer], seed: int) -> Iterator[None]:
    """Re-draw the weights of ``layers`` (in the order given); restore them on exit."""
    saved = [(v, v.numpy()) for layer in layers for v in layer.weights]
    rng = np.random.default_rng(seed)
    try:
        for layer in layers:
            for variable in layer.weights:
                if variable.path.rsplit("/", 1)[-1] in _MOVING_STATISTICS:
                    continue
                values = variable.numpy()
                if not np.issubdtype(values.dtype, np.floating):
                    continue  # e.g. a dropout layer's seed state
                spread = float(values.std())
                if spread > 0:
                    noise = rng.normal(float(values.mean()), spread, values.shape)
                    variable.assign(noise.astype(values.dtype))
        yield
    finally:
        for variable, values in saved:
            variable.assign(values)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (two flat maps: 1.0, one flat map: 0.0)."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if a.size < 2:
        return float("nan")
    flat_a, flat_b = np.ptp(a) == 0, np.ptp(b) == 0
    if flat_a or flat_b:
        return 1.0 if flat_a and flat_b else 0.0
    return float(spearmanr(a, b).statistic)


def _plan_for(model, images, explanations: Sequence[Explanation]) -> Plan:
    methods, layers = {e.method for e in explanations}, {e.layer for e in explanations}
    if len(methods) != 1 or len(layers) != 1:
        raise ValueError("check the maps of one method and one layer at a time")
    return make_plan(model, images, methods.pop(), layers.pop())


def randomisation_cascade(
    model, images, explanations: Sequence[Explanation], steps: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """Adebayo et al.'s cascade: rank correlations as layers are randomised from the top down."""
    images = as_batch(images)
    plan = _plan_for(model, images, explanations)
    top_down = list(reversed(plan.weighted))
    groups = np.array_split(np.arange(len(top_down)), min(steps or len(top_down), len(top_down)))
    classes = [e.class_index for e in explanations]
    rows = []
    for step, group in enumerate(groups, start=1):
        count = int(group[-1]) + 1
        with _randomised(top_down[:count], seed):
            raws, *_ = compute_maps(model, plan, images, classes)
        rows += [
            {"step": step, "randomised": count, "down_to": top_down[count - 1].name, "image": i,
             "rank_corr": rank_correlation(np.maximum(e.raw, 0), np.maximum(raw, 0))}
            for i, (e, raw) in enumerate(zip(explanations, raws, strict=True))
        ]  # fmt: skip
    return pd.DataFrame(rows)


def _baseline(image: np.ndarray, kind: str) -> np.ndarray:
    if kind == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1), keepdims=True), image.shape).copy()
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = min(image.shape[:2]) / 10
        return gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest").astype(np.float32)
    raise ValueError(f"baseline must be one of {BASELINES}, got {kind!r}")


def probabilities(model, plan: Plan, images: np.ndarray) -> np.ndarray:
    """The class probabilities of ``images``, ``CHUNK`` at a time."""
    chunks = (tf.convert_to_tensor(images[s : s + CHUNK]) for s in range(0, len(images), CHUNK))
    return np.concatenate([head_probabilities(plan, model(x, training=False)) for x in chunks])


def _curves(model, plan, image, saliency, class_index, baseline, steps, random_orders, seed):
    """Deletion and insertion curves for the map's order, then the random orders' means."""
    height, width = image.shape[:2]
    pixels = height * width
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(pixels), -saliency.ravel()))  # ties broken at random
    ranks = [np.empty(pixels, np.int64)]
    ranks[0][order] = np.arange(pixels)
    ranks += [rng.permutation(pixels) for _ in range(random_orders)]
    counts = np.round(np.linspace(0, pixels, steps + 1)).astype(np.int64)
    batches = []
    for rank in ranks:
        masks = (rank[None, :] < counts[:, None]).reshape(steps + 1, height, width, 1)
        batches.append(np.where(masks, baseline, image))  # deletion
        batches.append(np.where(masks, image, baseline))  # insertion
    probs = probabilities(model, plan, np.concatenate(batches).astype(np.float32))[:, class_index]
    probs = probs.reshape(len(ranks), 2, steps + 1)
    return counts / pixels, probs[0, 0], probs[0, 1], probs[1:, 0].mean(0), probs[1:, 1].mean(0)


def _auc(fractions: np.ndarray, curve: np.ndarray) -> float:
    return float(np.trapezoid(curve, fractions))


@dataclass(frozen=True)
class SanityOptions:
    """How the checks run: steps, random orders, deleted pixels' baseline, seed, threshold."""

    steps: int = 16
    random_orders: int = 3
    baseline: str = "blur"
    seed: int = 0
    max_rank_corr: float = MAX_RANK_CORR

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")


def check(
    model, images, explanations: Sequence[Explanation], options: SanityOptions | None = None
) -> list[SanityChecks]:
    """The sanity checks of :func:`explain`'s maps of ``images`` (one method and layer)."""
    images = as_batch(images)
    if len(images) != len(explanations):
        raise ValueError(f"{len(explanations)} maps for {len(images)} images")
    plan = _plan_for(model, images, explanations)
    return check_planned(model, plan, images, explanations, options or SanityOptions())


def check_planned(
    model, plan: Plan, images: np.ndarray, explanations, options: SanityOptions
) -> list[SanityChecks]:
    """:func:`check` with the plan already made (a batch reuses its maps' plan)."""
    classes = [e.class_index for e in explanations]
    with _randomised(list(reversed(plan.weighted)), options.seed):
        randomised, *_ = compute_maps(model, plan, images, classes)
    results = []
    for image, e, raw in zip(images, explanations, randomised, strict=True):
        rho = rank_correlation(np.maximum(e.raw, 0), np.maximum(raw, 0))
        reference = _baseline(image, options.baseline)
        x, dele, ins, rdel, rins = _curves(
            model, plan, image, e.map, e.class_index, reference, options.steps,
            options.random_orders, options.seed,
        )  # fmt: skip
        aucs = (_auc(x, dele), _auc(x, rdel), _auc(x, ins), _auc(x, rins))
        curves = (x, dele, ins, rdel, rins)
        results.append(SanityChecks(rho, *aucs, *curves, max_rank_corr=options.max_rank_corr))
    return results
