"""helpers.keras_graph: one walk over any model, and the only module reading Keras internals."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from keras_models import Chain, chain, functional_in_sequential, sequential_in_functional

import helpers
from helpers.flops import layer_costs
from helpers.keras_graph import evaluate, input_shape, walk

PRIVATE = re.compile(r"\._inbound_nodes|_keras_history|_outbound_nodes|_flatten_layers")


def test_private_keras_access_lives_in_keras_graph_only():
    # Keras 3 has no public API for a layer's inbound tensors: one module may read its internals.
    package = Path(helpers.__file__).parent
    offenders = {
        str(path.relative_to(package.parent))
        for path in package.rglob("*.py")
        if PRIVATE.search(path.read_text())
    }
    assert offenders == {"helpers/keras_graph.py"}


def test_walk_of_a_loaded_sequential_model_follows_its_graph(tmp_path):
    keras.Sequential([keras.Input((28, 28, 1)), *chain()]).save(tmp_path / "m.keras")
    model = keras.models.load_model(tmp_path / "m.keras")
    steps = walk(model)
    assert [s.kind for s in steps] == [
        "InputLayer",
        "Conv2D",
        "BatchNormalization",
        "MaxPooling2D",
        "Conv2D",
        "Flatten",
        "Dense",
    ]
    for before, after in itertools.pairwise(steps):
        assert after.inputs == before.outputs  # a chain: each reads what the one before wrote
    assert steps[3].input_shapes == ((None, 26, 26, 8),) and steps[3].output_shape == (
        None,
        13,
        13,
        8,
    )
    assert input_shape(model) == (None, 28, 28, 1)


def test_walk_flattens_nested_models_and_evaluate_runs_through_them():
    nested, _ = sequential_in_functional()
    steps = {s.path: s for s in walk(nested)}
    # The encoder's first layer reads the outer input; the add reads the encoder's last output.
    assert steps["encoder/enc_conv"].inputs == steps["input_layer"].outputs
    assert steps["add"].inputs == (*steps["encoder/enc_pool"].outputs, *steps["side"].outputs)
    x = np.random.default_rng(0).random((1, 24, 24, 3)).astype("float32")
    values = evaluate(nested, x, ["encoder/enc_pool", "out"])
    encoder = nested.get_layer("encoder")
    assert np.allclose(values["encoder/enc_pool"], encoder(x), atol=1e-6)
    assert np.allclose(values["out"], nested(x), atol=1e-6)
    sequential, _ = functional_in_sequential()
    x = np.random.default_rng(1).random((1, 20, 20, 3)).astype("float32")
    assert np.allclose(evaluate(sequential, x, ["out"])["out"], sequential(x), atol=1e-5)
    with pytest.raises(KeyError, match="no layer"):
        evaluate(sequential, x, ["missing"])


def test_a_shared_layer_is_one_step_per_call_with_its_weights_counted_once():
    inputs = keras.Input((10, 10, 4))
    shared = keras.layers.Conv2D(4, 3, padding="same", name="shared")
    outputs = shared(keras.layers.ReLU(name="relu")(shared(inputs)))
    model = keras.Model(inputs, outputs)
    table = layer_costs(model).set_index("layer")
    assert list(table.index) == ["input_layer", "shared", "relu", "shared#2"]
    assert table.loc["shared", "macs"] == table.loc["shared#2", "macs"] == 10 * 10 * 4 * 36
    assert table["params"].sum() == model.count_params() == 4 * 36 + 4


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called:UserWarning")
def test_a_subclassed_model_is_traced_and_left_as_it_was():
    model = Chain(double_after=1, name="traced")
    model.build((None, 12, 12, 3))
    steps = walk(model)
    assert [s.path for s in steps][:3] == ["input", *(layer.name for layer in model.blocks[:2])]
    assert steps[2].output_shape == (None, 10, 10, 8)
    written = {key for step in steps for key in step.outputs}
    assert steps[3].inputs[0] not in written  # x * 2 made a tensor no layer wrote
    assert steps[4].inputs == steps[3].outputs
    assert all("call" not in vars(layer) for layer in model.blocks)
    with pytest.raises(NotImplementedError, match="not in a functional graph"):
        evaluate(model, np.zeros((1, 12, 12, 3), "float32"), [steps[1].path])


def test_an_unbuilt_subclassed_model_is_refused_clearly():
    with pytest.raises(ValueError, match="not built"):
        walk(Chain(name="unbuilt"))
