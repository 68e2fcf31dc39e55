"""TensorFlow's C++ start-up lines are hidden in every process that imports ``helpers``; nothing else is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers.tf_logging import filter_startup

ROOT = Path(__file__).resolve().parents[1]

# What TensorFlow 2.21 writes on a CPU machine without a CUDA driver (one line of each kind).
STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796194700.293180    3363 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1796194700.293597    3363 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796194706.548980    3726 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796194705.113937    3363 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""
REAL = "E0000 00:00:1796194705.113937    3363 op_kernel.cc:1800] OP_REQUIRES failed: not found\n"


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "CLOTHING_TF"))
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_filter_drops_startup_lines_and_keeps_real_errors():
    assert filter_startup(STARTUP) == ""
    assert filter_startup(STARTUP + REAL + "Traceback (most recent call last):\n") == (
        REAL + "Traceback (most recent call last):\n"
    )


def test_cuinit_error_kept_when_a_driver_was_found():
    # With a CUDA driver present (no cudart_stub line) a failing cuInit is a real error.
    cuinit = STARTUP.splitlines(keepends=True)[-1]
    assert filter_startup(cuinit) == cuinit


def test_fresh_process_importing_helpers_then_tensorflow_is_quiet():
    code = (
        "import helpers, sys, os\n"
        "import tensorflow as tf\n"
        "print(int(tf.reduce_sum(tf.constant([1, 2]))))\n"
        "os.write(2, b'after import: still shown\\n')\n"
        "print('python stderr shown', file=sys.stderr)\n"
    )
    result = _fresh_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    for banned in ("cuInit", "cuda drivers", "cudart_stub", "absl::InitializeLog", "oneDNN"):
        assert banned not in result.stderr, result.stderr
    assert "after import: still shown" in result.stderr
    assert "python stderr shown" in result.stderr


def test_keras_first_is_quiet_too_and_logical_devices_still_configurable():
    code = (
        "import helpers, keras\n"
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "print(len(tf.config.list_logical_devices('CPU')))\n"
    )
    result = _fresh_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert "cuInit" not in result.stderr and "cuda drivers" not in result.stderr, result.stderr


def test_switch_shows_everything_again():
    # The same import without the filter: proves the first test would see the lines if they came.
    result = _fresh_python(
        "import helpers, tensorflow as tf; tf.constant(1) + 1", CLOTHING_TF_STARTUP_LOG="1"
    )
    assert result.returncode == 0, result.stderr
    assert "absl::InitializeLog" in result.stderr or "cuda" in result.stderr.lower(), result.stderr


def test_python_logger_follows_the_level_warnings_of_errors_still_show():
    code = (
        "import helpers, logging\n"
        "import tensorflow as tf\n"
        "tf.get_logger().info('Assets written to: x')\n"
        "tf.get_logger().error('a real error')\n"
    )
    result = _fresh_python(code)
    assert "Assets written" not in result.stderr and "a real error" in result.stderr, result.stderr


def test_python_logger_quiet_in_an_interactive_session_too():
    # In Jupyter (sys.ps1 set) TensorFlow's get_logger() sets INFO; helpers puts the level back.
    code = (
        "import sys; sys.ps1 = '>>> '\n"
        "import helpers\n"
        "import tensorflow as tf\n"
        "tf.get_logger().info('Assets written to: x')\n"
        "tf.get_logger().error('a real error')\n"
    )
    result = _fresh_python(code)
    output = result.stdout + result.stderr
    assert "Assets written" not in output and "a real error" in output, output
