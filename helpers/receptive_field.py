"""Per-layer receptive field of a Keras model: size, jump (effective stride) and start, per axis.

For a layer with kernel ``k``, dilation ``d``, stride ``s`` and left/top padding
``p`` (``k_eff = d * (k - 1) + 1``), from the field ``(r, j, start)`` of its input:

    r_out = r + (k_eff - 1) * j        j_out = j * s        start_out = start + ((k_eff - 1) / 2 - p) * j

``start`` is the centre of output unit 0's field in input pixels. 'same'
padding puts the odd pixel on the bottom/right, as TensorFlow does. Merges
(Add, Concatenate, Multiply) take the union of their inputs' fields: the
largest field over all paths. After Flatten, Dense or global pooling a unit
sees every input pixel through an unlimited window, so its field is
*undefined* (None), not a number. A branch through global pooling that is
multiplied back into a feature map (squeeze-and-excitation in EfficientNet)
adds global context: the local field is kept and ``global_context`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

KERNEL_LAYERS = ("Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")
POOL_LAYERS = ("MaxPooling2D", "AveragePooling2D")
FLATTENING = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dense", "Reshape")
# The receptive-field columns of a per-layer table (helpers.layers joins them to the cost columns).
FIELD_COLUMNS = ["rf", "rf_h", "rf_w", "jump_h", "jump_w", "start_h", "start_w", "note"]
MERGES = ("Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract")


@dataclass(frozen=True)
class Axis:
    """Receptive field along one axis: size ``r``, jump ``j``, centre of unit 0 ``start``."""

    r: float
    j: float
    start: float

    @property
    def lo(self) -> float:
        return self.start - (self.r - 1) / 2

    @property
    def hi(self) -> float:
        return self.start + (self.r - 1) / 2


@dataclass(frozen=True)
class Field:
    """A layer's receptive field (None axes: undefined) and whether global context reaches it."""

    h: Axis | None
    w: Axis | None
    global_context: bool = False

    @property
    def defined(self) -> bool:
        return self.h is not None and self.w is not None


UNDEFINED = Field(None, None)


def inbound(layer: keras.layers.Layer) -> list:
    """The KerasTensors a layer was called on in its (first) functional node."""
    return list(layer._inbound_nodes[0].input_tensors)


def _spatial(shape) -> tuple[int, int] | None:
    return (shape[1], shape[2]) if len(shape) == 4 else None


def _same_padding(size_in: int, size_out: int, k_eff: int, stride: int) -> int:
    """Top/left padding of TensorFlow's 'same': half of the total, rounded down."""
    total = max((size_out - 1) * stride + k_eff - size_in, 0)
    return total // 2


def _through_window(field: Field, layer, kernel, strides, dilation, padding) -> Field:
    h_in, w_in = _spatial(layer.input.shape)
    h_out, w_out = _spatial(layer.output.shape)
    axes = []
    for axis, k, s, d, n_in, n_out in zip(
        (field.h, field.w), kernel, strides, dilation, (h_in, w_in), (h_out, w_out), strict=True
    ):
        k_eff = d * (k - 1) + 1
        pad = _same_padding(n_in, n_out, k_eff, s) if padding == "same" else 0
        axes.append(
            Axis(
                axis.r + (k_eff - 1) * axis.j,
                axis.j * s,
                axis.start + ((k_eff - 1) / 2 - pad) * axis.j,
            )
        )
    return Field(axes[0], axes[1], field.global_context)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def layer_field(layer, inputs: list[Field]) -> Field:
    """The receptive field of ``layer``'s output from the fields of its inputs."""
    kind = type(layer).__name__
    if kind in MERGES:
        return _merge(inputs)
    (field,) = inputs
    if kind in FLATTENING or not field.defined or _spatial(layer.output.shape) is None:
        return UNDEFINED
    if kind in KERNEL_LAYERS:
        return _through_window(
            field,
            layer,
            _pair(layer.kernel_size),
            _pair(layer.strides),
            _pair(layer.dilation_rate),
            layer.padding,
        )
    if kind in POOL_LAYERS:
        return _through_window(
            field, layer, _pair(layer.pool_size), _pair(layer.strides), (1, 1), layer.padding
        )
    if kind == "ZeroPadding2D":
        (top, _), (left, _) = layer.padding
        return Field(
            Axis(field.h.r, field.h.j, field.h.start - top * field.h.j),
            Axis(field.w.r, field.w.j, field.w.start - left * field.w.j),
            field.global_context,
        )
    if kind == "Cropping2D":
        (top, _), (left, _) = layer.cropping
        return Field(
            Axis(field.h.r, field.h.j, field.h.start + top * field.h.j),
            Axis(field.w.r, field.w.j, field.w.start + left * field.w.j),
            field.global_context,
        )
    if _spatial(layer.input.shape) != _spatial(layer.output.shape):
        raise NotImplementedError(
            f"{layer.name}: no receptive-field rule for {kind}, which changes the spatial shape"
        )
    return field  # pointwise: BN, activations, dropout, rescaling, normalisation, ...


