"""LiteRT variants agree with Keras; measuring streams the test split and reports threads; recommend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_pruning import array_batches

from helpers.flops import totals
from helpers.litert import LiteRTModel, to_tflite
from helpers.models import build_untrained
from helpers.variants import KerasRunner, MeasureInputs, Variant, measure, recommend

RNG = np.random.default_rng(0)


def test_litert_variants_agree_with_keras():
    model = build_untrained("fashion_cnn")
    x = RNG.random((16, 28, 28, 1)).astype("float32")
    reference = model.predict(x, verbose=0)
    float32 = to_tflite(model, "float32")
    assert np.allclose(LiteRTModel(float32).predict(x), reference, atol=1e-4)
    for variant in ("dynamic int8", "float16"):
        assert np.abs(LiteRTModel(to_tflite(model, variant)).predict(x) - reference).max() < 0.05
    int8 = to_tflite(model, "full int8", representative=x)
    runner = LiteRTModel(int8)
    assert runner.input["dtype"] == np.int8 and runner.output["dtype"] == np.int8
    assert np.abs(runner.predict(x) - reference).max() < 0.1
    assert len(int8) <= 0.3 * len(float32)
    with pytest.raises(ValueError, match="representative"):
        to_tflite(model, "full int8")


def test_measure_and_recommend():
    model = build_untrained("fashion_cnn")
    x = RNG.random((40, 28, 28, 1)).astype("float32")
    labels = model.predict(x, verbose=0).argmax(axis=1)  # the float model is right by construction
    y = np.eye(10, dtype="float32")[labels]
    variants = [
        Variant.from_model("Keras float32", model, KerasRunner(model), 1000),
        Variant.from_model("LiteRT float32", model, LiteRTModel(to_tflite(model, "float32")), 500),
    ]
    table = measure(variants, MeasureInputs(array_batches(x, y), x[:8]), runs=5)
    assert table["accuracy"].tolist() == [1.0, 1.0]
    assert table.loc[0, "speedup_p50"] == 1.0 and table.loc[1, "size_ratio"] == 0.5
    assert (table["latency_p95_ms"] >= table["latency_p50_ms"]).all()
    assert (table["threads"] >= 1).all()
    assert table["runtime"].tolist() == ["TensorFlow", "XNNPACK"]
    assert table.loc[0, "flops"] == totals(model)["flops"]
    text = recommend(table)
    assert text.splitlines()[-1].startswith("Ship ") and "threads" in text
    worse = pd.concat(
        [table, table.iloc[[1]].assign(variant="bad", accuracy=0.5, accuracy_change_points=-50.0)]
    )
    assert "bad (-50.00 points)" in recommend(worse.reset_index(drop=True))


def test_litert_uses_every_core_by_default():
    model = build_untrained("fashion_cnn")
    import os

    assert LiteRTModel(to_tflite(model, "float32")).threads == (os.cpu_count() or 1)
    assert LiteRTModel(to_tflite(model, "float32"), num_threads=1).threads == 1


def test_interleaved_latency_times_every_predictor_in_turns():
    import time

    from helpers.latency import interleaved_latency_ms

    calls = []

    def slow(x):
        calls.append("slow")
        time.sleep(0.002)
        return x

    def fast(x):
        calls.append("fast")
        return x

    (slow_p50, slow_p95), (fast_p50, _) = interleaved_latency_ms([slow, fast], np.zeros(1), 6, 1)
    assert slow_p50 >= 2.0 > fast_p50 and slow_p95 >= slow_p50
    timed = calls[2:]  # after one warm-up call each: one call of each per round, order rotating
    assert len(timed) == 12 and timed[:4] == ["slow", "fast", "fast", "slow"]


def test_litert_says_which_runtime_runs_the_model():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model = build_untrained("fashion_cnn")
    x = RNG.random((20, 28, 28, 1)).astype("float32")
    int8 = LiteRTModel(to_tflite(model, "full int8", x))
    assert int8.runtime == "XNNPACK"  # int8 convolutions on XNNPACK, not LiteRT's own kernels
    int8.interpreter = Interpreter(
        model_content=int8.content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    assert int8.runtime == "built-in"
