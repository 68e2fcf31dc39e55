"""The ImageNet input conventions as one serialisable Keras layer, inside every backbone model.

Every zoo model takes [0, 1] RGB images; a backbone carries its own ImageNet
preprocessing as this layer, so a saved model needs no outside code but this
module (registered as ``helpers>ImageNetPreprocess``).
"""

from __future__ import annotations

import keras
from keras import layers

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="helpers")
class ImageNetPreprocess(layers.Layer):
    """[0, 1] RGB images to what an ImageNet backbone expects.

    ``caffe`` (VGG16): BGR, 0-255, mean subtracted; ``torch`` (DenseNet):
    ImageNet mean/std; ``raw255`` (EfficientNet, which normalises inside): 0-255;
    ``lite`` (EfficientNet-Lite0, :mod:`helpers.lite0`): ``(x * 255 - 127) / 128``.
    """

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in {"caffe", "torch", "raw255", "lite"}:
            raise ValueError(f"unknown preprocessing mode {mode!r}")
        self.mode = mode

    def call(self, inputs):
        if self.mode == "raw255":
            return inputs * 255.0
        if self.mode == "lite":
            return (inputs * 255.0 - 127.0) / 128.0
        if self.mode == "torch":
            return (inputs - keras.ops.array(IMAGENET_MEAN)) / keras.ops.array(IMAGENET_STD)
        bgr = keras.ops.flip(inputs, axis=-1) * 255.0
        return bgr - keras.ops.array(CAFFE_MEAN_BGR)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
