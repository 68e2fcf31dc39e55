"""Optimisation: pruning keeps the right weights, LiteRT variants agree with Keras, measurement is consistent."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.flops import totals
from helpers.loading import Batches
from helpers.models import build_model, build_untrained
from helpers.pruning import KeepPruned, nonzero_params, prune_magnitude, prune_structured
from helpers.variants import fine_tune

RNG = np.random.default_rng(0)


def array_batches(x, y, batch_size=16) -> Batches:
    """Arrays as the loaders' Batches (what the training loop reads)."""
    import tensorflow as tf

    return Batches(
        len(x),
        batch_size,
        lambda epoch: tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size),
    )


def zero_half_the_filters(model: keras.Model) -> None:
    """Zero the odd filters of every conv and the odd units of every hidden dense layer."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) or (
            isinstance(layer, keras.layers.Dense) and layer is not dense[-1]
        ):
            weights = layer.get_weights()
            weights[0][..., 1::2] = 0
            if len(weights) > 1:  # a bias (ours have none: batch norm follows each conv)
                weights[1][1::2] = 0
                weights[1][0::2] += 0.01
            layer.set_weights(weights)


@pytest.mark.parametrize("name", ["deepfashion_cnn", "baseline", "ours_tiny"])
def test_pruning_zero_filters_leaves_outputs_unchanged(name):
    shape = (40, 40, 3) if name == "deepfashion_cnn" else (28, 28, 1)
    model = build_model(name, shape, 5)
    zero_half_the_filters(model)
    pruned = prune_structured(model, 0.5)
    x = RNG.random((4, *shape)).astype("float32")
    # The removed filters were all zero, so the smaller model computes the same function.
    assert np.allclose(model.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-5)
    convs = [layer.filters for layer in pruned.layers if isinstance(layer, keras.layers.Conv2D)]
    original = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [f // 2 for f in original]


@pytest.mark.parametrize(
    "name",
    [
        "baseline",
        "classifier",
        "deeper",
        "fashion_cnn",
        "deepfashion_cnn",
        "baseline_bn",
        "ours_tiny",
        "ours",
    ],
)
def test_pruning_half_the_filters_cuts_flops_below_0_3(name):
    model = build_untrained(name)
    pruned = prune_structured(model, 0.5)
    assert totals(pruned)["flops"] <= 0.3 * totals(model)["flops"]
    assert pruned.output_shape == model.output_shape


def test_pruning_refuses_branched_models():
    with pytest.raises(NotImplementedError, match="chain model"):
        prune_structured(build_model("efficientnet_b0", (32, 32, 3), 3, weights=None), 0.5)


def test_pruning_a_sequential_chain_keeps_its_function():
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, use_bias=False),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    zero_half_the_filters(model)
    pruned = prune_structured(model, 0.5)
    x = RNG.random((4, 28, 28, 1)).astype("float32")
    assert np.allclose(model.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-5)
    assert [layer.filters for layer in pruned.layers if hasattr(layer, "filters")] == [4, 8]
    assert [layer.units for layer in pruned.layers if hasattr(layer, "units")] == [16, 5]


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called:UserWarning")
def test_pruning_refuses_nested_branched_and_subclassed_models_by_name():
    from keras_models import Chain, sequential_in_functional

    encoder = keras.Sequential([keras.layers.Conv2D(4, 3, name="enc_conv")], name="encoder")
    nested_chain = keras.Sequential(
        [keras.Input((8, 8, 3)), encoder, keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    with pytest.raises(NotImplementedError, match="encoder/enc_conv is inside the nested model"):
        prune_structured(nested_chain)
    with pytest.raises(NotImplementedError, match=r"chain model; input_layer(_\d+)? branches"):
        prune_structured(sequential_in_functional()[0])
    inputs = keras.Input((8, 8, 3))
    fork = keras.layers.Conv2D(4, 3, name="fork")(inputs)
    joined = keras.layers.Add()([keras.layers.Conv2D(4, 1)(fork), fork])
    with pytest.raises(NotImplementedError, match="chain model; fork branches"):
        prune_structured(keras.Model(inputs, keras.layers.Flatten()(joined)))
    subclassed = Chain(name="subclassed")
    subclassed.build((None, 28, 28, 1))
    with pytest.raises(NotImplementedError, match="subclassed"):
        prune_structured(subclassed)


def test_magnitude_pruning_keeps_its_zeros_while_fine_tuning():
    model = build_untrained("fashion_cnn")
    sparse, masks = prune_magnitude(model, 0.5)
    before = nonzero_params(sparse)
    assert before < 0.55 * model.count_params()
    x = RNG.random((32, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(RNG.integers(0, 10, 32), 10)
    batches = array_batches(x, y)
    fine_tune(sparse, batches, batches, epochs=1, callbacks=[KeepPruned(masks)])
    for layer in sparse.layers:
        if layer.name in masks:
            assert np.all(layer.kernel.numpy()[masks[layer.name] == 0] == 0)
    assert totals(sparse)["flops"] == totals(model)["flops"]  # dense kernels: same FLOPs
