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

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

METHODS = ("auto", "gradcam", "hirescam")
BASELINES = ("blur", "mean")
MAX_RANK_CORR = 0.5
_CHUNK = 32  # images per forward pass in the checks
_POOLING_TYPES = (keras.layers.GlobalAveragePooling2D,)
_MOVING_STATISTICS = ("moving_mean", "moving_variance")


@dataclass(frozen=True, eq=False)
class Explanation:
    """One image's map for one class.

    ``map``: ``H x W`` in [0, 1] at the input size (ReLU, bilinear upsampling, divided by the
    maximum; all zeros when ``flat``). ``raw``: ``h x w`` at the layer, before ReLU and scaling.
    ``logit`` and ``probability`` are the model's for ``class_index``.
    """

    map: np.ndarray
    raw: np.ndarray
    class_index: int
    method: str
    layer: str
    logit: float
    probability: float

    @property
    def flat(self) -> bool:
        """No position raised the logit: the map is all zeros and says nothing."""
        return not bool(self.map.max() > 0)


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
    def deletion_gain(self) -> float:
        """Random order's deletion AUC minus the map's: positive when the map beats random."""
        return self.random_deletion_auc - self.deletion_auc

    @property
    def insertion_gain(self) -> float:
        """The map's insertion AUC minus the random order's: positive when the map beats random."""
        return self.insertion_auc - self.random_insertion_auc

    @property
    def deletion_passed(self) -> bool:
        return bool(self.deletion_gain > 0)

    @property
    def insertion_passed(self) -> bool:
        return bool(self.insertion_gain > 0)


@dataclass(frozen=True, eq=False)
class ExplanationBatch:
    """:func:`explain_batch`'s result: per image its map, its checks and a row of ``table``."""

    explanations: list[Explanation]
    checks: list[SanityChecks]
    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.explanations)


# --- finding the layers --------------------------------------------------------------------


@dataclass(eq=False)
class _Call:
    layer: keras.layers.Layer
    inputs: object
    outputs: object


@dataclass(frozen=True, eq=False)
class _Plan:
    target: keras.layers.Layer
    head: keras.layers.Layer
    # "dense": recompute a Dense's pre-activation; "input": the head's input; "output": linear
    head_kind: str
    method: str
    weighted: tuple[keras.layers.Layer, ...]  # layers with weights, input to output


def _all_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every layer of ``model``, nested models' layers included (each once)."""
    seen: set[int] = set()

    def walk(container):
        for layer in getattr(container, "layers", []):
            if id(layer) in seen or isinstance(layer, keras.layers.InputLayer):
                continue
            seen.add(id(layer))
            yield layer
            if isinstance(layer, keras.Model):
                yield from walk(layer)

    yield from walk(model)


def _first(value):
    """The first tensor of a layer's positional inputs or outputs."""
    while isinstance(value, (list, tuple)):
        value = value[0]
    return value


def _rank(value) -> int:
    return len(getattr(_first(value), "shape", ()))


@contextlib.contextmanager
def _recording(layers: Sequence[keras.layers.Layer]) -> Iterator[list[_Call]]:
    """Record each eager call of ``layers`` (inputs, outputs), in execution order."""
    calls: list[_Call] = []
    wrapped: list[keras.layers.Layer] = []

    def wrap(layer, call):
        def recorded(*args, **kwargs):
            outputs = call(*args, **kwargs)
            if not isinstance(_first(outputs), keras.KerasTensor):
                calls.append(_Call(layer, args[0] if args else None, outputs))
            return outputs

        return recorded

    try:
        for layer in layers:
            if "call" in vars(layer):  # already wrapped (a layer listed twice)
                continue
            object.__setattr__(layer, "call", wrap(layer, layer.call))
            wrapped.append(layer)
        yield calls
    finally:
        for layer in wrapped:
            object.__delattr__(layer, "call")


def _activation_name(layer) -> str:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def _find_layer(model, layer) -> keras.layers.Layer:
    if not isinstance(layer, str):
        return layer
    for candidate in _all_layers(model):
        if candidate.name == layer:
            return candidate
    raise ValueError(f"{model.name}: no layer named {layer!r}")


