"""Receptive fields: hand-checked recurrences, and analytic = empirical (input gradients) for every zoo model."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from helpers.models import NATURAL_INPUTS, build_untrained
from helpers.receptive_field import (
    check_analytic_against_empirical,
    deepest_fitting_layer,
    last_spatial_layer,
    receptive_field_table,
    receptive_fields,
)


def test_deepfashion_cnn_field_grows_with_strides():
    # The DeepFashion CNN's source claimed 10x10 by ignoring the pooling strides; the field is 22x22.
    model = build_untrained("deepfashion_cnn")
    table = receptive_field_table(model).set_index("layer")
    assert table["rf_h"].dropna().tolist() == [1, 3, 4, 8, 10, 18, 22]
    assert table["jump_h"].dropna().tolist() == [1, 1, 2, 2, 4, 4, 8]
    assert table.loc["flatten", "rf"] == "" and table.loc["flatten", "note"] == "undefined (global)"


def test_stride_dilation_same_padding_and_asymmetric_kernels():
    inputs = keras.Input((33, 40, 1))
    a = layers.Conv2D(1, (3, 5), strides=2, padding="same", name="a")(inputs)
    b = layers.Conv2D(1, 3, dilation_rate=2, name="b")(a)
    c = layers.AveragePooling2D(3, strides=2, padding="same", name="c")(b)
    d = layers.DepthwiseConv2D(3, name="d")(c)
    e = layers.SeparableConv2D(1, 3, name="e")(d)
    fields = receptive_fields(keras.Model(inputs, e))
    assert (fields["a"].h.r, fields["a"].w.r, fields["a"].h.j) == (3, 5, 2)
    # 'same', stride 2: 33 rows -> 17, padded 16*2+3-33 = 2 in total, 1 on top: centre of unit 0 at row 0;
    # 40 columns -> 20, padded 19*2+5-40 = 3, 1 on the left: centre at column (5-1)/2 - 1 = 1.
    assert (fields["a"].h.start, fields["a"].w.start) == (0, 1)
    assert fields["b"].h.r == 3 + 4 * 2  # dilation 2: effective kernel 5
    assert fields["c"].h.j == 4 and fields["c"].h.r == 11 + 2 * 2
    assert fields["d"].h.r == 15 + 2 * 4 and fields["e"].h.r == 23 + 2 * 4


def test_merge_takes_the_largest_field_and_global_branches_are_flagged():
    inputs = keras.Input((32, 32, 3))
    small = layers.Conv2D(4, 1, name="small")(inputs)
    large = layers.Conv2D(4, 7, padding="same", name="large")(inputs)
    added = layers.Add(name="added")([small, large])
    squeeze = layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(added)
    excite = layers.Conv2D(4, 1, activation="sigmoid", name="excite")(squeeze)
    scaled = layers.Multiply(name="scaled")([added, excite])
    fields = receptive_fields(keras.Model(inputs, scaled))
    assert fields["added"].h.r == 7 and not fields["added"].global_context
    assert not fields["squeeze"].defined and not fields["excite"].defined
    assert fields["scaled"].h.r == 7 and fields["scaled"].global_context


ZOO = sorted(NATURAL_INPUTS)


@pytest.mark.parametrize("name", ZOO)
def test_analytic_equals_empirical_for_every_zoo_model(name):
    model = build_untrained(name)
    check = check_analytic_against_empirical(model)
    assert check["match"].all(), check.to_string()
    assert last_spatial_layer(model) in set(check["layer"])


def test_deeper_model_fits_its_whole_field_in_a_larger_image():
    # At 28x28 the deeper model's 36-pixel field is clipped; at 64x64 it fits and still matches.
    from helpers.models import build_model

    model = build_model("deeper", (64, 64, 1), 10)
    assert deepest_fitting_layer(model) == last_spatial_layer(model)
    check = check_analytic_against_empirical(model)
    assert check["match"].all() and check["empirical_rf"].iloc[-1] == "36x36"


def test_corner_unit_box_matches_gradient_support():
    from helpers.receptive_field import empirical_field, unit_box

    model = build_untrained("fashion_cnn")
    name = last_spatial_layer(model)
    assert (
        tuple(round(v) for v in unit_box(model, name, (0, 0)))
        == empirical_field(model, name, (0, 0))[2]
    )


def test_gradient_check_on_sequential_and_nested_models():
    from keras_models import chain, functional_in_sequential, sequential_in_functional

    from helpers.receptive_field import empirical_field, unit_box

    sequential = keras.Sequential([keras.Input((32, 32, 3)), *chain()])
    check = check_analytic_against_empirical(sequential)
    assert check["match"].all() and check["empirical_rf"].tolist() == ["8x8"]
    for model, inner in [
        (sequential_in_functional()[0], ["encoder/enc_conv", "encoder/enc_pool", "add", "head"]),
        (functional_in_sequential()[0], ["stem", "block/res_conv", "block/res_add", "pool"]),
    ]:
        check = check_analytic_against_empirical(model, inner)
        assert check["match"].all(), check.to_string()
        assert (
            tuple(round(v) for v in unit_box(model, inner[1], (0, 0)))
            == empirical_field(model, inner[1], (0, 0))[2]
        )


def test_layers_without_rules_make_fields_unknown_not_guessed():
    from keras_models import with_unknown_layers

    fields = receptive_fields(with_unknown_layers())
    assert fields["conv"].h.r == 3
    assert not fields["blur"].known and not fields["after_blur"].known
    assert not fields["lstm"].known and not fields["out"].known
    inputs = keras.Input((16, 16, 3))
    up = layers.UpSampling2D(name="up")(layers.Conv2D(2, 3, name="c")(inputs))
    side = layers.Conv2D(2, 3, name="side")(layers.Cropping2D(((0, 2), (0, 2)))(inputs))
    joined = layers.Concatenate(axis=1, name="rows")([side, side])
    fields = receptive_fields(keras.Model(inputs, [up, joined]))
    assert not fields["up"].known  # changes the spatial shape: no rule, no number
    assert not fields["rows"].known  # joined along height, not channels: not a union of fields
