"""The model zoo, ``name -> builder(input_shape, num_classes, **options)``: tutorial CNNs, our
family, keras.applications backbones and EfficientNet-Lite0/1/2. Every model takes [0, 1] images
(a backbone's ImageNet scaling is a ``Rescaling`` layer inside it, so plain Keras loads it).
"""

from collections.abc import Callable
from functools import partial
from pathlib import Path

import keras
from keras import layers

from helpers.efficientnet_lite import VARIANTS, classifier

Builder = Callable[..., keras.Model]
MODELS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Add a builder to the zoo under ``name``."""
    return lambda builder: MODELS.setdefault(name, builder)


def build_model(
    name: str, input_shape: tuple[int, int, int], num_classes: int, **options
) -> keras.Model:
    """Build the zoo model ``name`` for ``input_shape`` (H, W, C) and ``num_classes``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; the zoo has {sorted(MODELS)}")
    return MODELS[name](tuple(input_shape), num_classes, **options)


@register("baseline")
def baseline(input_shape, num_classes, dropout: float = 0.0, name: str = "baseline") -> keras.Model:
    """Two 5x5 'same' convs with max-pooling, a 1024-unit dense layer, softmax."""
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
    return keras.Model(inputs, _softmax(num_classes, "output_layer")(x), name=name)


@register("classifier")
def baseline_dropout(input_shape, num_classes) -> keras.Model:
    """``baseline`` with dropout 0.5 before and after its dense layer (zoo name ``classifier``)."""
    return baseline(input_shape, num_classes, dropout=0.5, name="classifier")


@register("deeper")
def deeper(input_shape, num_classes, weight_decay: float = 1e-4) -> keras.Model:
    """Three blocks of two 3x3 conv-BN ('same' then 'valid') with pooling, two dense layers."""
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
    return keras.Model(inputs, _softmax(num_classes, "output_layer")(x), name="deeper")


@register("deepfashion_cnn")
def deepfashion_cnn(input_shape, num_classes) -> keras.Model:
    """The DeepFashion CNN: three 3x3 ReLU convs (32, 64, 128) with 2x2 pooling, softmax."""
    inputs = x = keras.Input(input_shape)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, _softmax(num_classes)(x), name="deepfashion_cnn")


@register("fashion_cnn")
def fashion_cnn(input_shape, num_classes) -> keras.Model:
    """PyTorch's FashionCNN: two conv-BN-ReLU-pool blocks, FC 600, dropout 0.25, FC 120."""
    inputs = x = keras.Input(input_shape)
    for filters, padding in ((32, "same"), (64, "valid")):
        x = layers.Conv2D(filters, 3, padding=padding)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(600)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Dense(120)(x)
    return keras.Model(inputs, _softmax(num_classes)(x), name="fashion_cnn")


@register("baseline_bn")
def baseline_bn(input_shape, num_classes, filters=(128, 128, 64), units: int = 64) -> keras.Model:
    """Three conv + batch-norm + max-pool blocks, one dense layer, softmax."""
    inputs = x = keras.Input(input_shape)
    for n in filters:
        x = layers.Conv2D(n, 3, activation="relu")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(units, activation="relu")(x)
    return keras.Model(inputs, _softmax(num_classes)(x), name="baseline_bn")


def _softmax(num_classes: int, name: str | None = None) -> layers.Dense:
    """The softmax output layer, float32 under mixed precision."""
    return layers.Dense(num_classes, activation="softmax", name=name, dtype="float32")


def _conv_bn_relu(x, filters: int, name: str, bn_momentum: float = 0.99):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def ours_family(
    input_shape, num_classes, stages=((24,), (48,), (64,)), units: int = 128, dropout: float = 0.3,
    name: str = "ours", bn_momentum: float = 0.99, head: str = "flatten",
) -> keras.Model:  # fmt: skip
    """Our batch-norm CNN: stages (their conv widths) of 3x3 conv-BN-ReLU with a 2x2 max-pool
    between, flatten (``head="gap"``: global pooling), a hidden dense layer (none if ``units=0``),
    softmax, dropout before each dense layer."""
    if head not in {"flatten", "gap"}:
        raise ValueError(f"head must be 'flatten' or 'gap', got {head!r}")
    inputs = x = keras.Input(input_shape)
    for stage, widths in enumerate(stages, start=1):
        if stage > 1:
            x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        for conv, filters in enumerate(widths, start=1):
            x = _conv_bn_relu(x, filters, f"stage{stage}_conv{conv}", bn_momentum)
    x = (
        layers.GlobalAveragePooling2D(name="pool")(x)
        if head == "gap"
        else layers.Flatten(name="flatten")(x)
    )
    if dropout:
        x = layers.Dropout(dropout, name="dropout1")(x)
    if units:
        x = layers.Dense(units, activation="relu", name="dense")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout2")(x)
    return keras.Model(inputs, _softmax(num_classes, "predictions")(x), name=name)


