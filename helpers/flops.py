"""Per-layer parameters, MACs and FLOPs (2 x MACs of convolutions and dense layers; the rest in
``other_ops``) of any Keras model, never guessed ("not counted"), and TensorFlow's profiler as a check.
"""

import math
import re

import keras
import pandas as pd

from helpers.keras_graph import Step, frozen_graph, input_shape, walk

CONVENTION = (
    "FLOPs = 2 x MACs of convolutions and dense layers, per image; bias adds, batch norm, "
    "activations, pooling and merges are in other_ops, not in FLOPs."
)
ZERO_COST = {
    "InputLayer", "Flatten", "Reshape", "Dropout", "SpatialDropout2D", "Concatenate",
    "ZeroPadding2D", "Cropping2D", "Permute", "GaussianNoise", "GaussianDropout", "RandomFlip",
    "RandomTranslation", "RandomRotation", "RandomZoom", "RandomShear",
}  # fmt: skip
ACTIVATIONS = {"ReLU", "Activation", "LeakyReLU", "ELU", "PReLU", "Softmax"}


def _elements(shape) -> int:
    return math.prod(d for d in shape[1:] if d is not None)


def _params(step: Step, counted: set[int]) -> int:
    """A layer's parameters, at its first call only (a shared layer's weights are stored once)."""
    layer = step.layer
    if not isinstance(layer, keras.layers.Layer) or id(layer) in counted:
        return 0
    counted.add(id(layer))
    return int(layer.count_params())


def _rule(layer, kind: str, in_shape: tuple, out_shape: tuple, n_inputs: int) -> tuple | None:
    """``(macs, other_ops, extra columns)`` of one call, or None where there is no rule."""
    out = _elements(out_shape)
    macs, other, row = 0, 0, {}
    if kind in {"Conv2D", "Conv1D", "DepthwiseConv2D", "SeparableConv2D", "Dense"}:
        bias = out if getattr(layer, "use_bias", False) else 0
        activated = getattr(getattr(layer, "activation", None), "__name__", "linear") != "linear"
        other = bias + (out if activated else 0)
        if kind != "Dense":
            filters = out_shape[-1] if kind == "DepthwiseConv2D" else layer.filters
            row = {"kernel": layer.kernel_size, "strides": layer.strides, "filters": filters}
    if kind in {"Conv2D", "Conv1D"}:
        macs = out * math.prod(layer.kernel_size) * in_shape[-1] // layer.groups
    elif kind == "DepthwiseConv2D":
        macs = out * math.prod(layer.kernel_size)
    elif kind == "SeparableConv2D":
        depthwise_out = out // out_shape[-1] * in_shape[-1] * layer.depth_multiplier
        pointwise = out * in_shape[-1] * layer.depth_multiplier
        macs = depthwise_out * math.prod(layer.kernel_size) + pointwise
    elif kind == "Dense":
        macs = out * in_shape[-1]
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
        other = out * (n_inputs - 1) + (out if kind == "Average" else 0)
    elif kind in {"Rescaling", "Normalization"}:
        other = out * (1 if kind == "Rescaling" or getattr(layer, "mode", "") == "raw255" else 2)
    elif kind not in ZERO_COST:
        return None
    return macs, other, row


def layer_cost(step: Step, counted: set[int] | None = None) -> dict:
    """Parameters (at a layer's first call), MACs and other ops of one layer call, one image."""
    kind, out_shape = step.kind, step.output_shape
    in_shape = step.input_shapes[0] if step.input_shapes else out_shape
    sized = out_shape is not None and all(
        d is not None for shape in (in_shape, out_shape) for d in shape[1:]
    )
    if kind in ZERO_COST:
        cost = (0, 0, {})
    elif sized:
        cost = _rule(step.layer, kind, in_shape, out_shape, len(step.inputs))
    else:
        cost = (0, 0, {"note": f"{kind}: not counted (shapes unknown)"})
    macs, other, row = cost or (0, 0, {"note": f"{kind}: not counted"})
    return {
        "layer": step.path, "type": kind,
        "input_shape": None if in_shape is None else tuple(in_shape[1:]),
        "output_shape": None if out_shape is None else tuple(out_shape[1:]), "kernel": None,
        "strides": None, "filters": None, **row,
        "params": _params(step, set() if counted is None else counted), "macs": int(macs),
        "flops": 2 * int(macs), "other_ops": int(other),
    }  # fmt: skip


def layer_costs(model: keras.Model) -> pd.DataFrame:
    """One row per layer: shapes, kernel, strides, filters, params, MACs, FLOPs, other ops, share of FLOPs."""
    counted: set[int] = set()
    table = pd.DataFrame([layer_cost(step, counted) for step in walk(model)])
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
        "params": int(model.count_params()), "macs": int(table["macs"].sum()),
        "flops": int(table["flops"].sum()), "other_ops": int(table["other_ops"].sum()),
    }  # fmt: skip


def most_expensive(table: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The ``top`` layers by FLOPs with their share and the running share."""
    ranked = table[table["flops"] > 0].sort_values("flops", ascending=False).head(top)
    ranked = ranked[["layer", "type", "output_shape", "macs", "flops", "share"]]
    ranked = ranked.reset_index(drop=True)
    ranked["cumulative_share"] = ranked["share"].cumsum().round(4)
    return ranked


PROFILED_OPS = {"Conv2D": "Conv2D", "DepthwiseConv2dNative": "DepthwiseConv2D", "MatMul": "Dense"}


def profiler_flops(model: keras.Model) -> pd.DataFrame:
    """Conv2D, depthwise and MatMul float ops as TensorFlow's profiler counts them, by layer."""
    import tensorflow as tf

    steps = walk(model)
    index: dict[int, int] = {}
    for i, step in enumerate(steps):
        index.setdefault(id(step.layer), i)

    def renamed(layer):
        config = layer.get_config()
        if id(layer) in index:
            config["name"] = f"L{index[id(layer)]}__{layer.name}"
        return layer.__class__.from_config(config)

    shape = input_shape(model)
    if shape is None:
        raise ValueError(f"{model.name}: the profiler check needs a model with one known input")
    clone = keras.models.clone_model(model, clone_function=renamed, recursive=True)
    spec = tf.TensorSpec([1, *shape[1:]], tf.float32)
    function = tf.function(lambda x: clone(x, training=False)).get_concrete_function(spec)
    graph = frozen_graph(function)
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
            rows.append((steps[int(match.group(1))].path, op_type, int(node.float_ops)))
    return pd.DataFrame(rows, columns=["layer", "op", "profiler_flops"])


def compare_with_profiler(model: keras.Model) -> pd.DataFrame:
    """Our FLOPs next to the profiler's for every convolution and dense layer."""
    ours = layer_costs(model)
    ours = ours[ours["type"].isin({"Conv2D", "DepthwiseConv2D", "Dense", "SeparableConv2D"})]
    ours = ours[["layer", "type", "flops"]]
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
    from helpers.models import NATURAL_INPUTS, build_untrained

    rows = []
    for name in names or list(NATURAL_INPUTS):
        model = build_untrained(name)
        shape, classes = NATURAL_INPUTS[name]
        row = {
            "model": name, "input": "x".join(map(str, shape)), "classes": classes, **totals(model),
        }  # fmt: skip
        if with_file_size:
            row["file_MB"] = round(file_size(model) / 1e6, 2)
        rows.append(row)
        keras.backend.clear_session()
    table = pd.DataFrame(rows)
    table["MFLOPs"] = (table["flops"] / 1e6).round(2)
    return table
