"""Fine-tuning's preparation: the head fitted first on frozen features, batch norm frozen."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest
from fixtures import write_image

from helpers.data.folders import label_folders
from helpers.loading import InputSpec, tf_batches
from helpers.training import Trainer, recipe
from helpers.training.probe import feature_model, fit_probe, freeze_batch_norm, prepare

COLOURS = {"red": (220, 30, 30), "green": (30, 220, 30), "blue": (30, 30, 220)}


def _colour_folders(root, per_split=(6, 2, 2)):
    """``root/{train,val,test}/<colour>/*.jpg``: a class per dominant colour, shades varying."""
    for split, count in zip(("train", "val", "test"), per_split, strict=True):
        for name, colour in COLOURS.items():
            for i in range(count):
                shade = tuple(max(0, c - 9 * i) for c in colour)
                write_image(root / split / name / f"{name}{i}.jpg", color=shade, size=(20, 20))
    return root


def _pooled_model(classes: int = 3, batch_norm: bool = False) -> keras.Model:
    """16x16 RGB -> (batch norm) -> mean colour -> random Dense ``predictions`` head."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.BatchNormalization(name="bn")(inputs) if batch_norm else inputs
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def test_fit_probe_gives_a_dense_head_that_classifies_separable_features():
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]])
    y = np.repeat(np.arange(3), 30)
    x = centres[y] + rng.normal(0, 0.5, (90, 3))
    kernel, bias = fit_probe(x, y, classes=4)  # class 3 never seen in training
    assert kernel.shape == (3, 4) and bias.shape == (4,)
    logits = x @ kernel + bias
    assert (logits.argmax(axis=1) == y).mean() == 1.0
    assert (logits[:, 3] < logits[:, :3].min(axis=1)).all()  # the absent class is never predicted


def test_fit_probe_with_two_classes_matches_the_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    x = rng.normal(0, 1, (40, 2)) + y[:, None] * 3
    kernel, bias = fit_probe(x, y, classes=2)
    logits = x @ kernel + bias
    probability = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    expected = LogisticRegression(max_iter=2000).fit(x, y).predict_proba(x)[:, 1]
    np.testing.assert_allclose(probability, expected, atol=1e-5)


def test_prepare_probes_the_head_on_the_training_split(tmp_path):
    labels = label_folders(_colour_folders(tmp_path / "colours"))
    model = _pooled_model(len(labels.classes))
    head = model.get_layer("predictions")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])  # predicts nothing
    how = replace(recipe("efficientnet_lite0"), probe_c=100.0)
    done = prepare(model, how, labels, image_size=16, batch_size=4, log=lambda _: None)
    assert "probe_seconds" in done and "batch_norm_frozen" in done
    test = tf_batches(InputSpec(labels, 16, 8), "test", shuffle=False)
    x, y = (
        np.concatenate(parts)
        for parts in zip(*[(a.numpy(), b.numpy()) for a, b in test], strict=True)
    )
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    assert (predicted == y.argmax(axis=1)).mean() == 1.0


def test_frozen_batch_norm_keeps_its_statistics_through_a_fit(tmp_path):
    import tensorflow as tf

    from helpers.loading import Batches

    model = _pooled_model(batch_norm=True)
    bn = model.get_layer("bn")
    before = [w.copy() for w in bn.get_weights()]
    assert freeze_batch_norm(model) == 1
    trainer = Trainer(model, keras.optimizers.Adam(1e-2))
    assert bn.trainable is False
    assert all("bn" not in v.path for v in model.trainable_variables)
    rng = np.random.default_rng(0)
    x = rng.random((8, 16, 16, 3)).astype(np.float32) * 5 + 3  # far from the initial statistics
    y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    batches = Batches(8, 4, lambda e: tf.data.Dataset.from_tensor_slices((x, y)).batch(4))
    head_before = model.get_layer("predictions").get_weights()[0].copy()
    trainer.fit(batches, None, epochs=2, verbose=0)
    for kept, now in zip(before, bn.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, now)
    assert not np.allclose(head_before, model.get_layer("predictions").get_weights()[0])


def test_an_unfrozen_batch_norm_moves_its_statistics(tmp_path):
    """The control for the test above: the same fit without freezing changes the moving mean."""
    import tensorflow as tf

    from helpers.loading import Batches

    model = _pooled_model(batch_norm=True)
    bn = model.get_layer("bn")
    mean_before = bn.moving_mean.numpy().copy()
    trainer = Trainer(model, keras.optimizers.Adam(1e-2))
    x = np.full((8, 16, 16, 3), 4.0, np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    batches = Batches(8, 4, lambda e: tf.data.Dataset.from_tensor_slices((x, y)).batch(4))
    trainer.fit(batches, None, epochs=1, verbose=0)
    assert not np.allclose(mean_before, bn.moving_mean.numpy())


def test_feature_model_ends_at_the_heads_input():
    model = _pooled_model()
    assert feature_model(model).output_shape == (None, 3)


def test_the_finetune_recipe_is_lite0s_and_says_what_it_does():
    how = recipe("efficientnet_lite0")
    assert how.probe_head and how.freeze_batch_norm and how.augment.crop_area
    assert how.description.startswith("finetune: head first")
    seed = recipe("deepfashion_cnn")
    assert not seed.probe_head and not seed.freeze_batch_norm


def test_a_head_that_is_not_softmax_is_refused():
    inputs = keras.Input((3,))
    model = keras.Model(
        inputs, keras.layers.Dense(2, activation="sigmoid", name="predictions")(inputs)
    )
    from helpers.training.probe import set_head

    with pytest.raises(ValueError, match="sigmoid"):
        set_head(model, [np.zeros((3, 2)), np.zeros(2)])
