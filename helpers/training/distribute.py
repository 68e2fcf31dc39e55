"""TensorFlow's own distribution engine and mixed precision, chosen by the run's settings.

* ``strategy``: ``auto`` (every local GPU through ``MirroredStrategy`` when there
  are several, else the default strategy), ``one`` (the default strategy),
  ``mirrored`` (``MirroredStrategy`` over the local GPUs, or over logical CPU
  devices made by :func:`split_cpu`), ``multiworker``
  (``MultiWorkerMirroredStrategy``, configured from ``TF_CONFIG`` as TensorFlow
  documents it: ``{"cluster": {"worker": ["host1:port", "host2:port"]},
  "task": {"type": "worker", "index": 0}}``).
* ``precision``: ``auto`` is ``mixed_float16`` when a GPU is present, else
  ``float32``. The zoo's softmax output layers always compute in float32.

A multi-worker strategy must exist before TensorFlow runs anything else, so
command lines create it first (``python -m helpers.train`` does).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from helpers.errors import ParameterError

STRATEGIES = ("auto", "one", "mirrored", "multiworker")


def split_cpu(devices: int) -> None:
    """Split the CPU into ``devices`` logical devices, so MirroredStrategy can run without GPUs.

    Must run before TensorFlow initialises its devices (first thing in a process).
    """
    if devices < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
        )
    except RuntimeError as err:
        raise ParameterError(
            "cpu_devices", f"must be set before TensorFlow starts ({err}); start a new process"
        ) from None


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (see the module's docstring)."""
    if name not in STRATEGIES:
        raise ParameterError("strategy", f"{name!r} is not one of {', '.join(STRATEGIES)}")
    if name == "multiworker":
        return _multiworker()
    gpus = tf.config.list_logical_devices(
        "GPU"
    )  # initialises TensorFlow: after multiworker's check
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    raise AssertionError(name)


def _multiworker() -> tf.distribute.Strategy:
    if not os.environ.get("TF_CONFIG"):
        raise ParameterError(
            "strategy",
            'multiworker needs TF_CONFIG, e.g. {"cluster": {"worker": ["host1:12345", '
            '"host2:12345"]}, "task": {"type": "worker", "index": 0}}',
        )
    try:
        json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as err:
        raise ParameterError("TF_CONFIG", f"not valid JSON ({err})") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run folder: always, except non-chief multi-worker tasks."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """Machines (tasks) taking part: 1 unless multi-worker."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1
    jobs = resolver.cluster_spec().as_dict()
    return len(jobs.get("worker", [])) + len(jobs.get("chief", []))


def precision_policy(setting: str) -> str:
    """The Keras dtype policy for ``precision``: ``auto`` means mixed_float16 on GPUs."""
    if setting == "auto":
        return "mixed_float16" if tf.config.list_logical_devices("GPU") else "float32"
    return setting


def shard_policy(by_file: bool):
    """tf.data auto-sharding across workers: by file (disk-cache shards), else by data."""
    policy = tf.data.experimental.AutoShardPolicy
    return policy.FILE if by_file else policy.DATA
