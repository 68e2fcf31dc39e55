"""Optimised variants of a trained model, and one measurement of all of them in one process.

* LiteRT conversion (Keras ``model.export`` -> SavedModel -> ``TFLiteConverter``) in four variants:
  float32, dynamic-range int8, float16, and full-integer int8 (int8 input and
  output, calibrated on training images); run with ``ai_edge_litert``'s interpreter.
* Structured pruning: whole convolution filters and dense units with the
  smallest L1 norm are removed and a smaller, dense Keras model is rebuilt with
  the kept weights, then fine-tuned. Its FLOPs fall; so does its latency.
* Unstructured magnitude pruning: the smallest weights are zeroed and kept at
  zero while fine-tuning. The kernels stay dense, so FLOPs and latency do not
  fall: only a sparse kernel or compression could use the zeros.
  (tensorflow-model-optimization, which does this, works only with tf_keras.)
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.flops import totals
from helpers.keras_graph import Step, graph, input_shape, walk

TFLITE_VARIANTS = ("float32", "dynamic int8", "float16", "full int8")
# The comparison table's columns, as the notebook and bench/inference.py show them.
TABLE_COLUMNS = [
    "variant",
    "accuracy",
    "accuracy_change_points",
    "file_bytes",
    "size_ratio",
    "params",
    "flops",
    "flops_ratio",
    "latency_p50_ms",
    "latency_p95_ms",
    "speedup_p50",
    "images_per_s",
]


def to_tflite(model: keras.Model, variant: str, representative: np.ndarray | None = None) -> bytes:
    """Convert through Keras' SavedModel export; ``full int8`` needs representative inputs."""
    if variant not in TFLITE_VARIANTS:
        raise ValueError(f"variant must be one of {TFLITE_VARIANTS}, got {variant!r}")
    with tempfile.TemporaryDirectory() as folder:
        saved = str(Path(folder) / "saved_model")
        model.export(saved, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if variant != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if variant == "full int8":
            if representative is None or len(representative) == 0:
                raise ValueError("full int8 needs representative training images")
            samples = representative.astype(np.float32)
            converter.representative_dataset = lambda: ([sample[None]] for sample in samples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        return converter.convert()


class LiteRTModel:
    """A ``.tflite`` model behind the same ``predict(x) -> probabilities`` as Keras; quantises int8 I/O."""

    def __init__(self, content: bytes, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.content = content
        self.interpreter = Interpreter(
            model_content=content, num_threads=num_threads or os.cpu_count()
        )
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = int(self.input["shape"][0])

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self.interpreter.resize_tensor_input(
                self.input["index"], [batch, *self.input["shape"][1:]]
            )
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]
            self._batch = batch

    def predict(self, x: np.ndarray) -> np.ndarray:
        self._resize(len(x))
        data = x.astype(np.float32)
        if self.input["dtype"] == np.int8:
            scale, zero = self.input["quantization"]
            data = np.clip(np.round(data / scale + zero), -128, 127).astype(np.int8)
        self.interpreter.set_tensor(self.input["index"], data)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        if self.output["dtype"] == np.int8:
            scale, zero = self.output["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return out


class KerasRunner:
    """A Keras model's inference as one compiled ``tf.function`` (its fastest plain path)."""

    def __init__(self, model: keras.Model):
        self.model = model
        self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._call(tf.convert_to_tensor(x, tf.float32)).numpy()


# --- Structured pruning -------------------------------------------------------------------------

PASS_THROUGH = (
    "MaxPooling2D",
    "AveragePooling2D",
    "ReLU",
    "Activation",
    "Dropout",
    "InputLayer",
    "LeakyReLU",
)


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
    """A smaller dense copy without the ``ratio`` of conv filters and hidden dense units with the smallest L1 norm.

    Works on chain models, functional or Sequential (each layer feeds the next:
    the seed CNNs); the output layer keeps all its units. Branched, nested and
    subclassed models are refused with a NotImplementedError naming the layer.
    """
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
            out = (
                np.arange(kernel.shape[1])
                if position == last_dense
                else _keep_largest(np.abs(kernel).sum(axis=0), ratio)
            )
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


# --- Unstructured magnitude pruning ----------------------------------------------------------


class KeepPruned(keras.callbacks.Callback):
    """Re-applies fixed zero masks to kernels after every training batch."""

    def __init__(self, masks: dict[str, np.ndarray]):
        super().__init__()
        self.masks = masks

    def on_train_batch_end(self, batch, logs=None):
        for layer in self.model.layers:
            if layer.name in self.masks:
                kernel = layer.kernel
                kernel.assign(kernel * self.masks[layer.name])


def prune_magnitude(
    model: keras.Model, sparsity: float = 0.5
) -> tuple[keras.Model, dict[str, np.ndarray]]:
    """A copy whose conv and dense kernels have their ``sparsity`` smallest weights zeroed; returns the masks."""
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


# --- Measuring every variant the same way ---------------------------------------------------


@dataclass
class Variant:
    """One deployable form of the model: how to run it and what it costs to store."""

    name: str
    runner: object  # has .predict(x) -> probabilities
    file_bytes: int
    params: int
    macs: int
    flops: int


def latency_ms(
    predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, runs: int = 50, warmup: int = 5
) -> tuple[float, float]:
    """Median and 95th-percentile wall time of single-image predictions, in milliseconds."""
    for _ in range(warmup):
        predict(image)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        predict(image)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times)), float(np.percentile(times, 95))


def throughput(
    predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch_size: int = 32
) -> float:
    """Images per second predicting ``x`` in batches (after one warm-up batch)."""
    predict(x[:batch_size])
    started = time.perf_counter()
    for start in range(0, len(x), batch_size):
        predict(x[start : start + batch_size])
    return len(x) / (time.perf_counter() - started)


def accuracy(
    predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray, batch_size: int = 64
) -> float:
    """Top-1 accuracy of ``predict`` on ``x`` against class indices ``y``."""
    predicted = np.concatenate(
        [predict(x[s : s + batch_size]).argmax(axis=1) for s in range(0, len(x), batch_size)]
    )
    return float(np.mean(predicted == y))


def measure(
    variants: list[Variant], x_test: np.ndarray, y_test: np.ndarray, runs: int = 50
) -> pd.DataFrame:
    """Accuracy, size, params, FLOPs, p50/p95 single-image latency and batch throughput of every variant.

    All in this process, one after another, on the same images; ratios are
    against the first variant (the Keras float model).
    """
    rows = []
    for variant in variants:
        predict = variant.runner.predict
        p50, p95 = latency_ms(predict, x_test[:1], runs)
        rows.append(
            {
                "variant": variant.name,
                "accuracy": accuracy(predict, x_test, y_test),
                "file_bytes": variant.file_bytes,
                "params": variant.params,
                "macs": variant.macs,
                "flops": variant.flops,
                "latency_p50_ms": round(p50, 3),
                "latency_p95_ms": round(p95, 3),
                "images_per_s": round(throughput(predict, x_test), 1),
            }
        )
    table = pd.DataFrame(rows)
    base = table.iloc[0]
    table["accuracy_change_points"] = ((table["accuracy"] - base["accuracy"]) * 100).round(2)
    table["size_ratio"] = (table["file_bytes"] / base["file_bytes"]).round(3)
    table["flops_ratio"] = (table["flops"] / base["flops"]).round(3)
    table["speedup_p50"] = (base["latency_p50_ms"] / table["latency_p50_ms"]).round(2)
    return table


def keras_variant(name: str, model: keras.Model, path: Path) -> Variant:
    """A Keras model saved to ``path`` as a variant."""
    model.save(path)
    cost = totals(model)
    return Variant(
        name,
        KerasRunner(model),
        path.stat().st_size,
        nonzero_params(model),
        cost["macs"],
        cost["flops"],
    )


def tflite_variants(
    model: keras.Model, representative: np.ndarray, out_path: Callable[[str], Path]
) -> list[Variant]:
    """The four LiteRT variants, each written to ``out_path(variant)``."""
    cost = totals(model)
    variants = []
    for name in TFLITE_VARIANTS:
        content = to_tflite(model, name, representative)
        path = out_path(name.replace(" ", "_"))
        path.write_bytes(content)
        variants.append(
            Variant(
                f"LiteRT {name}",
                LiteRTModel(content),
                len(content),
                cost["params"],
                cost["macs"],
                cost["flops"],
            )
        )
    return variants


def recommend(table: pd.DataFrame, tolerance_points: float = 0.5) -> str:
    """Which variant to ship, drawn from the table: the fastest within ``tolerance_points`` of float accuracy."""
    base = table.iloc[0]
    close = table[table["accuracy_change_points"] >= -tolerance_points]
    best = close.sort_values(["latency_p50_ms", "file_bytes"]).iloc[0]
    smallest = close.sort_values("file_bytes").iloc[0]
    lines = [
        f"At most {tolerance_points} point below the Keras float model's {base['accuracy']:.2%}: "
        f"{', '.join(close['variant'])}.",
        f"Fastest of those: {best['variant']} ({best['latency_p50_ms']:.2f} ms median per image, "
        f"{best['speedup_p50']:.2f}x the Keras float model; {best['file_bytes'] / 1e6:.2f} MB, "
        f"{best['flops_ratio']:.2f}x its FLOPs; accuracy {best['accuracy']:.2%}).",
        f"Smallest of those: {smallest['variant']} ({smallest['file_bytes'] / 1e6:.2f} MB, "
        f"{smallest['size_ratio']:.2f}x the float file).",
    ]
    dropped = table[table["accuracy_change_points"] < -tolerance_points]
    if len(dropped):
        lines.append(
            "Lost more than that: "
            + ", ".join(
                f"{r['variant']} ({r['accuracy_change_points']:+.2f} points)"
                for _, r in dropped.iterrows()
            )
            + "."
        )
    lines.append(f"Ship {best['variant']}.")
    return "\n".join(lines)


def fine_tune(
    model: keras.Model, train, validation, epochs: int, callbacks=None, learning_rate: float = 3e-4
):
    """Recompile with a small learning rate and fit a few epochs (data: tf.data, iterator or (x, y))."""
    from helpers.training import compile_model

    compile_model(model, learning_rate)
    if epochs > 0:
        x, y = train if isinstance(train, tuple) else (train, None)
        model.fit(
            x, y, validation_data=validation, epochs=epochs, callbacks=callbacks or [], verbose=0
        )
    return model


def build_variants(
    model: keras.Model,
    float_path: Path,
    representative: np.ndarray,
    train,
    validation,
    out: Callable[[str, str], Path],
    prune_ratio: float = 0.5,
    finetune_epochs: int = 2,
) -> list[Variant]:
    """The Keras float model, four LiteRT conversions, structured and magnitude pruning (fine-tuned).

    ``out(kind, suffix)`` names each file (``.tflite`` or ``.keras``); the
    structured-pruned model is also converted to full int8, the combination
    that cuts both FLOPs and bytes. A model that is not a chain skips pruning.
    """
    cost = totals(model)
    variants = [
        Variant(
            "Keras float32",
            KerasRunner(model),
            Path(float_path).stat().st_size,
            cost["params"],
            cost["macs"],
            cost["flops"],
        )
    ]
    variants += tflite_variants(model, representative, lambda name: out(name, ".tflite"))
    if prune_ratio <= 0:
        return variants
    try:
        pruned = prune_structured(model, prune_ratio)
    except NotImplementedError as err:
        print(f"Structured pruning skipped: {err}")
        return variants
    fine_tune(pruned, train, validation, finetune_epochs)
    label = f"pruned {prune_ratio:.0%} filters"
    variants.append(keras_variant(f"Keras {label}", pruned, out("pruned", ".keras")))
    content = to_tflite(pruned, "full int8", representative)
    path = out("pruned_full_int8", ".tflite")
    path.write_bytes(content)
    pruned_cost = totals(pruned)
    variants.append(
        Variant(
            f"LiteRT {label} + full int8",
            LiteRTModel(content),
            len(content),
            pruned_cost["params"],
            pruned_cost["macs"],
            pruned_cost["flops"],
        )
    )
    sparse, masks = prune_magnitude(model, prune_ratio)
    fine_tune(sparse, train, validation, finetune_epochs, callbacks=[KeepPruned(masks)])
    variants.append(
        keras_variant(
            f"Keras magnitude-pruned {prune_ratio:.0%} weights",
            sparse,
            out("magnitude_pruned", ".keras"),
        )
    )
    return variants


def optimisation_data(
    labels, image_size: int, batch_size: int = 32, calibration: int = 200, seed: int = 0
) -> dict:
    """What optimising needs from a labels table: the test split as arrays (``x_test``, ``y_test``),
    ``calibration`` training images (``representative``) and tf.data loaders to fine-tune on
    (``train``, ``val``)."""
    from helpers.loading import load_inputs, split_loaders

    test, train = labels.split("test"), labels.split("train")
    loaders = split_loaders(labels, image_size, batch_size, "tf.data", seed=seed)
    return {
        "x_test": load_inputs(labels, test, image_size),
        "y_test": test["label"].map({c: i for i, c in enumerate(labels.classes)}).to_numpy(),
        "representative": load_inputs(
            labels, train.sample(min(calibration, len(train)), random_state=seed), image_size
        ),
        "train": loaders["train"],
        "val": loaders["val"],
    }
