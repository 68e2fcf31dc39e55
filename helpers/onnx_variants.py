"""ONNX Runtime beside LiteRT: a Keras model exported to ONNX (``model.export``) and quantised to
int8 (``quantize_static``, calibrated as LiteRT's full int8), run on LiteRT's thread count.
"""

import importlib.util
import tempfile
from pathlib import Path

import numpy as np

from helpers import atomic
from helpers.latency import cpu_threads

ONNX_VARIANTS = ("float32", "int8")


def available() -> bool:
    """Whether ONNX export and ONNX Runtime are installed (``onnx``, ``tf2onnx``, ``onnxruntime``)."""
    return all(importlib.util.find_spec(name) for name in ("onnx", "tf2onnx", "onnxruntime"))


def to_onnx(model, path: Path) -> Path:
    """``model`` as a float32 ONNX file; ValueError if it needs inputs besides the image."""
    import onnx

    # Keras refuses to export a model never called (e.g. one just loaded): call it on one input.
    model(np.zeros((1, *model.input_shape[1:]), np.float32), training=False)
    with atomic.replacing(path) as temporary:
        model.export(str(temporary), format="onnx", verbose=False)
        inputs = onnx.load(str(temporary), load_external_data=False).graph.input
        extra = [tensor.name for tensor in inputs][len(model.inputs) :]
        if extra:
            raise ValueError(f"{model.name}: its ONNX export needs inputs {extra} beside the image")
    return Path(path)


def quantize_int8(
    float_path: Path, path: Path, representative: np.ndarray, batch: int = 32
) -> Path:
    """``float_path`` quantised to int8 (QDQ, per-channel), calibrated on ``representative`` images."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if representative is None or len(representative) == 0:
        raise ValueError("ONNX int8 needs representative training images")
    samples = np.asarray(representative, np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self, name: str):
            self.batches = iter(
                {name: samples[i : i + batch]} for i in range(0, len(samples), batch)
            )

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"  # shapes inferred, graph optimised, as advised
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        name = ONNXRuntimeModel(float_path, 1).input
        with atomic.replacing(path) as temporary:
            quantize_static(
                str(prepared), str(temporary), Reader(name), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            )  # fmt: skip
    return Path(path)


class ONNXRuntimeModel:
    """An ONNX file behind the same ``predict(x) -> probabilities`` as Keras and LiteRT."""

    runtime = "ONNX Runtime"

    def __init__(self, path: Path, num_threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self.threads = cpu_threads(num_threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        # No spin-waiting between calls, so that timings in turns with other runtimes stay fair.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.asarray(x, np.float32)})[0]


def build_onnx(
    model, folder: Path, representative: np.ndarray, threads: int | None = None
) -> dict[str, ONNXRuntimeModel]:
    """``model`` as ``model_float32.onnx`` and ``model_int8.onnx`` in ``folder``, with their runners."""
    paths = {kind: Path(folder) / f"model_{kind}.onnx" for kind in ONNX_VARIANTS}
    to_onnx(model, paths["float32"])
    quantize_int8(paths["float32"], paths["int8"], representative)
    return {kind: ONNXRuntimeModel(path, threads) for kind, path in paths.items()}