def _plan(model, images: np.ndarray, method: str = "auto", layer=None) -> _Plan:
    """Which layer to explain, how to get the logit, which method: from one recorded pass."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    probe = tf.convert_to_tensor(images[:1])
    model(probe, training=False)  # builds a Sequential model that has not been built yet
    layers = list(_all_layers(model))
    if layer is not None:
        layers.append(_find_layer(model, layer))
    with _recording(layers) as calls:
        model(probe, training=False)
    leaves = [c for c in calls if not isinstance(c.layer, keras.Model)]
    if not leaves:
        raise ValueError(f"{model.name}: no layer ran in a forward pass")

    # The head's reducer: the last layer taking a 4-D input to fewer axes (Flatten, global
    # pooling; squeeze-and-excitation poolings inside the backbone come before it).
    reducers = [i for i, c in enumerate(leaves) if _rank(c.inputs) == 4 and _rank(c.outputs) < 4]
    reducer = reducers[-1] if reducers else None
    if layer is not None:
        target = _find_layer(model, layer)
        ran = [c for c in calls if c.layer is target]
        if not ran:
            raise ValueError(f"{model.name}: layer {target.name!r} did not run")
        if _rank(ran[0].outputs) != 4:
            raise ValueError(f"layer {target.name!r} has no spatial (4-D) output")
    else:
        if reducer is None:
            raise ValueError(f"{model.name}: no spatial layer feeding a flatten or pooling head")
        consumed = _first(leaves[reducer].inputs)
        before = [c for c in leaves[:reducer] if _rank(c.outputs) == 4]
        if not before:
            raise ValueError(f"{model.name}: no spatial layer before {leaves[reducer].layer.name}")
        target = next((c.layer for c in before if _first(c.outputs) is consumed), before[-1].layer)

    # How the logit is read off the head.
    head = leaves[-1].layer
    activation = _activation_name(head)
    if activation == "linear":
        head_kind = "output"
    elif activation in ("softmax", "sigmoid") and isinstance(
        head, (keras.layers.Softmax, keras.layers.Activation)
    ):
        head_kind = "input"
    elif activation in ("softmax", "sigmoid") and isinstance(head, keras.layers.Dense):
        head_kind = "dense"
    else:
        raise ValueError(
            f"{model.name}: cannot take the pre-{activation} score of {type(head).__name__} "
            f"{head.name!r}; end the model with a Dense or an Activation layer"
        )

    if method == "auto":  # the head decides: global average pooling or not
        pooled = reducer is not None and isinstance(leaves[reducer].layer, _POOLING_TYPES)
        method = "gradcam" if pooled else "hirescam"

    weighted: list[keras.layers.Layer] = []
    for c in leaves:
        if c.layer.weights and all(c.layer is not w for w in weighted):
            weighted.append(c.layer)
    return _Plan(target, head, head_kind, method, tuple(weighted))


# --- maps ----------------------------------------------------------------------------------


def _logits(plan: _Plan, calls: list[_Call], outputs):
    head_call = next(c for c in reversed(calls) if c.layer is plan.head)
    if plan.head_kind == "output":
        return tf.cast(_first(outputs), tf.float32)
    inputs = tf.cast(_first(head_call.inputs), tf.float32)
    if plan.head_kind == "input":
        return inputs
    dense = plan.head
    logits = tf.matmul(inputs, tf.cast(keras.ops.convert_to_tensor(dense.kernel), tf.float32))
    if dense.use_bias:
        logits = logits + tf.cast(keras.ops.convert_to_tensor(dense.bias), tf.float32)
    return logits


def _probabilities(plan: _Plan, outputs) -> np.ndarray:
    values = tf.cast(_first(outputs), tf.float32)
    if plan.head_kind == "output":  # a linear head outputs logits
        values = tf.nn.softmax(values) if values.shape[-1] > 1 else tf.sigmoid(values)
    return values.numpy()


def _raw_maps(model, plan: _Plan, images: np.ndarray, class_indices):
    """Raw (signed, layer-resolution) maps, logits, probabilities and classes of a batch."""
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)  # frozen or weight-free layers are recorded too
        with _recording([plan.target, plan.head]) as calls:
            outputs = model(x, training=False)
        features = _first(next(c for c in calls if c.layer is plan.target).outputs)
        logits = _logits(plan, calls, outputs)
        if class_indices is None:
            classes = tf.argmax(logits, axis=-1, output_type=tf.int32)
        else:
            classes = tf.constant(np.asarray(class_indices, dtype=np.int32))
        chosen = tf.gather(logits, classes, axis=1, batch_dims=1)
        score = tf.reduce_sum(chosen)  # samples do not interact: per-sample gradients
    gradients = tape.gradient(score, features)
    features = tf.cast(features, tf.float32)
    if gradients is None:  # the layer does not reach the logit: nothing to attribute
        gradients = tf.zeros_like(features)
    gradients = tf.cast(gradients, tf.float32)
    if plan.method == "gradcam":
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        raw = tf.reduce_sum(weights * features, axis=-1)
    else:
        raw = tf.reduce_sum(gradients * features, axis=-1)
    probabilities = _probabilities(plan, outputs)
    classes = classes.numpy()
    return (
        raw.numpy(),
        chosen.numpy(),
        probabilities[np.arange(len(classes)), classes],
        classes,
    )


def _upsample(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    positive = np.maximum(raw, 0.0).astype(np.float32)
    if not positive.max() > 0:
        return np.zeros(size, np.float32)
    resized = tf.image.resize(positive[..., None], size, method="bilinear").numpy()[..., 0]
    resized = np.maximum(resized, 0.0)
    return (resized / resized.max()).astype(np.float32)


def _as_batch(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or not len(images):
        raise ValueError(f"images must be H x W x C or N x H x W x C, got shape {images.shape}")
    return images


def _class_list(class_index, count: int):
    if class_index is None:
        return None
    if np.ndim(class_index) == 0:
        return [int(class_index)] * count
    if len(class_index) != count:
        raise ValueError(f"{len(class_index)} class indices for {count} images")
    return [int(c) for c in class_index]


def _compute(model, plan: _Plan, images: np.ndarray, classes, chunk: int = 16):
    raws, logits, probs, chosen = [], [], [], []
    for start in range(0, len(images), chunk):
        part = None if classes is None else classes[start : start + chunk]
        r, lo, p, c = _raw_maps(model, plan, images[start : start + chunk], part)
        raws.append(r)
        logits.append(lo)
        probs.append(p)
        chosen.append(c)
    return (np.concatenate(a) for a in (raws, logits, probs, chosen))


def explain(model, images, class_index=None, method: str = "auto", layer=None) -> list[Explanation]:
    """Maps of ``images`` (one ``H x W x C`` image or a batch) for ``class_index``.

    ``class_index``: one index for all images, one per image, or None for each image's predicted
    class. ``method``: ``"auto"`` (Grad-CAM for a global-average-pooled head, HiResCAM
    otherwise), ``"gradcam"`` or ``"hirescam"``. ``layer``: a layer or its name (nested models
    are searched); by default the last spatial layer. Returns one :class:`Explanation` per image.
    """
    images = _as_batch(images)
    return _explain(model, _plan(model, images, method, layer), images, class_index)


def _explain(model, plan: _Plan, images: np.ndarray, class_index) -> list[Explanation]:
    classes = _class_list(class_index, len(images))
    raws, logits, probs, classes = _compute(model, plan, images, classes)
    size = images.shape[1:3]
    return [
        Explanation(
            _upsample(raw, size), raw, int(c), plan.method, plan.target.name, float(lo), float(p)
        )
        for raw, lo, p, c in zip(raws, logits, probs, classes, strict=True)
    ]


# --- model randomisation -------------------------------------------------------------------


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
    """Spearman rank correlation of two maps (ties share their mean rank).

    A map with a single position gives NaN. When a map is constant (flat) no ranking exists:
    two constant maps count as unchanged (1.0), one constant and one not as unrelated (0.0).
    """
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if a.size < 2:
        return float("nan")
    flat_a, flat_b = np.ptp(a) == 0, np.ptp(b) == 0
    if flat_a or flat_b:
        return 1.0 if flat_a and flat_b else 0.0
    return float(spearmanr(a, b).statistic)


def _plan_for(model, images, explanations: Sequence[Explanation]) -> _Plan:
    methods = {e.method for e in explanations}
    layers = {e.layer for e in explanations}
    if len(methods) != 1 or len(layers) != 1:
        raise ValueError("check the maps of one method and one layer at a time")
    return _plan(model, images, methods.pop(), layers.pop())


def randomisation_cascade(
    model, images, explanations: Sequence[Explanation], steps: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """Adebayo et al.'s cascade: the rank correlation of each map after each step.

    Weighted layers are randomised cumulatively from the output down, in ``steps`` groups of
    about equal size (default: one layer per step). One row per step and image: ``step``,
    ``randomised`` (how many layers, counted from the top), ``down_to`` (the deepest randomised
    layer), ``image`` and ``rank_corr``.
    """
    images = _as_batch(images)
    plan = _plan_for(model, images, explanations)
    top_down = list(reversed(plan.weighted))
    groups = np.array_split(np.arange(len(top_down)), min(steps or len(top_down), len(top_down)))
    classes = [e.class_index for e in explanations]
    rows = []
    for step, group in enumerate(groups, start=1):
        count = int(group[-1]) + 1
        with _randomised(top_down[:count], seed):
            raws, *_ = _compute(model, plan, images, classes)
        for i, (e, raw) in enumerate(zip(explanations, raws, strict=True)):
            rows.append(
                {
                    "step": step,
                    "randomised": count,
                    "down_to": top_down[count - 1].name,
                    "image": i,
                    "rank_corr": rank_correlation(np.maximum(e.raw, 0), np.maximum(raw, 0)),
                }
            )
    return pd.DataFrame(rows)


# --- deletion / insertion ------------------------------------------------------------------


def _baseline(image: np.ndarray, kind: str) -> np.ndarray:
    if kind == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1), keepdims=True), image.shape).copy()
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = min(image.shape[:2]) / 10
        return gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest").astype(np.float32)
    raise ValueError(f"baseline must be one of {BASELINES}, got {kind!r}")


def _predict_class(model, plan: _Plan, batch: np.ndarray, class_index: int) -> np.ndarray:
    out = []
    for start in range(0, len(batch), _CHUNK):
        outputs = model(tf.convert_to_tensor(batch[start : start + _CHUNK]), training=False)
        out.append(_probabilities(plan, outputs)[:, class_index])
    return np.concatenate(out)


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
    probs = _predict_class(model, plan, np.concatenate(batches).astype(np.float32), class_index)
    probs = probs.reshape(len(ranks), 2, steps + 1)
    return counts / pixels, probs[0, 0], probs[0, 1], probs[1:, 0].mean(0), probs[1:, 1].mean(0)


def _auc(fractions: np.ndarray, curve: np.ndarray) -> float:
    return float(np.trapezoid(curve, fractions))


def check(
    model,
    images,
    explanations: Sequence[Explanation],
    steps: int = 16,
    random_orders: int = 3,
    baseline: str = "blur",
    seed: int = 0,
    max_rank_corr: float = MAX_RANK_CORR,
) -> list[SanityChecks]:
    """The sanity checks of each map (see the module docstring): randomisation, deletion, insertion.

    ``explanations`` are :func:`explain`'s maps of ``images`` (one method and layer). Costs one
    map computation on the randomised model plus ``2 (steps + 1) (1 + random_orders)`` forward
    passes per image.
    """
    images = _as_batch(images)
    if len(images) != len(explanations):
        raise ValueError(f"{len(explanations)} maps for {len(images)} images")
    plan = _plan_for(model, images, explanations)
    return _check(
        model, plan, images, explanations, steps, random_orders, baseline, seed, max_rank_corr
    )


def _check(
    model, plan, images, explanations, steps, random_orders, baseline, seed, max_rank_corr
) -> list[SanityChecks]:
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    classes = [e.class_index for e in explanations]
    with _randomised(list(reversed(plan.weighted)), seed):
        randomised, *_ = _compute(model, plan, images, classes)
    results = []
    for image, e, raw in zip(images, explanations, randomised, strict=True):
        rho = rank_correlation(np.maximum(e.raw, 0), np.maximum(raw, 0))
        reference = _baseline(image, baseline)
        x, dele, ins, rdel, rins = _curves(
            model, plan, image, e.map, e.class_index, reference, steps, random_orders, seed
        )
        results.append(
            SanityChecks(
                rank_corr=rho,
                deletion_auc=_auc(x, dele),
                random_deletion_auc=_auc(x, rdel),
                insertion_auc=_auc(x, ins),
                random_insertion_auc=_auc(x, rins),
                fractions=x,
                deletion_curve=dele,
                insertion_curve=ins,
                random_deletion_curve=rdel,
                random_insertion_curve=rins,
                max_rank_corr=max_rank_corr,
            )
        )
    return results


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
    steps: int = 16,
    random_orders: int = 3,
    baseline: str = "blur",
    seed: int = 0,
    max_rank_corr: float = MAX_RANK_CORR,
) -> ExplanationBatch:
    """Maps and sanity checks of a batch, with one table row per image.

    ``true``: the images' true classes (names or indices), shown in the table; ``classes``: the
    class names, to name indices. The maps explain ``class_index`` (default: the predicted
    class). Columns: ``true``, ``predicted``, ``confidence``, ``explained``, ``method``,
    ``layer``, ``flat``, ``rank_corr``, ``randomisation_passed``, ``deletion_auc``,
    ``random_deletion_auc``, ``deletion_gain``, ``deletion_passed``, ``insertion_auc``,
    ``random_insertion_auc``, ``insertion_gain``, ``insertion_passed`` and ``passed`` (all three
    checks passed and the map is not flat).
    """
    images = _as_batch(images)
    true = None if true is None else list(true)  # a Series keeps its own index: drop it
    if true is not None and len(true) != len(images):
        raise ValueError(f"{len(true)} true classes for {len(images)} images")
    plan = _plan(model, images, method, layer)
    explanations = _explain(model, plan, images, class_index)
    checks = _check(
        model, plan, images, explanations, steps, random_orders, baseline, seed, max_rank_corr
    )
    probabilities = np.concatenate(
        [
            _probabilities(
                plan, model(tf.convert_to_tensor(images[s : s + _CHUNK]), training=False)
            )
            for s in range(0, len(images), _CHUNK)
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


# --- what the model looks at ---------------------------------------------------------------


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut that maximises the between-class variance of the histogram."""
    counts, edges = np.histogram(values, bins=bins, range=(values.min(), values.max()))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    total = weight[-1]
    cum_mean = np.cumsum(counts * centres)
    w0, w1 = weight[:-1], total - weight[:-1]
    valid = (w0 > 0) & (w1 > 0)
    m0 = np.where(valid, cum_mean[:-1] / np.maximum(w0, 1), 0)
    m1 = np.where(valid, (cum_mean[-1] - cum_mean[:-1]) / np.maximum(w1, 1), 0)
    between = np.where(valid, w0 * w1 * (m0 - m1) ** 2, -1)
    return float(edges[1:][:-1][np.argmax(between)])


