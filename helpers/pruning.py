"""Pruning a trained model: structured (the filters and units of smallest L1 norm removed: FLOPs
and latency fall) and magnitude (the smallest weights kept zero; the kernels stay dense).
"""

from collections import Counter

import keras
import numpy as np

from helpers.keras_graph import Step, graph, input_shape, walk

PASS_THROUGH = (
    "MaxPooling2D", "AveragePooling2D", "ReLU", "Activation", "Dropout", "InputLayer", "LeakyReLU",
)  # fmt: skip


def _keep_largest(norms: np.ndarray, ratio: float) -> np.ndarray:
    keep = max(1, round(len(norms) * (1 - ratio)))
    return np.sort(np.argsort(-norms, kind="stable")[:keep])


def _chain(model: keras.Model) -> list[Step]:
    """The model's layer calls if they form one flat chain; else NotImplementedError naming the layer."""
    if graph(model) is None:
        raise NotImplementedError(
            f"{model.name}: structured pruning needs a functional or Sequential chain model; "
            "a subclassed (or unbuilt) model has no layer graph to rebuild"
        )
    steps = walk(model)
    readers = Counter(key for step in steps for key in step.inputs)
    for position, step in enumerate(steps):
        if position > 0 and step.kind == "InputLayer":
            raise NotImplementedError(
                f"{model.name}: structured pruning needs one input; {step.path} is another"
            )
        if "/" in step.path:
            raise NotImplementedError(
                f"{model.name}: structured pruning needs a flat chain model; {step.path} is "
                f"inside the nested model {step.path.split('/')[0]}"
            )
        if (position > 0 and len(step.inputs) != 1) or any(readers[k] > 1 for k in step.outputs):
            raise NotImplementedError(
                f"{model.name}: structured pruning needs a chain model; {step.path} branches"
            )
    return steps


def prune_structured(model: keras.Model, ratio: float = 0.5) -> keras.Model:
    """A smaller copy of a chain model without the ``ratio`` of filters/units of least L1 norm."""
    if not 0 <= ratio < 1:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    steps = _chain(model)[1:]
    kept = np.arange(input_shape(model)[-1])
    x = inputs = keras.Input(input_shape(model)[1:])
    weights: list[tuple[keras.layers.Layer, list[np.ndarray]]] = []
    last_dense = max((i for i, s in enumerate(steps) if s.kind == "Dense"), default=-1)
    for position, step in enumerate(steps):
        layer, kind = step.layer, step.kind
        if not isinstance(layer, keras.layers.Layer):
            raise NotImplementedError(f"{step.path}: no pruning rule for the operation {kind}")
        config, values = layer.get_config(), layer.get_weights()
        if kind == "Conv2D":
            kernel = values[0][:, :, kept, :]
            out = _keep_largest(np.abs(kernel).sum(axis=(0, 1, 2)), ratio)
            config["filters"] = len(out)
            new_values = [kernel[..., out], *(v[out] for v in values[1:])]
            kept = out
        elif kind == "BatchNormalization":
            new_values = [v[kept] for v in values]
        elif kind == "Flatten":
            h, w, c = step.input_shapes[0][1:]
            kept = (np.arange(h * w)[:, None] * c + kept[None, :]).ravel()
            new_values = []
        elif kind == "Dense":
            kernel = values[0][kept, :]
            out = np.arange(kernel.shape[1])  # the output layer keeps all its units
            if position != last_dense:
                out = _keep_largest(np.abs(kernel).sum(axis=0), ratio)
            config["units"] = len(out)
            new_values = [kernel[:, out], *(v[out] for v in values[1:])]
            kept = out
        elif kind in PASS_THROUGH or not values:
            new_values = values
        else:
            raise NotImplementedError(f"{step.path}: no pruning rule for {kind}")
        config.pop("name", None)
        new_layer = layer.__class__.from_config(config)
        x = new_layer(x)
        weights.append((new_layer, new_values))
    pruned = keras.Model(inputs, x, name=f"{model.name}_pruned")
    for new_layer, new_values in weights:
        if new_values:
            new_layer.set_weights(new_values)
    return pruned


class KeepPruned(keras.callbacks.Callback):
    """Re-applies fixed zero masks to kernels after every training batch."""

    def __init__(self, masks: dict[str, np.ndarray]):
        super().__init__()
        self.masks = masks

    def on_train_batch_end(self, batch, logs=None):
        for layer in self.model.layers:
            if layer.name in self.masks:
                layer.kernel.assign(layer.kernel * self.masks[layer.name])


def prune_magnitude(model: keras.Model, sparsity: float = 0.5) -> tuple[keras.Model, dict]:
    """A copy whose conv and dense kernels have their ``sparsity`` smallest weights zeroed, and the masks."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    masks = {}
    for layer in copy.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense):
            kernel = layer.kernel.numpy()
            threshold = np.quantile(np.abs(kernel), sparsity)
            mask = (np.abs(kernel) > threshold).astype(kernel.dtype)
            layer.kernel.assign(kernel * mask)
            masks[layer.name] = mask
    return copy, masks


def nonzero_params(model: keras.Model) -> int:
    """Parameters that are not exactly zero."""
    return int(sum(np.count_nonzero(w) for w in model.get_weights()))
