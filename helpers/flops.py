"""Per-layer parameters, MACs and FLOPs of a Keras model, and TensorFlow's profiler as a cross-check.

Convention (stated in every table): **FLOPs = 2 x MACs** of convolutions and
dense layers (one multiply plus one add per multiply-accumulate), for one
image. Everything else is counted separately in ``other_ops`` so a reader can
include it or not: bias adds (one per output element), batch norm (two per
element once folded), activations (one per element), pooling (one per window
element), element-wise merges (one per element per extra input), rescaling
and normalisation (one or two per element).
"""

from __future__ import annotations

import math
import re

import keras
import pandas as pd

from helpers.receptive_field import inbound

CONVENTION = (
    "FLOPs = 2 x MACs of convolutions and dense layers, per image; bias adds, batch norm, "
    "activations, pooling and merges are in other_ops, not in FLOPs."
)
ZERO_COST = {
    "InputLayer",
    "Flatten",
    "Reshape",
    "Dropout",
    "SpatialDropout2D",
    "Concatenate",
    "ZeroPadding2D",
    "Cropping2D",
    "Permute",
    "GaussianNoise",
    "GaussianDropout",
    "RandomFlip",
    "RandomTranslation",
    "RandomRotation",
    "RandomZoom",
    "RandomShear",
}
ACTIVATIONS = {"ReLU", "Activation", "LeakyReLU", "ELU", "PReLU", "Softmax"}


def _elements(shape) -> int:
    return math.prod(d for d in shape[1:] if d is not None)


def _activation_ops(layer, out: int) -> int:
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "linear")
    return 0 if name == "linear" else out


def layer_cost(layer) -> dict:
    """Parameters, MACs and other ops of one layer for one image."""
    kind = type(layer).__name__
    out_shape = tuple(layer.output.shape)
    sources = [] if kind == "InputLayer" else inbound(layer)
    in_shape = tuple(sources[0].shape) if sources else out_shape
    out = _elements(out_shape)
    macs, other, row = 0, 0, {}
    bias = out if getattr(layer, "use_bias", False) else 0
    if kind in {"Conv2D", "Conv1D"}:
        k = math.prod(layer.kernel_size)
        macs = out * k * in_shape[-1] // layer.groups
        other = bias + _activation_ops(layer, out)
        row = {"kernel": layer.kernel_size, "strides": layer.strides, "filters": layer.filters}
    elif kind == "DepthwiseConv2D":
        macs = out * math.prod(layer.kernel_size)
        other = bias + _activation_ops(layer, out)
        row = {"kernel": layer.kernel_size, "strides": layer.strides, "filters": out_shape[-1]}
    elif kind == "SeparableConv2D":
        depthwise_out = out // out_shape[-1] * in_shape[-1] * layer.depth_multiplier
        macs = (
            depthwise_out * math.prod(layer.kernel_size)
            + out * in_shape[-1] * layer.depth_multiplier
        )
        other = bias + _activation_ops(layer, out)
        row = {"kernel": layer.kernel_size, "strides": layer.strides, "filters": layer.filters}
    elif kind == "Dense":
        macs = out * in_shape[-1]
        other = bias + _activation_ops(layer, out)
        row = {"filters": layer.units}
    elif kind == "BatchNormalization":
        other = 2 * out
    elif kind in ACTIVATIONS:
        other = out
    elif kind in {"MaxPooling2D", "AveragePooling2D"}:
        window = math.prod(layer.pool_size)
        other = out * (window - 1 if kind.startswith("Max") else window)
        row = {"kernel": layer.pool_size, "strides": layer.strides}
    elif kind in {"GlobalAveragePooling2D", "GlobalMaxPooling2D"}:
        other = _elements(in_shape) - (out if kind.startswith("GlobalMax") else 0)
    elif kind in {"Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average"}:
        other = out * (len(sources) - 1) + (out if kind == "Average" else 0)
    elif kind in {"Rescaling", "Normalization", "ImageNetPreprocess"}:
        other = out * (1 if kind == "Rescaling" or getattr(layer, "mode", "") == "raw255" else 2)
    elif kind not in ZERO_COST:
        row["note"] = f"{kind}: not counted"
    return {
        "layer": layer.name,
        "type": kind,
        "input_shape": in_shape[1:],
        "output_shape": out_shape[1:],
        "kernel": None,
        "strides": None,
        "filters": None,
        **row,
        "params": int(layer.count_params()),
        "macs": int(macs),
        "flops": 2 * int(macs),
        "other_ops": int(other),
    }