def garment_mask(images, min_contrast: float = 0.1) -> np.ndarray:
    """Garment (foreground) pixels of images on a near-uniform background: boolean ``[N] x H x W``.

    Grey level = the mean of the channels. Otsu's threshold splits it into two classes; the
    background is the class of the image border (its median grey level), so light garments on
    black (the embedded sample's Fashion-MNIST images) and dark garments on white both work.
    Holes inside the garment (dark prints) are filled. An image whose grey levels span less than
    ``min_contrast`` (of the [0, 1] range) has no garment: its mask is empty.
    """
    from scipy.ndimage import binary_fill_holes

    array = np.asarray(images, dtype=np.float32)
    single = array.ndim in (2, 3)
    if array.ndim == 2:
        array = array[None, ..., None]
    elif array.ndim == 3:
        array = array[None]
    grey = array.mean(axis=-1)
    masks = np.zeros(grey.shape, bool)
    for i, g in enumerate(grey):
        if g.max() - g.min() < min_contrast:
            continue
        threshold = _otsu(g)
        border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
        above = g >= threshold
        foreground = ~above if np.median(border) >= threshold else above
        masks[i] = binary_fill_holes(foreground)
    return masks[0] if single else masks


def _map_array(item) -> np.ndarray:
    return item.map if isinstance(item, Explanation) else np.asarray(item, dtype=np.float64)


