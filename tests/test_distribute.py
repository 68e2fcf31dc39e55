"""tf.distribute on a CPU-only machine: mirrored replicas, two local workers, mixed precision.

Strategies must be set up before TensorFlow starts, so each case runs in a fresh process
(``python -m helpers.train`` or a short script), bounded in time; servers listen on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from helpers.training import Trainer, dtype_policy, float32_copy, set_seeds

TIMEOUT = 600  # seconds any one process may take: a hung collective fails the test, not CI


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def train_command(run_dir, data_dir, *extra) -> list[str]:
    return [
        sys.executable, "-m", "helpers.train", "--profile", "quick", "--run-dir", str(run_dir),
        "-p", "dataset", "fashion_mnist", "-p", "data_dir", str(data_dir), "-p", "image_size", "28",
        "-p", "model", "ours_tiny", "-p", "batch_size", "32", "--verbose", "2", *extra,
    ]  # fmt: skip


def test_one_device_and_two_mirrored_replicas_give_the_same_losses(tmp_path):
    """Same data, seed and global batch: the losses agree to float32 rounding.

    Two replicas each average half the batch and the gradients are summed across them,
    instead of one mean over the whole batch: the same arithmetic in another order, so
    each step differs by float32 rounding (~1e-7 relative) and 16 Adam steps stay far
    inside 1e-5. Anything wrong (a replica's share lost, the loss not divided by the
    global batch, gradients averaged twice) moves the curve by percents.
    """
    script = tmp_path / "compare.py"
    script.write_text(
        textwrap.dedent(
            """
            import json
            from helpers.training.distribute import split_cpu
            split_cpu(2)
            import keras, numpy as np, tensorflow as tf
            from helpers.loading import Batches
            from helpers.training import Trainer, set_seeds

            rng = np.random.default_rng(0)
            x = rng.random((64, 12, 12, 1)).astype("float32")
            y = np.eye(4, dtype="float32")[rng.integers(0, 4, 64)]
            data = lambda e: tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=e).batch(16)
            batches = Batches(64, 16, data)

            def losses(strategy):
                set_seeds(1)
                with strategy.scope():
                    inputs = keras.Input((12, 12, 1))
                    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
                    out = keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(h))
                    trainer = Trainer(keras.Model(inputs, out), keras.optimizers.Adam(1e-2), strategy)
                history = trainer.fit(batches, batches, 4, verbose=0, patience=10)
                return [history["loss"].tolist(), history["val_loss"].tolist(), trainer.strategy.num_replicas_in_sync]

            one = losses(tf.distribute.get_strategy())
            two = losses(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
            print(json.dumps({"one": one, "two": two}))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (one_loss, one_val, one_replicas), (two_loss, two_val, two_replicas) = (
        result["one"],
        result["two"],
    )
    assert (one_replicas, two_replicas) == (1, 2)
    np.testing.assert_allclose(two_loss, one_loss, rtol=1e-5)
    np.testing.assert_allclose(two_val, one_val, rtol=1e-5)
    assert one_loss[-1] < one_loss[0]  # it did learn


def test_mirrored_over_two_cpu_devices_from_the_command_line(tmp_path, fashion_mnist_dir):
    run_dir = tmp_path / "run"
    command = train_command(
        run_dir, fashion_mnist_dir, "--strategy", "mirrored", "--cpu-devices", "2"
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "replicas: 2" in done.stdout.splitlines()
    assert (run_dir / "model.keras").exists()
    assert json.loads((run_dir / "training.json").read_text())["replicas"] == 2


def test_two_local_workers_train_one_model(tmp_path, fashion_mnist_dir):
    """Two processes with a two-worker TF_CONFIG on 127.0.0.1: both finish, the chief saves."""
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    run_dir = tmp_path / "run"
    workers = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        workers.append(
            subprocess.Popen(
                train_command(run_dir, fashion_mnist_dir, "--strategy", "multiworker"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=TIMEOUT))
    finally:
        for worker in workers:
            worker.kill()
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
        assert "replicas: 2" in out.splitlines()
    assert "Saved" in outputs[0][0] and "chief saved the model" in outputs[1][0]
    assert (run_dir / "model.keras").exists()
    epochs = [
        [line for line in out.splitlines() if line.startswith("epoch 1/")] for out, _ in outputs
    ]
    first, second = (lines[0].split(" - ", 2)[2] for lines in epochs)  # past "epoch 1/1 - 3.2 s"
    assert first == second  # one model, trained in lockstep: the same loss on both workers


def test_mixed_precision_trains_and_saves_a_float32_model(tmp_path):
    """mixed_float16 (a GPU's default) also runs on a CPU: the step scales the loss, the output
    layer stays float32, and what is saved computes in float32 for the later notebooks."""
    from helpers.litert import LiteRTModel, to_tflite
    from helpers.loading import Batches
    from helpers.models import build_model

    set_seeds(0)
    rng = np.random.default_rng(0)
    x = rng.random((32, 28, 28, 1)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 32)]
    import tensorflow as tf

    batches = Batches(32, 16, lambda e: tf.data.Dataset.from_tensor_slices((x, y)).batch(16))
    with dtype_policy("mixed_float16"):
        model = build_model("ours_tiny", (28, 28, 1), 10)
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3))
        trainer = Trainer(model, optimizer)
    assert (
        model.layers[1].compute_dtype == "float16" and model.layers[-1].compute_dtype == "float32"
    )
    history = trainer.fit(batches, batches, 2, verbose=0)
    assert np.isfinite(history["loss"]).all()
    saved = float32_copy(model)
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}
    np.testing.assert_allclose(saved.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-2)
    assert LiteRTModel(to_tflite(saved, "float32")).predict(x[:2]).shape == (2, 10)


@pytest.mark.parametrize("setting", ["multiworker"])
def test_multiworker_without_tf_config_is_one_line(tmp_path, fashion_mnist_dir, setting):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run(
        train_command(tmp_path / "run", fashion_mnist_dir, "--strategy", setting),
        capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: strategy: multiworker needs TF_CONFIG")
    )
