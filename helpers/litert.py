"""LiteRT (formerly TensorFlow Lite): a Keras model converted (SavedModel, then ``TFLiteConverter``:
no "flex" ops, unlike Keras' ``format="litert"``) in four variants, and ``ai_edge_litert``'s runner.
"""

import tempfile
from pathlib import Path

import numpy as np

from helpers.latency import cpu_threads

TFLITE_VARIANTS = ("float32", "dynamic int8", "float16", "full int8")


def to_tflite(model, variant: str, representative: np.ndarray | None = None) -> bytes:
    """Convert through Keras' SavedModel export; ``full int8`` calibrates on ``representative``."""
    import tensorflow as tf

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
        # LiteRT's Python interpreter defaults to one thread: use every core unless told otherwise.
        self.threads = cpu_threads(num_threads)
        self.interpreter = Interpreter(model_content=content, num_threads=self.threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = int(self.input["shape"][0])

    @property
    def runtime(self) -> str:
        """``XNNPACK`` when (part of) the graph went to that delegate, else ``built-in`` (LiteRT's
        own kernels: one-thread int8 convolutions, why full int8 can be slower than float)."""
        # The interpreter lists a DELEGATE node per delegated partition (a private listing).
        names = {op["op_name"] for op in self.interpreter._get_ops_details()}
        return "XNNPACK" if "DELEGATE" in names else "built-in"

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