def focus_share(maps, masks) -> np.ndarray:
    """Per map, the share of its mass (sum of the map) on the mask's pixels; NaN for a flat map.

    ``maps``: :class:`Explanation` objects or ``H x W`` arrays; ``masks``: matching boolean masks.
    """
    masks = np.asarray(masks, bool)
    if masks.ndim == 2:
        masks = masks[None]
    arrays = [_map_array(m) for m in (maps if isinstance(maps, (list, tuple)) else list(maps))]
    if len(arrays) != len(masks):
        raise ValueError(f"{len(arrays)} maps for {len(masks)} masks")
    shares = []
    for m, mask in zip(arrays, masks, strict=True):
        if m.shape != mask.shape:
            raise ValueError(f"map of shape {m.shape} for a mask of shape {mask.shape}")
        total = float(m.sum())
        shares.append(float(m[mask].sum()) / total if total > 0 else float("nan"))
    return np.array(shares)


def outline_band(masks, width: int | None = None) -> np.ndarray:
    """The background within ``width`` pixels of the garment (default: 5% of the image side).

    Edge-reading models look there (necklines, the gaps between sleeves and body); it is
    background, but not "the background" in the sense of the scene behind the garment.
    """
    from scipy.ndimage import binary_dilation

    masks = np.asarray(masks, bool)
    single = masks.ndim == 2
    masks = masks[None] if single else masks
    width = width or max(1, round(0.05 * min(masks.shape[1:])))
    bands = np.stack([binary_dilation(m, iterations=width) & ~m if m.any() else m for m in masks])
    return bands[0] if single else bands


