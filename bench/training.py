"""Training images/s of a zoo model per strategy and precision, through the one training loop.

    python bench/training.py                                  # deepfashion_cnn at 256x256, batch 64
    python bench/training.py --model ours_tiny --size 28 --channels 1 --batch-size 128
    python bench/training.py --cpu-devices 2                  # also MirroredStrategy over 2 logical CPUs

Each configuration runs in a process of its own (a strategy must exist before
TensorFlow starts) on random images, so only the training step is timed: one
device in float32; one device in mixed_float16 when a GPU is present; and
MirroredStrategy over every local GPU (or ``--cpu-devices`` logical CPUs).
The last line gives each configuration's images/s as a ratio to one device
in float32.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def child(args) -> dict:
    from helpers.training.distribute import make_strategy, split_cpu

    split_cpu(args.cpu_devices if args.strategy == "mirrored" else 0)
    import keras
    import numpy as np
    import tensorflow as tf

    from helpers.loading import Batches
    from helpers.models import build_untrained
    from helpers.training import Trainer, dtype_policy

    strategy = make_strategy(args.strategy)
    shape = (args.size, args.size, args.channels)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, *shape), dtype=np.float32)
    y = np.eye(args.classes, dtype=np.float32)[np.arange(args.batch_size) % args.classes]
    with dtype_policy(args.precision), strategy.scope():
        model = build_untrained(args.model, shape, args.classes)
        optimizer = keras.optimizers.Adam(1e-3)
        if args.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        trainer = Trainer(model, optimizer, strategy)

    def batches(steps: int) -> Batches:
        return Batches(
            steps * args.batch_size,
            args.batch_size,
            lambda e: tf.data.Dataset.from_tensors((x, y)).repeat(steps),
        )

    trainer.train_epoch(batches(2), 0)  # traces the step
    started = time.perf_counter()
    trainer.train_epoch(batches(args.steps), 0)
    seconds = time.perf_counter() - started
    return {
        "images_per_s": args.steps * args.batch_size / seconds,
        "replicas": strategy.num_replicas_in_sync,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="deepfashion_cnn")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=46)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--cpu-devices", type=int, default=0, help="mirrored over N logical CPUs")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="one", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    configs = [("one", "float32")]
    if gpus:
        configs.append(("one", "mixed_float16"))
    if gpus > 1 or args.cpu_devices > 1:
        configs.append(("mirrored", "mixed_float16" if gpus else "float32"))
    print(
        f"{args.model} at {args.size}x{args.size}x{args.channels}, global batch {args.batch_size}, "
        f"{args.steps} timed steps; {gpus} GPU(s)"
    )
    results = {}
    for strategy, precision in configs:
        command = [
            sys.executable, __file__, "--child", "--strategy", strategy, "--precision", precision,
            "--model", args.model, "--size", str(args.size), "--channels", str(args.channels),
            "--classes", str(args.classes), "--batch-size", str(args.batch_size),
            "--steps", str(args.steps), "--cpu-devices", str(args.cpu_devices),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            print(
                f"error: {strategy} / {precision} failed:\n{done.stderr[-1500:]}", file=sys.stderr
            )
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results[(strategy, precision)] = result
        print(
            f"  {strategy:<9} {precision:<14} {result['replicas']} replica(s): {result['images_per_s']:8,.1f} images/s"
        )
    base = results[("one", "float32")]["images_per_s"]
    print(
        ", ".join(
            f"{strategy}/{precision} {r['images_per_s'] / base:.2f}x"
            for (strategy, precision), r in results.items()
        )
        + " one/float32"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
