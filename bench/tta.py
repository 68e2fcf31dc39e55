"""Horizontal-flip test-time augmentation as part of the model, so every tool counts its cost.

In training the wrapped model is the trunk (one pass); in inference it averages the trunk's
probabilities for the image and its mirror image, so FLOP tables and LiteRT conversion see both
passes. Used by the screens' ``tta=True`` option (``bench/screens.py``).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bench")
class FlipAveraged(keras.Model):
    """The trunk in training; the mean of its predictions for ``x`` and ``flip(x)`` in inference."""

    def __init__(self, trunk: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.trunk = trunk

    def call(self, inputs, training=None):
        if training:
            return self.trunk(inputs, training=True)
        mirrored = ops.flip(inputs, axis=2)  # NHWC: axis 2 is the width
        return (self.trunk(inputs, training=False) + self.trunk(mirrored, training=False)) * 0.5

    def get_config(self):
        return {**super().get_config(), "trunk": keras.saving.serialize_keras_object(self.trunk)}

    @classmethod
    def from_config(cls, config):
        config = {**config, "trunk": keras.saving.deserialize_keras_object(config["trunk"])}
        return cls(**config)


def flip_tta(trunk: keras.Model, name: str | None = None) -> keras.Model:
    """A functional model (same input and output shapes as ``trunk``) around :class:`FlipAveraged`."""
    inputs = keras.Input(trunk.input_shape[1:])
    outputs = FlipAveraged(trunk, name="flip_tta")(inputs)
    return keras.Model(inputs, outputs, name=name or trunk.name)
