"""Per-layer receptive field of any Keras model: size, jump (effective stride) and start, per axis.

The rules, one layer call at a time with their recurrences, are in
``helpers.field_rules``. This module walks a model with
``helpers.keras_graph.walk`` (functional, Sequential, nested models flattened
as ``encoder/conv2d``, subclassed models traced), makes the per-layer table
and the box of input pixels one unit sees, and proves the analytic fields with
input gradients. A field is a size, *undefined* (after Flatten, Dense or
global pooling a unit sees every pixel) or *unknown* (after a layer without a
rule, such as a custom layer: never a guessed number).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd

from helpers.field_rules import (  # noqa: F401  (re-exported: the public names of this module)
    FIELD_COLUMNS,
    UNDEFINED,
    UNKNOWN,
    Axis,
    Field,
    flow,
    layer_field,
    spatial,
)
from helpers.keras_graph import evaluate, graph, input_shape, walk


def receptive_fields(model: keras.Model) -> dict[str, Field]:
    """Every layer's output field, by layer name (``outer/inner`` in nested models), in graph order."""
    return flow(walk(model))[0]


def _fmt(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def _note(field: Field) -> str:
    if not field.known:
        return "receptive field unknown"
    if not field.defined:
        return "undefined (global)"
    return "+ global context" if field.global_context else ""


def receptive_field_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: output shape, field size, jump and start per axis (empty where undefined)."""
    steps = walk(model)
    fields = flow(steps)[0]
    rows = []
    for step in steps:
        field = fields[step.path]
        shape = step.output_shape
        row = {
            "layer": step.path,
            "type": step.kind,
            "output_shape": None if shape is None else tuple(shape[1:]),
            "rf": f"{_fmt(field.h.r)}x{_fmt(field.w.r)}" if field.defined else "",
            "note": _note(field),
        }
        if field.defined:
            for axis, name in ((field.h, "h"), (field.w, "w")):
                row.update({f"rf_{name}": _fmt(axis.r), f"jump_{name}": _fmt(axis.j)})
                row[f"start_{name}"] = _fmt(axis.start)
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=["layer", "type", "output_shape", *FIELD_COLUMNS])
    return table.astype({c: "Int64" for c in ("rf_h", "rf_w", "jump_h", "jump_w")})


def _spatial_fields(model: keras.Model) -> dict[str, tuple[Field, tuple[int, int]]]:
    """Defined fields and output height and width of every layer after the input, in graph order."""
    steps = walk(model)
    fields = flow(steps)[0]
    return {
        s.path: (fields[s.path], spatial(s.output_shape))
        for s in steps
        if s.kind != "InputLayer" and fields[s.path].defined and spatial(s.output_shape)
    }


def _image_size(model: keras.Model) -> tuple[int, int]:
    shape = input_shape(model)
    if shape is None or spatial(shape) is None:
        raise ValueError(f"{model.name}: needs one image input (batch, height, width, channels)")
    return spatial(shape)


def last_spatial_layer(model: keras.Model) -> str:
    """The deepest layer whose field is defined (the one before Flatten or global pooling)."""
    defined = list(_spatial_fields(model))
    if not defined:
        raise ValueError(f"{model.name}: no layer with a defined receptive field")
    return defined[-1]


def _box(field: Field, row: int, col: int) -> tuple[float, float, float, float]:
    centre_h, centre_w = field.h.start + row * field.h.j, field.w.start + col * field.w.j
    top, bottom = centre_h - (field.h.r - 1) / 2, centre_h + (field.h.r - 1) / 2
    left, right = centre_w - (field.w.r - 1) / 2, centre_w + (field.w.r - 1) / 2
    return top, left, bottom, right


def unit_box(
    model: keras.Model, layer_name: str, unit: tuple[int, int] | None = None
) -> tuple[float, float, float, float]:
    """Input-pixel box ``(top, left, bottom, right)`` seen by one unit (default: the central one), clipped to the image."""
    fields = _spatial_fields(model)
    if layer_name not in fields:
        known = layer_name in receptive_fields(model)
        raise ValueError(
            f"{layer_name}: " + ("field undefined or unknown" if known else "no such layer")
        )
    field, (h_out, w_out) = fields[layer_name]
    top, left, bottom, right = _box(field, *(unit or (h_out // 2, w_out // 2)))
    h_in, w_in = _image_size(model)
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
    Nested models are copied too; a subclassed model cannot be copied this way.
    """
    if graph(model) is None:
        raise NotImplementedError(
            f"{model.name}: the probe copies a functional or Sequential model"
        )
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        clone = keras.models.clone_model(model, clone_function=_probe_layer, recursive=True)
    finally:
        keras.config.set_floatx(previous)
    steps = walk(clone)
    fields = flow(steps)[1]
    for step in steps:
        layer = step.layer
        weights = layer.weights if isinstance(layer, keras.layers.Layer) else []
        global_branch = any(not fields.get(key, UNKNOWN).defined for key in step.inputs)
        new = []
        for weight in weights:
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
    image = tf.ones((1, *_image_size(model), input_shape(model)[-1]), dtype="float64")
    with tf.GradientTape() as tape:
        tape.watch(image)
        output = evaluate(probe, image, [layer_name])[layer_name]
        h_out, w_out = spatial(output.shape)
        row, col = unit if unit is not None else (h_out // 2, w_out // 2)
        value = tf.reduce_sum(output[0, row, col, :])
    gradient = tf.reduce_sum(tf.abs(tape.gradient(value, image)[0]), axis=-1).numpy()
    rows, cols = np.nonzero(gradient)
    if len(rows) == 0:
        raise ValueError(f"{layer_name}: no gradient reached the input")
    box = (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))
    return box[2] - box[0] + 1, box[3] - box[1] + 1, box


def deepest_fitting_layer(model: keras.Model) -> str | None:
    """The deepest layer whose central unit's whole field lies inside the input image."""
    h_in, w_in = _image_size(model)
    fitting = None
    for name, (field, (h_out, w_out)) in _spatial_fields(model).items():
        top, left, bottom, right = _box(field, h_out // 2, w_out // 2)
        if top >= 0 and bottom <= h_in - 1 and left >= 0 and right <= w_in - 1:
            fitting = name
    return fitting


def check_analytic_against_empirical(
    model: keras.Model, layers: list[str] | None = None
) -> pd.DataFrame:
    """Analytic field (clipped to the image) next to the gradient's support, for the central unit.

    By default: the deepest layer whose field fits the image, and the last spatial layer.
    """
    layers = layers or [
        name
        for name in dict.fromkeys([deepest_fitting_layer(model), last_spatial_layer(model)])
        if name is not None
    ]
    fields = receptive_fields(model)
    rows = []
    for name in layers:
        top, left, bottom, right = unit_box(model, name)
        height, width, box = empirical_field(model, name)
        analytic = (round(top), round(left), round(bottom), round(right))
        rows.append(
            {
                "layer": name,
                "analytic_rf": f"{_fmt(fields[name].h.r)}x{_fmt(fields[name].w.r)}",
                "analytic_box": analytic,
                "empirical_box": box,
                "empirical_rf": f"{height}x{width}",
                "match": analytic == box,
            }
        )
    return pd.DataFrame(rows)
