"""Every deployable form of a trained model (Keras float, LiteRT, ONNX, pruned), built and
measured the same way in one process: accuracy on the streamed test split, size, FLOPs, latency.
"""

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from helpers import atomic
from helpers.flops import totals
from helpers.latency import interleaved_latency_ms, tf_threads, throughput
from helpers.litert import TFLITE_VARIANTS, LiteRTModel, to_tflite
from helpers.onnx_variants import available as onnx_available
from helpers.onnx_variants import build_onnx
from helpers.paths import RunFiles
from helpers.pruning import KeepPruned, nonzero_params, prune_magnitude, prune_structured

# The comparison table's columns, as notebook 07 and bench/inference.py show them.
TABLE_COLUMNS = [
    "variant", "accuracy", "accuracy_change_points", "file_bytes", "size_ratio", "params", "flops",
    "flops_ratio", "threads", "runtime", "latency_p50_ms", "latency_p95_ms", "speedup_p50",
    "images_per_s",
]  # fmt: skip


class KerasRunner:
    """A Keras model's inference as one compiled ``tf.function`` (its fastest plain path)."""

    def __init__(self, model: keras.Model):
        import tensorflow as tf

        self.model = model
        self.threads = tf_threads()
        self.runtime = "TensorFlow"
        self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self._call(tf.convert_to_tensor(x, tf.float32)).numpy()


@dataclass
class Variant:
    """One deployable form of the model: how to run it and what it costs to store."""

    name: str
    runner: object  # has .predict(x) -> probabilities and .threads
    file_bytes: int
    params: int
    macs: int
    flops: int

    @classmethod
    def from_model(cls, name: str, model, runner, file_bytes: int, params: int | None = None):
        """A variant costed from ``model``'s architecture (``params``: e.g. the non-zero ones)."""
        cost = totals(model)
        params = cost["params"] if params is None else params
        return cls(name, runner, file_bytes, params, cost["macs"], cost["flops"])


def accuracy(predict: Callable[[np.ndarray], np.ndarray], batches) -> float:
    """Top-1 accuracy of ``predict`` over batches ``(x, one-hot y)``, streamed (a Batches or dataset)."""
    correct = total = 0
    for x, y in batches.epoch(0) if hasattr(batches, "epoch") else batches:
        predicted = predict(np.asarray(x)).argmax(axis=1)
        correct += int(np.sum(predicted == np.asarray(y).argmax(axis=1)))
        total += len(predicted)
    return correct / max(total, 1)


@dataclass
class MeasureInputs:
    """What measuring needs: the test split as batches, a few images for latency and throughput."""

    test: object  # Batches of the test split
    sample: np.ndarray  # a bounded sample of test images (latency: its first; throughput: all)


