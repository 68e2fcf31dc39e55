"""How one layer call turns its inputs' receptive fields into its output's, per axis, for kernel
``k``, dilation ``d``, stride ``s``, top/left padding ``p``, ``k_eff = d (k - 1) + 1``:
``r_out = r + (k_eff - 1) j``, ``j_out = j s``, ``start_out = start + ((k_eff - 1) / 2 - p) j``.
"""

from dataclasses import dataclass

from helpers.keras_graph import Step

KERNEL_LAYERS = ("Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D")
POOL_LAYERS = ("MaxPooling2D", "AveragePooling2D")
FLATTENING = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dense", "Reshape")
# The receptive-field columns of a per-layer table (helpers.layer_table joins them to the cost columns).
FIELD_COLUMNS = ["rf", "rf_h", "rf_w", "jump_h", "jump_w", "start_h", "start_w", "note"]
MERGES = ("Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract")
# Layers that act on each pixel alone (at inference): the field passes through unchanged.
POINTWISE = frozenset(
    {
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
        "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "Identity",
        "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
        "ActivityRegularization", "Rescaling", "Normalization",
        "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomShear",
        "RandomContrast", "RandomBrightness",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Axis:
    """Receptive field along one axis: size ``r``, jump ``j``, centre of unit 0 ``start``."""

    r: float
    j: float
    start: float

    lo = property(lambda self: self.start - (self.r - 1) / 2)
    hi = property(lambda self: self.start + (self.r - 1) / 2)


@dataclass(frozen=True)
class Field:
    """A layer's receptive field (None axes: undefined; ``known`` False: no rule could tell)."""

    h: Axis | None
    w: Axis | None
    global_context: bool = False
    known: bool = True

    @property
    def defined(self) -> bool:
        return self.h is not None and self.w is not None


UNDEFINED = Field(None, None)
UNKNOWN = Field(None, None, known=False)
ONE_PIXEL = Field(Axis(1, 1, 0), Axis(1, 1, 0))


def spatial(shape) -> tuple[int, int] | None:
    return (shape[1], shape[2]) if len(shape) == 4 else None


def _through_window(field: Field, step: Step, kernel, strides, dilation, padding) -> Field:
    sizes = list(zip(spatial(step.input_shapes[0]), spatial(step.output_shape), strict=True))
    if padding == "same" and any(None in pair for pair in sizes):
        return UNKNOWN  # where 'same' pads depends on sizes this model leaves open
    axes = []
    for axis, k, s, d, (n_in, n_out) in zip(
        (field.h, field.w), kernel, strides, dilation, sizes, strict=True
    ):
        k_eff = d * (k - 1) + 1
        # TensorFlow's 'same' pads half of the total at the top/left, the odd pixel bottom/right
        pad = max((n_out - 1) * s + k_eff - n_in, 0) // 2 if padding == "same" else 0
        start = axis.start + ((k_eff - 1) / 2 - pad) * axis.j
        axes.append(Axis(axis.r + (k_eff - 1) * axis.j, axis.j * s, start))
    return Field(axes[0], axes[1], field.global_context)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _shifted(field: Field, top: int, left: int) -> Field:
    """Padding (negative shift) or cropping moves where unit 0 sits."""
    h, w = field.h, field.w
    return Field(
        Axis(h.r, h.j, h.start + top * h.j),
        Axis(w.r, w.j, w.start + left * w.j),
        field.global_context,
    )


def layer_field(step: Step, inputs: list[Field]) -> Field:
    """The receptive field of one layer call's output from the fields of its inputs."""
    layer, kind, out = step.layer, step.kind, step.output_shape
    if not inputs or out is None or any(not f.known for f in inputs):
        return UNKNOWN
    if kind in MERGES:
        if kind == "Concatenate" and getattr(layer, "axis", -1) not in (-1, len(out) - 1):
            return UNKNOWN  # joined along a spatial axis: not a union of fields
        return _merge(inputs)
    if len(inputs) != 1:
        return UNKNOWN
    (field,) = inputs
    if kind == "Dense" and spatial(out) is not None:
        return field  # on a feature map Dense mixes channels only: a 1x1 convolution
    if kind in FLATTENING or not field.defined:
        return UNDEFINED
    if kind in POOL_LAYERS:
        windows = map(_pair, (layer.pool_size, layer.strides, 1))
        return _through_window(field, step, *windows, layer.padding)
    if kind in KERNEL_LAYERS and spatial(out) is not None:
        windows = map(_pair, (layer.kernel_size, layer.strides, layer.dilation_rate))
        return _through_window(field, step, *windows, layer.padding)
    if kind == "ZeroPadding2D":
        (top, _), (left, _) = layer.padding
        return _shifted(field, -top, -left)
    if kind == "Cropping2D":
        (top, _), (left, _) = layer.cropping
        return _shifted(field, top, left)
    if kind in POINTWISE and spatial(step.input_shapes[0]) == spatial(out):
        return field
    return UNKNOWN


def _merge(inputs: list[Field]) -> Field:
    defined = [f for f in inputs if f.defined]
    if not defined:
        return UNDEFINED
    global_context = len(defined) < len(inputs) or any(f.global_context for f in inputs)
    axes = []
    for name in ("h", "w"):
        parts = [getattr(f, name) for f in defined]
        if len({p.j for p in parts}) > 1:
            return UNKNOWN  # units of the inputs sit on different grids: no single (r, j, start)
        lo, hi = min(p.lo for p in parts), max(p.hi for p in parts)
        axes.append(Axis(hi - lo + 1, parts[0].j, (lo + hi) / 2))
    return Field(axes[0], axes[1], global_context)


def flow(steps: list[Step]) -> tuple[dict[str, Field], dict[int, Field]]:
    """Fields along the steps: by step path, and by tensor key (unknown where no step wrote it)."""
    by_path: dict[str, Field] = {}
    by_key: dict[int, Field] = {}
    for step in steps:
        inputs = [by_key.get(key, UNKNOWN) for key in step.inputs]
        field = ONE_PIXEL if step.kind == "InputLayer" and not inputs else layer_field(step, inputs)
        by_key.update(dict.fromkeys(step.outputs, field))
        by_path[step.path] = field
    return by_path, by_key
