"""Single-image latency (predictors timed in turns) and batch throughput of any
``predict(x) -> probabilities``, and the CPU and threads they ran on.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")  # x86 VNNI/AMX, Arm dot product


def cpu_description(cpuinfo: str | None = None) -> str:
    """The CPU latencies were measured on, and its int8 dot-product instructions if any."""
    import platform

    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    # The last processor's entries are enough.
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    name = (
        fields.get("model name")
        or fields.get("Hardware")
        or platform.processor()
        or platform.machine()
    )
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    dot = sorted(flags & set(INT8_DOT_FLAGS))
    has = f"int8 dot product: {', '.join(dot)}" if dot else "no int8 dot-product instructions"
    if not flags:
        has = "int8 dot-product instructions unknown"
    return f"{name} ({os.cpu_count()} cores; {has})"


def cpu_threads(threads: int | None = None) -> int:
    """The threads LiteRT and ONNX Runtime run on: ``threads``, else every core."""
    return threads or os.cpu_count() or 1


def tf_threads() -> int:
    """How many threads TensorFlow computes with (its default: every core), for the tables."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1


def set_tf_threads(threads: int) -> int:
    """Give TensorFlow ``threads`` intra- and inter-op threads (0: its default); how many it uses."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf_threads()


def interleaved_latency_ms(
    predicts: list[Callable], image: np.ndarray, runs: int = 50, warmup: int = 5
) -> list[tuple[float, float]]:
    """Median and p95 single-image latency of predictors timed in turns (fair under load)."""
    for predict in predicts:
        for _ in range(warmup):
            predict(image)
    times: list[list[float]] = [[] for _ in predicts]
    for round_ in range(runs):
        for k in range(len(predicts)):
            i = (k + round_) % len(predicts)
            started = time.perf_counter()
            predicts[i](image)
            times[i].append((time.perf_counter() - started) * 1000)
    return [(float(np.median(t)), float(np.percentile(t, 95))) for t in times]


def throughput(predict: Callable, x: np.ndarray, batch_size: int = 32) -> float:
    """Images per second predicting ``x`` in batches (after one warm-up batch)."""
    predict(x[:batch_size])
    started = time.perf_counter()
    for start in range(0, len(x), batch_size):
        predict(x[start : start + batch_size])
    return len(x) / (time.perf_counter() - started)


__all__ = ["interleaved_latency_ms", "set_tf_threads", "tf_threads", "throughput"]
