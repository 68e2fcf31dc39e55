"""TensorFlow's own distribution engine and mixed precision, chosen by the run's settings.

``strategy``: ``auto`` (``MirroredStrategy`` over several local GPUs, else the default), ``one``,
``mirrored`` (local GPUs, or logical CPUs from :func:`split_cpu`), ``multiworker`` (from
``TF_CONFIG``; created before TensorFlow runs anything else). ``precision``: ``auto`` is
``mixed_float16`` on a GPU, else ``float32``.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from helpers.errors import ParameterError

STRATEGIES = ("auto", "one", "mirrored", "multiworker")


def split_cpu(devices: int) -> None:
    """Split the CPU into ``devices`` logical devices (MirroredStrategy without GPUs); must run
    before TensorFlow initialises its devices."""
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
    gpus = tf.config.list_logical_devices("GPU")  # initialises TensorFlow: after multiworker
    if name == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


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
