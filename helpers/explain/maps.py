"""Class-logit maps: which positions of a spatial layer (by default the last one feeding the
head's ``Flatten`` or global pooling) raised one class's *logit* (a probability's gradient
vanishes for confident predictions): Grad-CAM, or HiResCAM (exact for ``Flatten`` + ``Dense``)."""

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers.keras_graph import all_layers, recording

METHODS = ("auto", "gradcam", "hirescam")
_POOLING_TYPES = (keras.layers.GlobalAveragePooling2D,)


@dataclass(frozen=True, eq=False)
class Explanation:
    """One image's map for one class: ``map`` at input size in [0, 1], ``raw`` at the layer."""

    map: np.ndarray
    raw: np.ndarray
    class_index: int
    method: str
    layer: str
    logit: float
    probability: float

    @property
    def flat(self) -> bool:  # no position raised the logit: the map says nothing
        return not bool(self.map.max() > 0)


@dataclass(frozen=True, eq=False)
class Plan:
    """How a model's maps are made (:func:`make_plan`); ``weighted``: what the checks randomise."""

    target: keras.layers.Layer
    head: keras.layers.Layer
    # "dense": recompute a Dense's pre-activation; "input": the head's input; "output": linear
    head_kind: str
    method: str
    weighted: tuple[keras.layers.Layer, ...]  # layers with weights, input to output


def _first(value):  # the first tensor of a layer's inputs or outputs
    while isinstance(value, (list, tuple)):
        value = value[0]
    return value


def _rank(value) -> int:
    return len(getattr(_first(value), "shape", ()))


def _activation_name(layer) -> str:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def _find_layer(model, layer) -> keras.layers.Layer:
    if not isinstance(layer, str):
        return layer
    found = next((c for c in all_layers(model) if c.name == layer), None)
    if found is None:
        raise ValueError(f"{model.name}: no layer named {layer!r}")
    return found


def make_plan(model, images: np.ndarray, method: str = "auto", layer=None) -> Plan:
    """Which layer to explain, how to get the logit, which method: from one recorded pass."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    probe = tf.convert_to_tensor(images[:1])
    model(probe, training=False)  # builds a Sequential model that has not been built yet
    layers = list(all_layers(model))
    if layer is not None:
        layers.append(_find_layer(model, layer))
    with recording(layers, eager_only=True) as calls:
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

    weighted = {id(c.layer): c.layer for c in leaves if c.layer.weights}  # in first-call order
    return Plan(target, head, head_kind, method, tuple(weighted.values()))


def _logits(plan: Plan, calls: list, outputs):
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


def head_probabilities(plan: Plan, outputs) -> np.ndarray:
    """The class probabilities of a forward pass's ``outputs`` (a linear head's logits softmaxed)."""
    values = tf.cast(_first(outputs), tf.float32)
    if plan.head_kind == "output":  # a linear head outputs logits
        values = tf.nn.softmax(values) if values.shape[-1] > 1 else tf.sigmoid(values)
    return values.numpy()


def _raw_maps(model, plan: Plan, images: np.ndarray, class_indices):
    """Raw (signed, layer-resolution) maps, logits, probabilities and classes of a batch."""
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)  # frozen or weight-free layers are recorded too
        with recording([plan.target, plan.head], eager_only=True) as calls:
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
        gradients = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    raw = tf.reduce_sum(gradients * features, axis=-1)
    classes = classes.numpy()
    chosen_p = head_probabilities(plan, outputs)[np.arange(len(classes)), classes]
    return raw.numpy(), chosen.numpy(), chosen_p, classes


def _upsample(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    positive = np.maximum(raw, 0.0).astype(np.float32)
    if not positive.max() > 0:
        return np.zeros(size, np.float32)
    resized = tf.image.resize(positive[..., None], size, method="bilinear").numpy()[..., 0]
    resized = np.maximum(resized, 0.0)
    return (resized / resized.max()).astype(np.float32)


def as_batch(images) -> np.ndarray:
    """``images`` as a float32 ``N x H x W x C`` batch (one ``H x W x C`` image becomes N = 1)."""
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


def compute_maps(model, plan: Plan, images: np.ndarray, classes, chunk: int = 16):
    """Raw maps, logits, probabilities and classes of ``images``, ``chunk`` at a time."""
    parts = [
        _raw_maps(
            model, plan, images[s : s + chunk], None if classes is None else classes[s : s + chunk]
        )
        for s in range(0, len(images), chunk)
    ]
    return (np.concatenate(a) for a in zip(*parts, strict=True))


def explain(model, images, class_index=None, method: str = "auto", layer=None) -> list[Explanation]:
    """One :class:`Explanation` per image (or batch) for ``class_index`` (one, one per image, or
    None: the predicted); ``method`` ``auto`` is Grad-CAM for a pooled head, else HiResCAM."""
    images = as_batch(images)
    return explain_planned(model, make_plan(model, images, method, layer), images, class_index)


def explain_planned(model, plan: Plan, images: np.ndarray, class_index) -> list[Explanation]:
    """:func:`explain` with the plan already made (a batch's checks reuse it)."""
    classes = _class_list(class_index, len(images))
    raws, logits, probs, classes = compute_maps(model, plan, images, classes)
    size = images.shape[1:3]
    return [
        Explanation(
            _upsample(raw, size), raw, int(c), plan.method, plan.target.name, float(lo), float(p)
        )
        for raw, lo, p, c in zip(raws, logits, probs, classes, strict=True)
    ]