def _merge(inputs: list[Field]) -> Field:
    defined = [f for f in inputs if f.defined]
    if not defined:
        return UNDEFINED
    global_context = len(defined) < len(inputs) or any(f.global_context for f in inputs)
    axes = []
    for name in ("h", "w"):
        parts = [getattr(f, name) for f in defined]
        if len({p.j for p in parts}) > 1:
            raise ValueError(f"merging fields with different jumps {[p.j for p in parts]}")
        lo, hi = min(p.lo for p in parts), max(p.hi for p in parts)
        axes.append(Axis(hi - lo + 1, parts[0].j, (lo + hi) / 2))
    return Field(axes[0], axes[1], global_context)


def receptive_fields(model: keras.Model) -> dict[str, Field]:
    """Every layer's output field, by layer name, in graph order."""
    fields: dict[int, Field] = {}
    result: dict[str, Field] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            field = Field(Axis(1, 1, 0), Axis(1, 1, 0))
        else:
            field = layer_field(layer, [fields[id(t)] for t in inbound(layer)])
        fields[id(layer.output)] = field
        result[layer.name] = field
    return result


def _fmt(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def receptive_field_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: output shape, field size, jump and start per axis (empty where undefined)."""
    fields = receptive_fields(model)
    rows = []
    for layer in model.layers:
        field = fields[layer.name]
        row = {
            "layer": layer.name,
            "type": type(layer).__name__,
            "output_shape": tuple(layer.output.shape[1:]),
        }
        if field.defined:
            row.update(
                rf_h=_fmt(field.h.r),
                rf_w=_fmt(field.w.r),
                jump_h=_fmt(field.h.j),
                jump_w=_fmt(field.w.j),
                start_h=_fmt(field.h.start),
                start_w=_fmt(field.w.start),
            )
            row["rf"] = f"{_fmt(field.h.r)}x{_fmt(field.w.r)}"
        else:
            row["rf"] = ""
        row["note"] = (
            "undefined (global)"
            if not field.defined
            else ("+ global context" if field.global_context else "")
        )
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=["layer", "type", "output_shape", *FIELD_COLUMNS])
    return table.astype({c: "Int64" for c in ("rf_h", "rf_w", "jump_h", "jump_w")})


def last_spatial_layer(model: keras.Model) -> str:
    """The deepest layer whose field is defined (the one before Flatten or global pooling)."""
    fields = receptive_fields(model)
    defined = [
        name for name, field in fields.items() if field.defined and not name.startswith("input")
    ]
    if not defined:
        raise ValueError(f"{model.name}: no layer with a defined receptive field")
    return defined[-1]


def unit_box(
    model: keras.Model, layer_name: str, unit: tuple[int, int] | None = None
) -> tuple[float, float, float, float]:
    """Input-pixel box ``(top, left, bottom, right)`` seen by one unit (default: the central one), clipped to the image."""
    field = receptive_fields(model)[layer_name]
    if not field.defined:
        raise ValueError(f"{layer_name}: receptive field undefined")
    h_out, w_out = _spatial(model.get_layer(layer_name).output.shape)
    row, col = unit if unit is not None else (h_out // 2, w_out // 2)
    h_in, w_in = _spatial(model.input.shape)
    centre_h, centre_w = field.h.start + row * field.h.j, field.w.start + col * field.w.j
    top, bottom = centre_h - (field.h.r - 1) / 2, centre_h + (field.h.r - 1) / 2
    left, right = centre_w - (field.w.r - 1) / 2, centre_w + (field.w.r - 1) / 2
    return max(top, 0), max(left, 0), min(bottom, h_in - 1), min(right, w_in - 1)


# --- The proof: an empirical field from input gradients --------------------------------------


def _probe_layer(layer):
    """For the gradient probe: max-pooling sends gradient to one pixel per window, average-pooling to all."""
    if isinstance(layer, keras.layers.MaxPooling2D):
        return keras.layers.AveragePooling2D(
            layer.pool_size, layer.strides, layer.padding, name=layer.name
        )
    if isinstance(layer, keras.layers.GlobalMaxPooling2D):
        return keras.layers.GlobalAveragePooling2D(name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def probe_model(model: keras.Model) -> keras.Model:
    """A float64 copy whose weights make every local path count and cut global-context paths.

    Kernels are positive averages, batch norm is the identity, max pools
    average, and Dense/conv layers fed by a global pooling get zero weights so
    squeeze-and-excitation adds nothing: the gradient's support is the local field.
    """
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        clone = keras.models.clone_model(model, clone_function=_probe_layer)
    finally:
        keras.config.set_floatx(previous)
    fields = receptive_fields(clone)
    for layer in clone.layers:
        sources = [] if isinstance(layer, keras.layers.InputLayer) else inbound(layer)
        global_branch = any(not fields[t._keras_history.operation.name].defined for t in sources)
        new = []
        for weight in layer.weights:
            shape, name = weight.shape, weight.path.split("/")[-1]
            if global_branch and name in {"kernel", "depthwise_kernel", "pointwise_kernel"}:
                value = np.zeros(shape)
            elif name in {"kernel", "depthwise_kernel", "pointwise_kernel"}:
                value = np.full(shape, 1.0 / max(1, math.prod(shape[:-1])))
            elif name in {"gamma", "moving_variance", "variance"}:
                value = np.ones(shape)
            else:  # bias, beta, moving_mean, mean
                value = np.zeros(shape)
            new.append(value.astype(weight.dtype))
        if new:
            layer.set_weights(new)
    return clone


def empirical_field(
    model: keras.Model, layer_name: str, unit: tuple[int, int] | None = None
) -> tuple[int, int, tuple[int, int, int, int]]:
    """Rows and columns of input pixels whose gradient reaches one unit (default: the central one).

    Returns ``(height, width, (top, left, bottom, right))`` of the gradient's support.
    """
    import tensorflow as tf

    probe = probe_model(model)
    sub = keras.Model(probe.input, probe.get_layer(layer_name).output)
    h_out, w_out = _spatial(sub.output.shape)
    row, col = unit if unit is not None else (h_out // 2, w_out // 2)
    image = tf.ones((1, *model.input.shape[1:]), dtype="float64")
    with tf.GradientTape() as tape:
        tape.watch(image)
        value = tf.reduce_sum(sub(image, training=False)[0, row, col, :])
    gradient = tf.reduce_sum(tf.abs(tape.gradient(value, image)[0]), axis=-1).numpy()
    rows, cols = np.nonzero(gradient)
    if len(rows) == 0:
        raise ValueError(f"{layer_name}: no gradient reached the input")
    box = (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))
    return box[2] - box[0] + 1, box[3] - box[1] + 1, box


def deepest_fitting_layer(model: keras.Model) -> str:
    """The deepest layer whose central unit's whole field lies inside the input image."""
    h_in, w_in = _spatial(model.input.shape)
    fitting = None
    for name, field in receptive_fields(model).items():
        if not field.defined:
            continue
        layer = model.get_layer(name)
        h_out, w_out = _spatial(layer.output.shape)
        centre_h = field.h.start + (h_out // 2) * field.h.j
        centre_w = field.w.start + (w_out // 2) * field.w.j
        if (
            centre_h - (field.h.r - 1) / 2 >= 0
            and centre_h + (field.h.r - 1) / 2 <= h_in - 1
            and centre_w - (field.w.r - 1) / 2 >= 0
            and centre_w + (field.w.r - 1) / 2 <= w_in - 1
        ):
            fitting = name
    return fitting


def check_analytic_against_empirical(
    model: keras.Model, layers: list[str] | None = None
) -> pd.DataFrame:
    """Analytic field (clipped to the image) next to the gradient's support, for the central unit.

    By default: the deepest layer whose field fits the image, and the last spatial layer.
    """
    layers = layers or list(
        dict.fromkeys([deepest_fitting_layer(model), last_spatial_layer(model)])
    )
    rows = []
    for name in layers:
        top, left, bottom, right = unit_box(model, name)
        height, width, box = empirical_field(model, name)
        analytic = (round(top), round(left), round(bottom), round(right))
        rows.append(
            {
                "layer": name,
                "analytic_rf": f"{_fmt(receptive_fields(model)[name].h.r)}x{_fmt(receptive_fields(model)[name].w.r)}",
                "analytic_box": analytic,
                "empirical_box": box,
                "empirical_rf": f"{height}x{width}",
                "match": analytic == box,
            }
        )
    return pd.DataFrame(rows)