def describe_focus(maps, masks, foreground: str = "garment", outline: int | None = None) -> str:
    """What the model looks at, in words: the maps' mass on the foreground against its area.

    For example: "Over 8 images the maps put 72% of their mass on the garment, which covers 45%
    of the image (a uniform map would put 45% there), and 15% on the 5-pixel band of background
    around it, which covers 12%: they favour the garment." Means are taken over the images whose
    map is not flat and whose mask is not empty (the others are counted apart). The verdict
    compares a share with its area: at least 1.25 times the area favours the foreground; else,
    if the band around it (:func:`outline_band`, ``outline`` pixels wide) gets at least 1.25
    times its area, the outline (edge-reading models: necklines, sleeve ends); else at most 0.8
    times the area favours the background; else neither.
    """
    masks = np.asarray(masks, bool)
    if masks.ndim == 2:
        masks = masks[None]
    bands = outline_band(masks, outline)
    width = outline or max(1, round(0.05 * min(masks.shape[1:])))
    shares = focus_share(maps, masks)
    near_shares = focus_share(maps, bands)
    coverage = masks.reshape(len(masks), -1).mean(axis=1)
    band_coverage = bands.reshape(len(bands), -1).mean(axis=1)
    kept = ~np.isnan(shares) & (coverage > 0)
    flat = int(np.isnan(shares).sum())
    if not kept.any():
        empty = int((coverage == 0).sum())
        return f"No map can be read: {flat} flat, {empty} without a {foreground}."
    share, area = float(shares[kept].mean()), float(coverage[kept].mean())
    near, near_area = float(near_shares[kept].mean()), float(band_coverage[kept].mean())
    if share >= 1.25 * area:
        verdict = f"they favour the {foreground}"
    elif near >= 1.25 * near_area:
        verdict = f"they favour the {foreground}'s outline"
    elif share <= 0.8 * area:
        verdict = "they favour the background"
    else:
        verdict = f"they spread about evenly between the {foreground} and the background"
    images = "image" if kept.sum() == 1 else "images"
    text = (
        f"Over {int(kept.sum())} {images} the maps put {share:.0%} of their mass on the "
        f"{foreground}, which covers {area:.0%} of the image (a uniform map would put {area:.0%} "
        f"there), and {near:.0%} on the {width}-pixel band of background around it, which "
        f"covers {near_area:.0%}: {verdict}."
    )
    skipped = len(shares) - int(kept.sum())
    if skipped:
        text += f" ({skipped} left out: {flat} flat maps, {skipped - flat} without a {foreground}.)"
    return text