def measure(variants: list[Variant], inputs: MeasureInputs, runs: int = 50) -> pd.DataFrame:
    """Accuracy, size, FLOPs, latency and throughput of every variant, against the first."""
    rows = []
    predicts = [v.runner.predict for v in variants]
    latencies = interleaved_latency_ms(predicts, inputs.sample[:1], runs)
    for variant, (p50, p95) in zip(variants, latencies, strict=True):
        predict = variant.runner.predict
        rows.append({
            "variant": variant.name, "accuracy": accuracy(predict, inputs.test),
            "file_bytes": variant.file_bytes, "params": variant.params, "macs": variant.macs,
            "flops": variant.flops, "threads": variant.runner.threads,
            "runtime": getattr(variant.runner, "runtime", ""), "latency_p50_ms": round(p50, 3),
            "latency_p95_ms": round(p95, 3),
            "images_per_s": round(throughput(predict, inputs.sample), 1),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    base = table.iloc[0]
    table["accuracy_change_points"] = ((table["accuracy"] - base["accuracy"]) * 100).round(2)
    table["size_ratio"] = (table["file_bytes"] / base["file_bytes"]).round(3)
    table["flops_ratio"] = (table["flops"] / base["flops"]).round(3)
    table["speedup_p50"] = (base["latency_p50_ms"] / table["latency_p50_ms"]).round(2)
    return table


def recommend(table: pd.DataFrame, tolerance_points: float = 0.5) -> str:
    """Which variant to ship, drawn from the table: the fastest within ``tolerance_points`` of float accuracy."""
    base = table.iloc[0]
    close = table[table["accuracy_change_points"] >= -tolerance_points]
    best = close.sort_values(["latency_p50_ms", "file_bytes"]).iloc[0]
    smallest = close.sort_values("file_bytes").iloc[0]
    lines = [
        f"At most {tolerance_points} point below the Keras float model's {base['accuracy']:.2%}: "
        f"{', '.join(close['variant'])}.",
        f"Fastest of those: {best['variant']} ({best['latency_p50_ms']:.2f} ms median per image on "
        f"{best['threads']} threads, {best['speedup_p50']:.2f}x the Keras float model; "
        f"{best['file_bytes'] / 1e6:.2f} MB, {best['flops_ratio']:.2f}x its FLOPs; accuracy {best['accuracy']:.2%}).",
        f"Smallest of those: {smallest['variant']} ({smallest['file_bytes'] / 1e6:.2f} MB, "
        f"{smallest['size_ratio']:.2f}x the float file).",
    ]
    dropped = table[table["accuracy_change_points"] < -tolerance_points]
    if len(dropped):
        lost = (
            f"{r.variant} ({r.accuracy_change_points:+.2f} points)" for r in dropped.itertuples()
        )
        lines.append(f"Lost more than that: {', '.join(lost)}.")
    lines.append(f"Ship {best['variant']}.")
    return "\n".join(lines)


def fine_tune(
    model: keras.Model, train, validation, epochs: int, callbacks=(), learning_rate: float = 3e-4
):
    """A few epochs at a small learning rate (after pruning), through the one training loop."""
    from helpers.training import Trainer

    if epochs > 0:
        Trainer(model, keras.optimizers.Adam(learning_rate)).fit(
            train, validation, epochs, patience=epochs, verbose=0, callbacks=callbacks
        )
    return model


def build_variants(
    model: keras.Model, files: RunFiles, representative: np.ndarray, train, validation,
    prune_ratio: float = 0.5, finetune_epochs: int = 2, log: Callable[[str], None] = print,
    threads: int | None = None, litert_kinds: tuple[str, ...] = TFLITE_VARIANTS, onnx: bool = True,
) -> list[Variant]:  # fmt: skip
    """The Keras float model, its LiteRT ``litert_kinds``, ONNX float32/int8, and (``prune_ratio``
    > 0, chain models) the structured-pruned model, also as full int8, and the magnitude-pruned one
    (fine-tuned): each written into ``files``' folder; LiteRT and ONNX run on ``threads``."""
    variants = [
        Variant.from_model("Keras float32", model, KerasRunner(model), files.model.stat().st_size)
    ]
    for name in litert_kinds:
        path = files.tflite(name)
        variants.append(
            _litert_variant(f"LiteRT {name}", model, name, representative, path, threads)
        )
    if onnx and not onnx_available():
        log("ONNX rows skipped: install onnx, tf2onnx and onnxruntime (pyproject.toml lists them)")
    elif onnx:
        try:
            runners = build_onnx(model, files.root, representative, threads)
        except ValueError as err:
            log(f"ONNX rows skipped: {err}")
            runners = {}
        for kind, runner in runners.items():
            size = runner.path.stat().st_size
            variants.append(Variant.from_model(f"ONNX {kind}", model, runner, size))
    if prune_ratio <= 0:
        return variants
    try:
        pruned = prune_structured(model, prune_ratio)
    except NotImplementedError as err:
        log(f"Structured pruning skipped: {err}")
        return variants
    fine_tune(pruned, train, validation, finetune_epochs)
    label = f"pruned {prune_ratio:.0%} filters"
    size = atomic.save_model(pruned, files.variant_model("pruned")).stat().st_size
    variants.append(Variant.from_model(f"Keras {label}", pruned, KerasRunner(pruned), size))
    path = files.tflite("pruned full int8")
    name = f"LiteRT {label} + full int8"
    variants.append(_litert_variant(name, pruned, "full int8", representative, path, threads))
    sparse, masks = prune_magnitude(model, prune_ratio)
    fine_tune(sparse, train, validation, finetune_epochs, callbacks=[KeepPruned(masks)])
    path = files.variant_model("magnitude_pruned")
    atomic.save_model(sparse, path)
    variants.append(
        Variant.from_model(
            f"Keras magnitude-pruned {prune_ratio:.0%} weights", sparse, KerasRunner(sparse),
            path.stat().st_size, params=nonzero_params(sparse),
        )
    )  # fmt: skip
    return variants


def _litert_variant(name: str, model, kind: str, representative, path, threads) -> Variant:
    content = to_tflite(model, kind, representative)
    atomic.write_bytes(path, content)
    return Variant.from_model(name, model, LiteRTModel(content, threads), len(content))


def optimization_inputs(
    labels, image_size: int, batch_size=32, calibration=200, sample=256, seed=0
) -> dict:
    """What optimising needs, in bounded memory: measure inputs, calibration images, loaders."""
    from helpers.loading import InputSpec, load_inputs, split_batches

    batches = split_batches(InputSpec(labels, image_size, batch_size, seed, cache="auto"))
    train, test = labels.split("train"), labels.split("test")
    calibrate = train.sample(min(calibration, len(train)), random_state=seed)
    return {
        "measure": MeasureInputs(
            batches["test"], load_inputs(labels, test.head(sample), image_size)
        ),
        "representative": load_inputs(labels, calibrate, image_size),
        "train": batches["train"],
        "val": batches["val"],
    }


def optimise_run(
    run, model: keras.Model, prune_ratio: float = 0.5,
    litert_kinds: tuple[str, ...] = TFLITE_VARIANTS, runs: int = 50, calibration: int = 200,
    onnx: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """Build, measure and record a run's ``optimization.csv`` (one that is current: read back)."""
    if run.current("optimization"):
        table = pd.read_csv(run.files.optimization)
        if not (onnx and onnx_available()) or "ONNX float32" in set(table["variant"]):
            run.log(
                f"{run.files.optimization.name} is current for this model: read back, not re-measured"
            )
            return table
    settings = run.settings
    inputs = optimization_inputs(
        run.labels(), settings.image_size, settings.batch_size, calibration, seed=settings.seed
    )
    run.log(
        f"{settings.model}: {inputs['measure'].test.images:,} test images (streamed), "
        f"{len(inputs['representative'])} calibration images"
    )
    variants = build_variants(
        model, run.files, inputs["representative"], inputs["train"], inputs["val"], prune_ratio,
        finetune_epochs=max(1, min(2, settings.epochs)), log=run.log, litert_kinds=litert_kinds,
        onnx=onnx,
    )  # fmt: skip
    table = measure(variants, inputs["measure"], runs=runs)
    atomic.write_csv(run.files.optimization, table)
    run.record("optimization")
    return table
