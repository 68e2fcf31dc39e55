"""Small Keras models of every kind the per-layer tables must handle.

The same chain as a functional, a Sequential and a subclassed model; nested
models next to their flat equivalents (same layer names, so tables can be
compared row by row); and a model with layers the tables have no rule for.
"""

from __future__ import annotations

import re

import keras
import pandas as pd
from keras import layers


def chain() -> list[keras.layers.Layer]:
    """Conv, batch norm, pooling, strided 'same' conv, flatten, dense: auto-named."""
    return [
        layers.Conv2D(8, 3, activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", strides=2),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ]


def functional(shape, chain_layers: list, name: str = "chain") -> keras.Model:
    inputs = x = keras.Input(shape)
    for layer in chain_layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


@keras.saving.register_keras_serializable(package="tests")
class Chain(keras.Model):
    """A subclassed model calling its layers one after another (optionally doubling in between)."""

    def __init__(self, double_after: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.double_after = double_after
        self.blocks = chain()

    def call(self, x):
        for i, layer in enumerate(self.blocks):
            x = layer(x)
            if i == self.double_after:
                x = x * 2.0  # an operation outside any layer: what follows has no known field
        return x

    def get_config(self):
        return {**super().get_config(), "double_after": self.double_after}


def _encoder_layers():
    return [
        layers.Conv2D(8, 3, activation="relu", name="enc_conv"),
        layers.MaxPooling2D(name="enc_pool"),
    ]


def _encoder_head(x, side_input):
    side = layers.Conv2D(8, 3, strides=2, name="side")(side_input)
    x = layers.Add(name="add")([x, side])
    x = layers.Conv2D(8, 3, name="head")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return layers.Dense(3, name="out")(x)


def sequential_in_functional() -> tuple[keras.Model, keras.Model]:
    """A functional model with a Sequential ``encoder`` (built by the call) and its flat twin."""
    inputs = keras.Input((24, 24, 3))
    encoder = keras.Sequential(_encoder_layers(), name="encoder")
    nested = keras.Model(inputs, _encoder_head(encoder(inputs), inputs), name="nested")
    inputs = x = keras.Input((24, 24, 3))
    for layer in _encoder_layers():
        x = layer(x)
    return nested, keras.Model(inputs, _encoder_head(x, inputs), name="flat")


def _residual(x, prefix: str = ""):
    a = layers.Conv2D(8, 3, padding="same", name=f"{prefix}res_conv")(x)
    a = layers.BatchNormalization(name=f"{prefix}res_bn")(a)
    a = layers.Add(name=f"{prefix}res_add")([a, x])
    return layers.ReLU(name=f"{prefix}res_relu")(a)


def functional_in_sequential() -> tuple[keras.Model, keras.Model]:
    """A Sequential model holding a residual functional ``block``, and its flat twin."""
    block_input = keras.Input((18, 18, 8))
    block = keras.Model(block_input, _residual(block_input), name="block")
    head = [
        layers.MaxPooling2D(name="pool"),
        layers.Flatten(name="flat"),
        layers.Dense(4, name="out"),
    ]
    nested = keras.Sequential(
        [keras.Input((20, 20, 3)), layers.Conv2D(8, 3, name="stem"), block, *head], name="nested"
    )
    inputs = keras.Input((20, 20, 3))
    x = _residual(layers.Conv2D(8, 3, name="stem")(inputs))
    for layer in [
        layers.MaxPooling2D(name="pool"),
        layers.Flatten(name="flat"),
        layers.Dense(4, name="out"),
    ]:
        x = layer(x)
    return nested, keras.Model(inputs, x, name="flat")


@keras.saving.register_keras_serializable(package="tests")
class Blur(keras.layers.Layer):
    """A custom layer (a 3x3 mean): no cost or receptive-field rule knows it."""

    def call(self, x):
        return keras.ops.average_pool(x, 3, 1, "same")


def with_unknown_layers() -> keras.Model:
    """Conv, a custom Blur, conv, then an LSTM over the rows of the map, then dense."""
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, name="conv")(inputs)
    x = Blur(name="blur")(x)
    x = layers.Conv2D(4, 3, name="after_blur")(x)
    x = layers.Reshape((12, 48), name="rows")(x)
    x = layers.LSTM(5, name="lstm")(x)
    return keras.Model(inputs, layers.Dense(2, name="out")(x), name="unknowns")


def normalised(table: pd.DataFrame, strip_nesting: bool = False) -> pd.DataFrame:
    """A table with auto-numbered names (``conv2d_3`` -> ``conv2d``) made comparable, as strings."""
    table = table.copy()
    names = table["layer"].str.split("/").str[-1] if strip_nesting else table["layer"]
    table["layer"] = [
        "input" if kind == "InputLayer" else re.sub(r"_\d+$", "", name)
        for name, kind in zip(names, table["type"], strict=True)
    ]
    return table.astype(str).reset_index(drop=True)
