"""Per-layer receptive field of any Keras model (size, jump, start per axis; *undefined* after
Flatten, Dense or global pooling, *unknown* after a layer without a rule), the box of input pixels
one unit sees, and the proof of the analytic fields with input gradients.
"""

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


def receptive_field_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: output shape, field size, jump and start per axis (empty where undefined)."""
    steps = walk(model)
    fields = flow(steps)[0]
    rows = []
    for step in steps:
        field, shape = fields[step.path], step.output_shape
        note = "undefined (global)" if field.known else "receptive field unknown"
        if field.defined:
            note = "+ global context" if field.global_context else ""
        row = {
            "layer": step.path, "type": step.kind,
            "output_shape": None if shape is None else tuple(shape[1:]),
            "rf": f"{_fmt(field.h.r)}x{_fmt(field.w.r)}" if field.defined else "", "note": note,
        }  # fmt: skip
        for axis, name in ((field.h, "h"), (field.w, "w")) if field.defined else ():
            row[f"rf_{name}"], row[f"jump_{name}"] = _fmt(axis.r), _fmt(axis.j)
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


def unit_box(model: keras.Model, layer_name: str, unit: tuple[int, int] | None = None) -> tuple:
    """Input-pixel box ``(top, left, bottom, right)`` one unit sees (default: the central one)."""
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


def _probe_layer(layer):
    """Max-pooling sends gradient to one pixel per window, average-pooling to all: swapped."""
    if isinstance(layer, keras.layers.MaxPooling2D):
        return keras.layers.AveragePooling2D(
            layer.pool_size, layer.strides, layer.padding, name=layer.name
        )
    if isinstance(layer, keras.layers.GlobalMaxPooling2D):
        return keras.layers.GlobalAveragePooling2D(name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def probe_model(model: keras.Model) -> keras.Model:
    """A float64 copy whose input gradient's support is the local field: positive average kernels,
    identity batch norm, average pools, zero weights after a global pooling (squeeze-excitation)."""
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
            kernel = name in {"kernel", "depthwise_kernel", "pointwise_kernel"}
            if kernel and global_branch:
                value = np.zeros(shape)
            elif kernel:
                value = np.full(shape, 1.0 / max(1, math.prod(shape[:-1])))
            elif name in {"gamma", "moving_variance", "variance"}:
                value = np.ones(shape)
            else:  # bias, beta, moving_mean, mean
                value = np.zeros(shape)
            new.append(value.astype(weight.dtype))
        if new:
            layer.set_weights(new)
    return clone


def empirical_field(model: keras.Model, layer_name: str, unit: tuple[int, int] | None = None):
    """``(height, width, box)`` of the input pixels whose gradient reaches one unit."""
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


def check_analytic_against_empirical(model: keras.Model, layers: list[str] | None = None):
    """The analytic box (clipped) next to the gradient's support, for central units."""
    default = dict.fromkeys([deepest_fitting_layer(model), last_spatial_layer(model)])
    layers = layers or [name for name in default if name is not None]
    fields = receptive_fields(model)
    rows = []
    for name in layers:
        top, left, bottom, right = unit_box(model, name)
        height, width, box = empirical_field(model, name)
        analytic = (round(top), round(left), round(bottom), round(right))
        rf = f"{_fmt(fields[name].h.r)}x{_fmt(fields[name].w.r)}"
        rows.append(
            {"layer": name, "analytic_rf": rf, "analytic_box": analytic, "empirical_box": box,
             "empirical_rf": f"{height}x{width}", "match": analytic == box}
        )  # fmt: skip
    return pd.DataFrame(rows)
