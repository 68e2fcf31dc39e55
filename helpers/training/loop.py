"""The training loop: one path for every strategy, with early stopping and exact resume.

Keras 3's ``model.fit`` cannot run under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585), so every run trains with this custom step, the one
TensorFlow's distribution guides describe: ``strategy.run`` inside a
``tf.function``, per-example losses averaged over the global batch
(``tf.nn.compute_average_loss``), ``optimizer.apply``. Augmentation layers run in
the step (on the accelerator when there is one), after the loader's uint8 ->
[0, 1] step.

After every epoch the chief writes one file, ``checkpoints/state.npz``
(atomically, :mod:`helpers.training.state`): every model, optimizer and augmentation variable (random-number
generator states included), the best weights so far, the epoch count, the
best validation loss and epoch, the early-stopping counter, the history and
the settings it was made with (the optimizer's moving average of the weights
among its variables, when it keeps one). A fit that finds a state with the same settings
continues from it, so its final weights, best epoch and history equal an
uninterrupted run's; a state made with other settings is discarded with one
line. Where every worker must reach it (multi-worker), put the run folder on
storage they share.

Over 300 lines because the step, the epoch loop, early stopping and the
weights' moving average act on one object whose state is saved whole; the file
format of that state is :mod:`helpers.training.state`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers import atomic
from helpers.keras_graph import all_layers
from helpers.loading.augment import Augment, augmentation_layers
from helpers.paths import RunFiles
from helpers.training.distribute import shard_policy, worker_count
from helpers.training.progress import epoch_progress
from helpers.training.state import Checkpoint, Progress, assign, load_state, save_state

HISTORY_METRICS = ("loss", "accuracy", "top3")


class Trainer:
    """Fits one model with one optimizer under one strategy (model and optimizer built in its scope)."""

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        strategy: tf.distribute.Strategy | None = None,
        augment: Augment | None = None,
        class_weight: dict[int, float] | None = None,
        label_smoothing: float = 0.0,
        seed: int = 0,
    ):
        self.strategy = strategy or tf.distribute.get_strategy()
        self.model = model
        self.optimizer = optimizer
        classes = model.output_shape[-1]
        with self.strategy.scope():
            self.augment = (
                augmentation_layers(augment, seed)
                if augment is not None and augment.active
                else None
            )
            if self.augment is not None:
                self.augment.build((None, *model.input_shape[1:]))
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
        self.class_weight = (
            tf.constant([float(class_weight.get(i, 1.0)) for i in range(classes)], tf.float32)
            if class_weight
            else None
        )
        self.loss = keras.losses.CategoricalCrossentropy(
            reduction=None, label_smoothing=label_smoothing
        )
        self.top_k = 3 if classes > 3 else 0
        # XLA as Keras' fit decides it: on a GPU, without tf.distribute, when every layer supports it.
        on_gpu = bool(tf.config.list_logical_devices("GPU"))
        distributed = isinstance(
            self.strategy,
            tf.distribute.MirroredStrategy | tf.distribute.MultiWorkerMirroredStrategy,
        )
        self.jit = (
            on_gpu
            and not distributed
            and all(getattr(layer, "supports_jit", True) for layer in all_layers(model))
        )
        self._train = self._make_train_step()
        self._evaluate = self._make_eval_step()

    # --- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _valid(y):
        """1 for real rows, 0 for the all-zero padding rows of an evened-out evaluation batch."""
        return tf.reduce_sum(tf.cast(y, tf.float32), axis=-1)

    def _counts(self, y, probabilities):
        truth = tf.argmax(y, axis=-1)
        valid = self._valid(y)
        predictions = tf.cast(probabilities, tf.float32)
        hits = tf.cast(tf.equal(tf.argmax(predictions, -1), truth), tf.float32)
        correct = tf.reduce_sum(hits * valid)
        top = (
            tf.reduce_sum(
                tf.cast(tf.math.in_top_k(truth, predictions, self.top_k), tf.float32) * valid
            )
            if self.top_k
            else tf.constant(0.0)
        )
        return correct, top, tf.reduce_sum(valid)

    def _regularisation(self, per_replica: bool = True):
        """Weight-regularisation losses (the ``deeper`` seed model has them), scaled per replica."""
        if not self.model.losses:
            return 0.0
        total = tf.add_n(self.model.losses)
        return tf.nn.scale_regularization_loss(total) if per_replica else total

    def _make_train_step(self):
        model, optimizer = self.model, self.optimizer

        def forward_backward(x, y):
            with tf.GradientTape() as tape:
                probabilities = model(x, training=True)
                per_example = self.loss(y, probabilities)
                if self.class_weight is not None:
                    per_example *= tf.gather(self.class_weight, tf.argmax(y, axis=-1))
                loss = tf.nn.compute_average_loss(per_example) + self._regularisation()
                scaled = optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply(gradients, model.trainable_variables)
            return loss, *self._counts(y, probabilities)

        inner = tf.function(forward_backward, jit_compile=True) if self.jit else forward_backward

        def replica_step(x, y):
            if self.augment is not None:
                x = self.augment(x, training=True)
            return inner(x, y)

        return self._summed_over_replicas(replica_step)

    def _make_eval_step(self):
        def replica_step(x, y):
            probabilities = self.model(x, training=False)
            per_example = self.loss(y, probabilities) * self._valid(y)
            return tf.reduce_sum(per_example), *self._counts(y, probabilities)

        return self._summed_over_replicas(replica_step)

    def _summed_over_replicas(self, replica_step):
        """One ``tf.function`` step: ``replica_step(x, y)`` on every replica's share of the
        batch, each of its outputs summed over the replicas."""

        @tf.function
        def step(batch):
            x, y = batch
            outputs = self.strategy.run(replica_step, args=(x, y))
            return [self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in outputs]

        return step

    def _evened(self, dataset, batches, pad: bool):
        """Several replicas: no replica may get an empty batch (oneDNN's CPU convolutions fail on
        one). Training drops the last partial batch; evaluation pads it with all-zero rows,
        which the counts and losses ignore."""
        if self.strategy.num_replicas_in_sync == 1:
            return dataset
        rows = dataset.unbatch()
        if pad:
            missing = (-batches.images) % batches.batch_size
            x_spec, y_spec = rows.element_spec
            zeros = (tf.zeros(x_spec.shape, x_spec.dtype), tf.zeros(y_spec.shape, y_spec.dtype))
            rows = rows.concatenate(tf.data.Dataset.from_tensors(zeros).repeat(missing))
        return rows.batch(batches.batch_size, drop_remainder=True)

    def _distributed(self, dataset, by_file: bool = False):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = shard_policy(by_file)
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    def _by_file(self, batches) -> bool:
        """Several workers and at least as many disk-cache shards: each worker reads its own files."""
        workers = worker_count(self.strategy)
        return batches.sharded_files and workers > 1 and batches.files >= workers

    # --- epochs --------------------------------------------------------------------------------

    def train_epoch(
        self, batches, epoch: int, bar: Callable | None = None, hooks=None
    ) -> dict[str, float]:
        """One pass over ``batches.epoch(epoch)``; returns the epoch's loss, accuracy and top-3."""
        totals = np.zeros(4)
        dataset = batches.epoch(epoch)
        by_file = self._by_file(batches)
        steps = None
        if by_file:  # workers' shards differ in size: repeat them, the same step count everywhere
            dataset = dataset.repeat()
            steps = batches.images // batches.batch_size
        dataset = self._evened(dataset, batches, pad=False)
        for step, batch in enumerate(self._distributed(dataset, by_file)):
            if steps is not None and step >= steps:
                break
            loss, correct, top, count = (float(v) for v in self._train(batch))
            totals += (loss * count, correct, top, count)
            if hooks is not None:
                hooks.on_train_batch_end(step, {"loss": loss})
            if bar is not None:
                bar(step + 1, totals[0] / totals[3])
        return self._logs(totals)

    def evaluate(self, batches) -> dict[str, float]:
        """Loss (without class weights), accuracy and top-3 on ``batches`` in order."""
        totals = np.zeros(4)
        for batch in self._distributed(self._evened(batches.epoch(0), batches, pad=True)):
            loss_sum, correct, top, count = (float(v) for v in self._evaluate(batch))
            totals += (loss_sum, correct, top, count)
        logs = self._logs(totals)
        logs["loss"] += float(self._regularisation(per_replica=False))
        return logs

    def _logs(self, totals: np.ndarray) -> dict[str, float]:
        loss, correct, top, count = totals
        logs = {"loss": loss / max(count, 1), "accuracy": correct / max(count, 1)}
        if self.top_k:
            logs["top3"] = top / max(count, 1)
        return logs

    # --- the whole fit -------------------------------------------------------------------------

    def fit(
        self,
        train,
        validation,
        epochs: int,
        checkpoint: Checkpoint | None = None,
        patience: int = 3,
        verbose: int = 2,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        log: Callable[[str], None] = print,
    ) -> pd.DataFrame:
        """Train up to ``epochs`` epochs with early stopping on val_loss (best weights restored);
        ``validation=None`` trains exactly ``epochs`` epochs and keeps the last weights. With an
        EMA optimizer (``use_ema``) the averaged weights are validated, kept and left in the model.

        With a ``checkpoint`` the state after every epoch goes to its ``files.training_state``
        (when it ``write``s) and a fit with the same ``key`` resumes from it. Returns the history,
        one row per epoch.
        """
        progress, best = Progress(), None
        if checkpoint is not None:
            progress, best = self._resume(checkpoint, log)
        hooks = keras.callbacks.CallbackList(list(callbacks), model=self.model)
        self.model.stop_training = False
        hooks.on_train_begin()
        while progress.epochs_done < epochs and not progress.stopped:
            epoch = progress.epochs_done
            hooks.on_epoch_begin(epoch)
            started = time.perf_counter()
            desc, size = f"epoch {epoch + 1}/{epochs}", train.batch_size
            with epoch_progress(len(train), desc, size, verbose == 1) as bar:
                logs = self.train_epoch(train, epoch, bar, hooks)
            if validation is not None:  # without validation: fixed epochs, the last weights kept
                with self.averaged_weights():  # scored and kept as they would be used
                    logs.update({f"val_{k}": v for k, v in self.evaluate(validation).items()})
                    best = self._early_stopping(progress, epoch, logs["val_loss"], patience, best)
            logs["seconds"] = round(time.perf_counter() - started, 2)
            progress.history.append({"epoch": epoch, **{k: float(v) for k, v in logs.items()}})
            progress.epochs_done = epoch + 1
            if checkpoint is not None and checkpoint.write:
                self._save(checkpoint.files, progress, best)
                atomic.write_csv(checkpoint.files.history, pd.DataFrame(progress.history))
            if verbose:
                log(_epoch_line(epoch, epochs, logs, progress.best_epoch == epoch))
            hooks.on_epoch_end(epoch, logs)
            if self.model.stop_training:
                break
        hooks.on_train_end()
        if best is not None:
            assign(self.model.weights, best)
        elif self.uses_ema:  # the moving average of the weights is the model
            self.optimizer.finalize_variable_values(self.model.trainable_variables)
        return pd.DataFrame(progress.history)

    @property
    def uses_ema(self) -> bool:
        """Whether the optimizer (or the one a loss-scale optimizer wraps) averages the weights."""
        return bool(
            getattr(getattr(self.optimizer, "inner_optimizer", self.optimizer), "use_ema", False)
        )

    @contextlib.contextmanager
    def averaged_weights(self):
        """Inside the block the model holds the optimizer's moving average of its trainable
        weights (with ``use_ema``; else its own), and its own again after: what validation scores
        and early stopping keeps, while training and its saved state go on from the raw weights."""
        if not self.uses_ema:
            yield
            return
        variables = self.model.trainable_variables
        raw = [np.array(v.numpy()) for v in variables]
        self.optimizer.finalize_variable_values(variables)
        try:
            yield
        finally:
            assign(variables, raw)

    def _early_stopping(self, progress: Progress, epoch: int, loss: float, patience: int, best):
        if loss < progress.best_loss:
            progress.best_loss, progress.best_epoch, progress.wait = loss, epoch, 0
            return [np.array(v) for v in self.model.get_weights()]
        progress.wait += 1
        if progress.wait >= patience:
            progress.stopped = True
        return best

    # --- state ---------------------------------------------------------------------------------

    def _variables(self) -> dict[str, list]:
        groups = {"model": list(self.model.variables), "optimizer": list(self.optimizer.variables)}
        if self.augment is not None:
            groups["augment"] = list(self.augment.variables)
        return groups

    def _save(self, files: RunFiles, progress: Progress, best) -> None:
        save_state(files.training_state, self._variables(), progress, best)

    def _resume(self, checkpoint: Checkpoint, log) -> tuple[Progress, list | None]:
        """The saved progress when it matches the key and this model; else a fresh start (said once)."""
        return load_state(
            checkpoint.files.training_state,
            checkpoint.key,
            self._variables(),
            len(self.model.weights),
            log,
            checkpoint.write,
        )


def _epoch_line(epoch: int, epochs: int, logs: dict, best: bool) -> str:
    shown = " - ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "seconds")
    return (
        f"epoch {epoch + 1}/{epochs} - {logs['seconds']:.1f} s - {shown}{' (best)' if best else ''}"
    )
