"""The training loop: one path for every strategy, with early stopping and exact resume.

Keras 3's ``fit`` cannot run under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585), so
every run trains with TensorFlow's documented custom step (``strategy.run`` in a ``tf.function``,
``compute_average_loss``, ``optimizer.apply``), augmentation layers inside it. After every epoch
the chief saves the whole state (:mod:`helpers.training.state`); every random draw comes from
saved variables or from (seed, epoch), so a resumed fit ends bit-identical to an uninterrupted one
where the loader keeps a fixed order. Multi-worker runs need the run folder on shared storage.
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
from helpers.training.distribute import shard_policy, worker_count
from helpers.training.progress import epoch_progress
from helpers.training.state import Checkpoint, Progress, assign, load_state, save_state


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
        self.model, self.optimizer = model, optimizer
        classes = model.output_shape[-1]
        with self.strategy.scope():
            active = augment is not None and augment.active
            self.augment = augmentation_layers(augment, seed) if active else None
            if self.augment is not None:
                self.augment.build((None, *model.input_shape[1:]))
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
        weights = [float((class_weight or {}).get(i, 1.0)) for i in range(classes)]
        self.class_weight = tf.constant(weights, tf.float32) if class_weight else None
        self.loss = keras.losses.CategoricalCrossentropy(
            reduction=None, label_smoothing=label_smoothing
        )
        self.top_k = 3 if classes > 3 else 0
        # XLA as Keras' fit decides it: on a GPU, without tf.distribute, when every layer supports it.
        mirrored = tf.distribute.MirroredStrategy | tf.distribute.MultiWorkerMirroredStrategy
        self.jit = (
            bool(tf.config.list_logical_devices("GPU"))
            and not isinstance(self.strategy, mirrored)
            and all(getattr(layer, "supports_jit", True) for layer in all_layers(model))
        )
        self._train = self._make_train_step()
        self._evaluate = self._make_eval_step()

    @staticmethod
    def _valid(y):  # 1 for real rows, 0 for an evened-out evaluation batch's all-zero padding
        return tf.reduce_sum(tf.cast(y, tf.float32), axis=-1)

    def _counts(self, y, probabilities):
        truth = tf.argmax(y, axis=-1)
        valid = self._valid(y)
        predictions = tf.cast(probabilities, tf.float32)
        hits = tf.cast(tf.equal(tf.argmax(predictions, -1), truth), tf.float32)
        correct = tf.reduce_sum(hits * valid)
        top = tf.constant(0.0)
        if self.top_k:
            in_top = tf.math.in_top_k(truth, predictions, self.top_k)
            top = tf.reduce_sum(tf.cast(in_top, tf.float32) * valid)
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
        """One ``tf.function`` step: ``replica_step(x, y)`` on every replica, outputs summed."""

        @tf.function
        def step(batch):
            x, y = batch
            outputs = self.strategy.run(replica_step, args=(x, y))
            return [self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in outputs]

        return step

    def _evened(self, dataset, batches, pad: bool):
        """Several replicas: none may get an empty batch (oneDNN's CPU convolutions fail on one), so
        training drops the last partial batch and evaluation pads it with ignored all-zero rows."""
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

    def train_epoch(
        self, batches, epoch: int, bar: Callable | None = None, hooks=None
    ) -> dict[str, float]:
        """One pass over ``batches.epoch(epoch)``; returns the epoch's loss, accuracy and top-3."""
        totals = np.zeros(4)
        dataset = batches.epoch(epoch)
        workers = worker_count(self.strategy)  # several, and as many disk-cache shards: by file
        by_file = batches.sharded_files and workers > 1 and batches.files >= workers
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
        """Train up to ``epochs`` epochs with early stopping on val_loss, best (or, with ``use_ema``,
        averaged) weights kept; ``validation=None``: exactly ``epochs``, last weights. A
        ``checkpoint`` saves every epoch's state and resumes one with the same ``key``."""
        progress, best = Progress(), None
        if checkpoint is not None:  # the saved state when it matches the key and this model
            state = checkpoint.files.training_state
            weights = len(self.model.weights)
            progress, best = load_state(
                state, checkpoint.key, self._variables(), weights, log, checkpoint.write
            )
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
                save_state(checkpoint.files.training_state, self._variables(), progress, best)
                atomic.write_csv(checkpoint.files.history, pd.DataFrame(progress.history))
            if verbose:
                shown = " - ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "seconds")
                mark = " (best)" if progress.best_epoch == epoch else ""
                log(f"epoch {epoch + 1}/{epochs} - {logs['seconds']:.1f} s - {shown}{mark}")
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
        inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        return bool(getattr(inner, "use_ema", False))

    @contextlib.contextmanager
    def averaged_weights(self):
        """Inside the block the model holds the optimizer's moving average of its weights (with
        ``use_ema``): what validation scores and early stopping keeps; training goes on from the raw."""
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

    def _variables(self) -> dict[str, list]:
        groups = {"model": list(self.model.variables), "optimizer": list(self.optimizer.variables)}
        if self.augment is not None:
            groups["augment"] = list(self.augment.variables)
        return groups