@register("ours_tiny")
def ours_tiny(input_shape, num_classes, **options) -> keras.Model:
    """Our family at 7.9 MFLOPs per Fashion-MNIST image (``options`` override its shape)."""
    shape = {"stages": ((24,), (48,), (64,)), "units": 128, "name": "ours_tiny"}
    return ours_family(input_shape, num_classes, **{**shape, **options})


@register("ours")
def ours(input_shape, num_classes, **options) -> keras.Model:
    """Our family at 27.1 MFLOPs per Fashion-MNIST image (``options`` override its shape)."""
    shape = {"stages": ((32,), (64,), (96, 128)), "units": 256, "name": "ours"}
    return ours_family(input_shape, num_classes, **{**shape, **options})


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Each backbone's ImageNet input, from [0, 1] RGB, as Rescaling(scale, offset): EfficientNet
# normalises inside (0-255); DenseNet takes torch's mean/std; VGG16 caffe's 0-255 minus the mean
# pixel, in BGR (the first convolution's input channels are reversed instead, see below).
BACKBONES = {
    "efficientnet_b0": (keras.applications.EfficientNetB0, 255.0, 0.0),
    "vgg16": (keras.applications.VGG16, 255.0, [-123.68, -116.779, -103.939]),
    "densenet121": (
        keras.applications.DenseNet121,
        [1 / s for s in IMAGENET_STD],
        [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)],
    ),
}


def backbone_classifier(
    name: str, input_shape, num_classes: int, weights="imagenet", fine_tune=False, dropout=0.2
) -> keras.Model:
    """A keras.applications backbone (global average pooled, frozen unless ``fine_tune``) with a
    new dropout + softmax head; random weights, said so, where Keras cannot load ImageNet's."""
    application, scale, offset = BACKBONES[name]
    inputs = keras.Input(input_shape)
    x = layers.Rescaling(scale, offset, name="imagenet_preprocess")(inputs)
    why = None
    if weights and input_shape[-1] != 3:
        why, weights = f"ImageNet weights need 3 input channels, got {input_shape[-1]}", None
    try:
        backbone = application(include_top=False, weights=weights, input_tensor=x, pooling="avg")
    except Exception as err:  # no cache and no network, or a corrupt download
        why, weights = f"could not load ImageNet weights ({type(err).__name__}: {err})", None
        backbone = application(include_top=False, weights=None, input_tensor=x, pooling="avg")
    if why:
        print(f"{name}: {why}; using random init")
    if weights:
        print(
            f"{name}: ImageNet weights loaded; backbone {'fine-tuned' if fine_tune else 'frozen'}"
        )
        for layer in backbone.layers:
            layer.trainable = fine_tune
        if name == "vgg16":  # its weights read BGR: reverse the first kernel's input channels
            conv = backbone.get_layer("block1_conv1")
            kernel, bias = conv.get_weights()
            conv.set_weights([kernel[:, :, ::-1, :], bias])
    x = layers.Dropout(dropout)(backbone.output)
    return keras.Model(inputs, _softmax(num_classes, "predictions")(x), name=name)


def efficientnet_lite(name: str, input_shape, num_classes, **options) -> keras.Model:
    """EfficientNet-Lite0/1/2 with offline ImageNet weights (:mod:`helpers.efficientnet_lite`)."""
    return classifier(name, input_shape, num_classes, **options)


# Zoo models whose builders take ``weights=None`` (random init, nothing downloaded or converted).
PRETRAINED = {*BACKBONES, *VARIANTS}

for _name in BACKBONES:
    register(_name)(partial(backbone_classifier, _name))
for _name in VARIANTS:
    register(_name)(partial(efficientnet_lite, _name))


# Each zoo model's natural input and class count: what it was designed and first trained for.
_SMALL, _PHOTO = ((28, 28, 1), 10), ((224, 224, 3), 46)
NATURAL_INPUTS: dict[str, tuple[tuple[int, int, int], int]] = {
    **dict.fromkeys(
        ("baseline", "classifier", "deeper", "fashion_cnn", "ours_tiny", "ours"), _SMALL
    ),
    "deepfashion_cnn": ((256, 256, 3), 46),
    "baseline_bn": ((224, 224, 3), 17),
    **dict.fromkeys(("efficientnet_b0", "vgg16", "densenet121"), _PHOTO),
    **{name: ((v.resolution, v.resolution, 3), 46) for name, v in VARIANTS.items()},
}


def build_untrained(name: str, input_shape=None, num_classes: int | None = None) -> keras.Model:
    """A zoo model with initial weights (no ImageNet weights), by default at its natural input."""
    shape, classes = NATURAL_INPUTS[name] if input_shape is None else (input_shape, num_classes)
    return build_model(name, shape, classes, **({"weights": None} if name in PRETRAINED else {}))


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
        why = "a .keras file is a zip archive and this is not one (torn or mislabelled?)"
        raise ModelFileError(path, f"not a Keras model: {why}")
    try:
        return keras.models.load_model(path)
    except Exception as err:  # Keras raises many types for a bad archive or an unknown layer
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(path, f"cannot load it as a Keras model ({first})") from None
