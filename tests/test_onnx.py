"""ONNX export equals Keras, ONNX Runtime's int8 agrees with float, and both rows join the table."""

from __future__ import annotations

import os

import keras
import numpy as np
import onnx
import pytest
from test_pruning import array_batches

from helpers import atomic
from helpers.models import MODELS, NATURAL_INPUTS, build_untrained
from helpers.onnx_variants import ONNXRuntimeModel, build_onnx, quantize_int8, to_onnx
from helpers.paths import RunFiles
from helpers.variants import MeasureInputs, build_variants, measure, recommend

CLASSES = 4
QUICK = os.environ.get("CLOTHING_PROFILE") == "quick"


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """32x32 RGB noise in 0-255 with a bright square in the quadrant of the class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % CLASSES
    x = rng.random((n, 32, 32, 3)).astype("float32") * 80
    for i, k in enumerate(y):
        row, col = divmod(int(k), 2)
        x[i, row * 16 + 2 : row * 16 + 14, col * 16 + 2 : col * 16 + 14] += 160
    return x, np.eye(CLASSES, dtype="float32")[y]


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained to tell the quadrants apart, and unseen test images."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),  # where the square is: the class
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    x, y = _images(96, seed=0)
    model.fit(x, y, epochs=25, batch_size=16, verbose=0)
    return model, x, _images(64, seed=1)


def test_onnx_float_equals_keras_and_int8_agrees_with_float(trained, tmp_path):
    model, train_x, (x, y) = trained
    keras_out = model.predict(x, verbose=0)
    assert (keras_out.argmax(1) == y.argmax(1)).mean() >= 0.9  # a model with real margins
    float_path = to_onnx(model, tmp_path / "model.onnx")
    float_out = ONNXRuntimeModel(float_path).predict(x)
    np.testing.assert_allclose(float_out, keras_out, atol=1e-5)

    int8_path = quantize_int8(float_path, tmp_path / "model_int8.onnx", train_x)
    int8_out = ONNXRuntimeModel(int8_path).predict(x)
    assert (int8_out.argmax(1) == float_out.argmax(1)).mean() >= 0.9
    graph = onnx.load(str(int8_path)).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in graph.node}
    weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and t.dims]
    assert sum(int(np.prod(t.dims)) for t in weights) >= model.count_params() - 64  # not biases
    with pytest.raises(ValueError, match="representative"):
        quantize_int8(float_path, tmp_path / "none.onnx", train_x[:0])


def test_onnx_rows_join_the_table_on_litert_threads_and_the_recommendation(trained, tmp_path):
    model, train_x, (x, y) = trained
    files = RunFiles(tmp_path / "run").ensure()
    atomic.save_model(model, files.model)
    variants = build_variants(
        model, files, train_x, None, None, prune_ratio=0, threads=1, litert_kinds=("full int8",)
    )
    table = measure(variants, MeasureInputs(array_batches(x, y), x[:16]), runs=5).set_index(
        "variant"
    )
    assert list(table.index) == ["Keras float32", "LiteRT full int8", "ONNX float32", "ONNX int8"]
    onnx_rows = table.loc[["ONNX float32", "ONNX int8"]]
    assert (onnx_rows["runtime"] == "ONNX Runtime").all()
    assert (onnx_rows["threads"] == table.loc["LiteRT full int8", "threads"]).all()
    assert (onnx_rows["threads"] == 1).all()
    assert variants[-1].runner.session.get_session_options().intra_op_num_threads == 1
    assert onnx_rows.loc["ONNX float32", "accuracy"] == table.loc["Keras float32", "accuracy"]
    assert onnx_rows.loc["ONNX int8", "accuracy"] >= table.loc["Keras float32", "accuracy"] - 0.1
    for kind in ("float32", "int8"):
        size = (files.root / f"model_{kind}.onnx").stat().st_size
        assert onnx_rows.loc[f"ONNX {kind}", "file_bytes"] == size
    assert (onnx_rows["latency_p95_ms"] >= onnx_rows["latency_p50_ms"]).all()
    assert (onnx_rows["latency_p50_ms"] > 0).all() and (onnx_rows["images_per_s"] > 0).all()
    assert onnx_rows["flops"].eq(table.loc["Keras float32", "flops"]).all()
    close = table[table["accuracy_change_points"] >= -0.5]
    fastest = close.sort_values(["latency_p50_ms", "file_bytes"]).index[0]
    assert recommend(table.reset_index()).splitlines()[-1] == f"Ship {fastest}."


def _zoo_case(name: str):
    slow = name in {"densenet121", "vgg16", "efficientnet_b0"}  # keras.applications: 20-60 s
    marks = [pytest.mark.skipif(slow and QUICK, reason="slow; skipped under the quick profile")]
    if name == "efficientnet_b0":  # its adapted Normalization's mean: an ONNX input, not a constant
        marks.append(pytest.mark.xfail(raises=ValueError, strict=True))
    return pytest.param(name, marks=marks)


@pytest.mark.parametrize("name", [_zoo_case(name) for name in sorted(MODELS)])
def test_every_zoo_model_saved_and_loaded_exports_to_onnx(name, tmp_path):
    channels = NATURAL_INPUTS.get(name, ((32, 32, 3), 0))[0][-1]
    shape = (224, 224, 3) if name == "efficientnet_lite0" else (32, 32, 3)
    shape = (28, 28, 1) if channels == 1 else shape
    atomic.save_model(build_untrained(name, shape, 5), tmp_path / "model.keras")
    model = keras.models.load_model(tmp_path / "model.keras")  # never called, as 07 gets it
    x = np.random.default_rng(0).random((3, *shape)).astype("float32") * 255
    out = ONNXRuntimeModel(to_onnx(model, tmp_path / "model.onnx")).predict(x)
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=1e-5)


def test_build_onnx_writes_both_files_on_every_core_by_default(trained, tmp_path):
    model, train_x, _ = trained
    runners = build_onnx(model, tmp_path, train_x[:8])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_float32.onnx", "model_int8.onnx"]
    assert {r.threads for r in runners.values()} == {os.cpu_count() or 1}


def test_without_onnx_runtime_the_rows_are_left_out_in_one_line(trained, tmp_path, monkeypatch):
    import helpers.variants

    model, train_x, _ = trained
    files = RunFiles(tmp_path / "run").ensure()
    atomic.save_model(model, files.model)
    monkeypatch.setattr(helpers.variants, "onnx_available", lambda: False)
    logged: list[str] = []
    got = build_variants(
        model, files, train_x, None, None, prune_ratio=0, litert_kinds=(), log=logged.append
    )
    assert [v.name for v in got] == ["Keras float32"] and logged[0].startswith("ONNX rows skipped")
