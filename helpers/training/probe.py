"""Head first, batch norm frozen: what a fine-tuning recipe does to a model before the loop trains it.

A random head's large gradients spoil a pretrained backbone's features, so the head is fitted
first (LP-FT, Kumar et al. 2022): a logistic regression on the frozen backbone's features, whose
coefficients *are* the Dense head. Frozen batch norm (in Keras 3 also inference mode) keeps the
ImageNet statistics that small batches would replace with noisy estimates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import keras
import numpy as np

from helpers.keras_graph import all_layers

if TYPE_CHECKING:
    from helpers.data import LabelSet
    from helpers.recipes import Recipe

HEAD = "predictions"
# The bias of a class the training split lacks: the regression never saw it, so never predict it.
ABSENT_BIAS = -30.0


def head_layer(model: keras.Model) -> keras.layers.Dense:
    """The model's Dense classifier: the layer named ``predictions``, else its last Dense layer."""
    try:
        return model.get_layer(HEAD)
    except ValueError:
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        if not dense:
            raise ValueError(f"{model.name}: no Dense head to fit") from None
        return dense[-1]


def feature_model(model: keras.Model) -> keras.Model:
    """The model up to its head's input: the pooled features the head classifies."""
    return keras.Model(model.inputs, head_layer(model).input, name=f"{model.name}_features")


def features(
    extract: keras.Model, labels: LabelSet, split: str, image_size: int, batch_size: int = 32
) -> np.ndarray:
    """``extract``'s features (``N x F``) of one split in table order, unaugmented, via tf.data."""
    import tensorflow as tf

    from helpers.loading import InputSpec, tf_batches
    from helpers.training.progress import epoch_progress

    batches = tf_batches(InputSpec(labels, image_size, batch_size), split, shuffle=False)
    call = tf.function(lambda x: extract(x, training=False), reduce_retracing=True)
    parts = []
    with epoch_progress(len(batches), f"{split} features", batch_size, True) as bar:
        for step, (x, _) in enumerate(batches):
            parts.append(call(x).numpy())
            if bar is not None:
                bar(step + 1, None)
    width = int(extract.output.shape[-1])
    return np.concatenate(parts) if parts else np.zeros((0, width), np.float32)


def fit_probe(x: np.ndarray, y: np.ndarray, classes: int, c: float = 1.0, seed: int = 0):
    """A multinomial logistic regression of class indices ``y`` on features ``x`` (L2, inverse
    strength ``c``), as a Dense layer's ``[kernel (F x classes), bias]``."""
    from sklearn.linear_model import LogisticRegression

    regression = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    regression.fit(x, y)
    kernel = np.zeros((x.shape[1], classes), np.float32)
    bias = np.full(classes, ABSENT_BIAS, np.float32)
    seen = regression.classes_.astype(int)
    coef, intercept = regression.coef_, regression.intercept_
    if len(seen) == 2:  # sklearn keeps one row for two classes: logit difference, split evenly
        coef = np.concatenate([-coef / 2, coef / 2])
        intercept = np.concatenate([-intercept / 2, intercept / 2])
    kernel[:, seen] = coef.T
    bias[seen] = intercept
    return [kernel, bias]


def set_head(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Put a probe's ``[kernel, bias]`` into the model's Dense head (which must be a softmax)."""
    head = head_layer(model)
    activation = keras.activations.serialize(head.activation)
    if activation not in ("softmax", "linear"):
        raise ValueError(f"{head.name}: a {activation} head cannot hold a logistic regression")
    head.set_weights(weights)


def freeze_batch_norm(model: keras.Model) -> int:
    """Freeze every batch-norm layer (nested models too); how many were frozen."""
    frozen = 0
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            frozen += 1
    return frozen


def prepare(
    model: keras.Model,
    recipe: Recipe,
    labels: LabelSet,
    image_size: int,
    batch_size: int = 32,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict:
    """Apply ``recipe``'s ``freeze_batch_norm`` and ``probe_head`` to a freshly built model (before
    its optimizer); what was done, for ``training.json``."""
    done: dict = {}
    if recipe.freeze_batch_norm:
        done["batch_norm_frozen"] = freeze_batch_norm(model)
        log(f"batch norm: {done['batch_norm_frozen']} layers frozen (inference mode, stats kept)")
    if recipe.probe_head:
        started = time.perf_counter()
        x = features(feature_model(model), labels, "train", image_size, batch_size)
        y = labels.split("train")["label"].map({c: i for i, c in enumerate(labels.classes)})
        set_head(model, fit_probe(x, y.to_numpy(), len(labels.classes), recipe.probe_c, seed))
        done["probe_seconds"] = round(time.perf_counter() - started, 1)
        log(
            f"head: logistic regression (C={recipe.probe_c:g}) on {len(x)} training images' "
            f"frozen features, {done['probe_seconds']:.0f} s"
        )
    return done