def layer_costs(model: keras.Model) -> pd.DataFrame:
    """One row per layer: shapes, kernel, strides, filters, params, MACs, FLOPs, other ops, share of FLOPs."""
    table = pd.DataFrame([layer_cost(layer) for layer in model.layers])
    if "note" not in table:
        table["note"] = ""
    table["filters"] = table["filters"].astype("Int64")
    table[["kernel", "strides"]] = table[["kernel", "strides"]].map(
        lambda v: "" if v is None else "x".join(map(str, v))
    )
    total = table["flops"].sum()
    table["share"] = (table["flops"] / total).round(4) if total else 0.0
    return table.fillna({"note": ""})


def totals(model: keras.Model) -> dict[str, int]:
    """Whole-model parameters, MACs, FLOPs and other ops for one image."""
    table = layer_costs(model)
    return {
        "params": int(model.count_params()),
        "macs": int(table["macs"].sum()),
        "flops": int(table["flops"].sum()),
        "other_ops": int(table["other_ops"].sum()),
    }


def most_expensive(table: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The ``top`` layers by FLOPs with their share and the running share."""
    ranked = table[table["flops"] > 0].sort_values("flops", ascending=False).head(top)
    ranked = ranked[["layer", "type", "output_shape", "macs", "flops", "share"]].reset_index(
        drop=True
    )
    ranked["cumulative_share"] = ranked["share"].cumsum().round(4)
    return ranked


# --- Cross-check against TensorFlow's own profiler ---------------------------------------------

PROFILED_OPS = {"Conv2D": "Conv2D", "DepthwiseConv2dNative": "DepthwiseConv2D", "MatMul": "Dense"}


def profiler_flops(model: keras.Model) -> pd.DataFrame:
    """Float ops of every Conv2D, depthwise conv and MatMul as ``tf.compat.v1.profiler`` counts them.

    The model is cloned with each layer's index in its name (TensorFlow renames
    scopes such as ``conv2d`` to ``conv2d_1`` when tracing, which would collide
    with a real layer ``conv2d_1``), traced for one image, frozen, and the
    profiler's scope view is mapped back to the original layer names.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    original = [layer.name for layer in model.layers]
    index = {name: i for i, name in enumerate(original)}

    def renamed(layer):
        return layer.__class__.from_config(
            {**layer.get_config(), "name": f"L{index[layer.name]}__{layer.name}"}
        )

    clone = keras.models.clone_model(model, clone_function=renamed)
    spec = tf.TensorSpec([1, *model.input.shape[1:]], tf.float32)
    function = tf.function(lambda x: clone(x, training=False)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(function).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    profile = tf.compat.v1.profiler.profile(
        graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="scope", options=options
    )
    rows = []
    stack = list(profile.children)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        op_type = graph.get_operation_by_name(node.name).type if node.float_ops else None
        match = re.search(r"(?:^|/)L(\d+)__", node.name)
        if op_type in PROFILED_OPS and match:
            rows.append(
                {
                    "layer": original[int(match.group(1))],
                    "op": op_type,
                    "profiler_flops": int(node.float_ops),
                }
            )
    return pd.DataFrame(rows, columns=["layer", "op", "profiler_flops"])


def compare_with_profiler(model: keras.Model) -> pd.DataFrame:
    """Our FLOPs next to the profiler's for every convolution and dense layer."""
    ours = layer_costs(model)
    ours = ours[ours["type"].isin({"Conv2D", "DepthwiseConv2D", "Dense", "SeparableConv2D"})][
        ["layer", "type", "flops"]
    ]
    theirs = profiler_flops(model).groupby("layer", as_index=False)["profiler_flops"].sum()
    merged = ours.merge(theirs, on="layer", how="outer").fillna(0)
    merged["match"] = merged["flops"] == merged["profiler_flops"]
    return merged.astype({"flops": int, "profiler_flops": int})


def file_size(model: keras.Model) -> int:
    """Bytes of the model saved as a ``.keras`` file."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.stat().st_size


def zoo_table(names: list[str] | None = None, with_file_size: bool = True) -> pd.DataFrame:
    """Every zoo model at its natural input size: params, MACs, FLOPs, other ops, file size."""
    from helpers.models import NATURAL_INPUTS, build_natural

    rows = []
    for name in names or list(NATURAL_INPUTS):
        model = build_natural(name)
        shape, classes = NATURAL_INPUTS[name]
        row = {
            "model": name,
            "input": "x".join(map(str, shape)),
            "classes": classes,
            **totals(model),
        }
        if with_file_size:
            row["file_MB"] = round(file_size(model) / 1e6, 2)
        rows.append(row)
        keras.backend.clear_session()
    table = pd.DataFrame(rows)
    table["MFLOPs"] = (table["flops"] / 1e6).round(2)
    return table
