"""python -m helpers.layer_table on any Keras model: Sequential files, nested and subclassed models,
layers no rule knows (listed with a note, never a crash), and bad files."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from keras_models import (
    Chain,
    chain,
    functional,
    functional_in_sequential,
    normalised,
    sequential_in_functional,
    with_unknown_layers,
)

from helpers.flops import layer_costs
from helpers.layer_table import format_totals, layer_table
from helpers.layer_table import main as layers_main

# Keras warns that Chain has no build() of its own: building it is what the trace does.
UNBUILT_STATE = "ignore:`build\\(\\)` was called:UserWarning"


def run_cli(path, csv, capsys) -> tuple[str, pd.DataFrame]:
    assert layers_main([str(path), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    return out[out.index("Total:") :], pd.read_csv(csv, keep_default_na=False)


@pytest.mark.parametrize("how", ["with Input", "built"])
def test_sequential_file_gives_the_functional_table(how, tmp_path, capsys):
    # The most common way to build a model: a Sequential saved to .keras. Its layers carry
    # several graph nodes after loading, which the first-node lookup used to trip over.
    if how == "built":
        sequential = keras.Sequential(chain(), name="chain")
        sequential.build((None, 28, 28, 1))
    else:
        sequential = keras.Sequential([keras.Input((28, 28, 1)), *chain()], name="chain")
    sequential.save(tmp_path / "sequential.keras")
    functional(
        (28, 28, 1),
        chain(),
    ).save(tmp_path / "functional.keras")
    seq_totals, seq_table = run_cli(tmp_path / "sequential.keras", tmp_path / "s.csv", capsys)
    fun_totals, fun_table = run_cli(tmp_path / "functional.keras", tmp_path / "f.csv", capsys)
    pd.testing.assert_frame_equal(normalised(seq_table), normalised(fun_table))
    assert seq_totals.replace("s.csv", "f.csv") == fun_totals
    assert normalised(seq_table)["layer"].tolist() == [
        "input",
        "conv2d",
        "batch_normalization",
        "max_pooling2d",
        "conv2d",
        "flatten",
        "dense",
    ]
    conv = seq_table[seq_table["type"] == "Conv2D"]
    assert conv["rf"].tolist() == ["3x3", "8x8"] and conv["macs"].iloc[0] == 26 * 26 * 8 * 9
    assert "not counted" not in seq_totals and (seq_table["note"] == "").sum() == 5


def test_nested_sequential_inside_functional_lists_its_layers(tmp_path, capsys):
    nested, flat = sequential_in_functional()
    table = layer_table(nested)
    assert table["layer"].tolist()[:3] == ["input_layer", "encoder/enc_conv", "encoder/enc_pool"]
    assert "encoder" not in set(table["layer"])  # the wrapper itself is no row: no double count
    assert table["params"].sum() == nested.count_params()
    by_name = normalised(table, strip_nesting=True).set_index("layer").sort_index()
    pd.testing.assert_frame_equal(
        by_name, normalised(layer_table(flat)).set_index("layer").sort_index()
    )
    # Fields flow through the encoder: 3x3 conv (4 with the 2x2 pool), head conv: 4 + 2 * 2.
    assert by_name.loc["add", "rf"] == "4x4" and by_name.loc["head", "rf"] == "8x8"
    nested.save(tmp_path / "nested.keras")
    totals, from_file = run_cli(tmp_path / "nested.keras", tmp_path / "n.csv", capsys)
    assert from_file["layer"].tolist() == table["layer"].tolist()
    assert from_file["flops"].sum() == table["flops"].sum() and "not counted" not in totals


def test_nested_functional_inside_sequential_lists_its_layers(tmp_path, capsys):
    nested, flat = functional_in_sequential()
    table = layer_table(nested)
    assert [n for n in table["layer"] if n.startswith("block/")] == [
        "block/res_conv",
        "block/res_bn",
        "block/res_add",
        "block/res_relu",
    ]
    pd.testing.assert_frame_equal(
        normalised(table, strip_nesting=True), normalised(layer_table(flat))
    )
    # The residual add joins the 3x3 stem (field 3) and the 3x3 conv after it (field 5).
    assert table.set_index("layer").loc["block/res_add", "rf"] == "5x5"
    nested.save(tmp_path / "nested.keras")
    _, from_file = run_cli(tmp_path / "nested.keras", tmp_path / "n.csv", capsys)
    assert from_file["layer"].tolist() == table["layer"].tolist()


@pytest.mark.filterwarnings(UNBUILT_STATE)
@pytest.mark.parametrize("how", ["build", "call"])
def test_subclassed_model_is_traced_to_the_functional_numbers(how):
    model = Chain(name="subclassed")
    if how == "build":
        model.build((None, 28, 28, 1))
    else:
        model(np.zeros((2, 28, 28, 1), "float32"))
    table = layer_table(model)
    pd.testing.assert_frame_equal(
        normalised(table), normalised(layer_table(functional((28, 28, 1), chain())))
    )
    assert table["params"].sum() == model.count_params()
    assert all("call" not in vars(layer) for layer in model.blocks)  # the trace left no wrapper


def test_subclassed_model_inside_a_functional_model_is_traced_in_place(tmp_path, capsys):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255, name="scale")(inputs)
    model = keras.Model(inputs, Chain(name="inner")(x))
    model.save(tmp_path / "wrapped.keras")
    totals, table = run_cli(tmp_path / "wrapped.keras", tmp_path / "w.csv", capsys)
    assert normalised(table)["layer"].tolist()[:3] == ["input", "scale", "inner/conv2d"]
    in_memory = layer_table(model).drop(index=1).reset_index(drop=True)  # without the scaling
    expected = normalised(layer_table(functional((28, 28, 1), chain())))
    pd.testing.assert_frame_equal(normalised(in_memory, strip_nesting=True), expected)
    assert table["rf"].tolist()[2:5] == ["3x3", "3x3", "4x4"] and "not counted" not in totals


@pytest.mark.filterwarnings(UNBUILT_STATE)
def test_subclassed_model_with_an_operation_between_layers_says_fields_are_unknown():
    model = Chain(double_after=2, name="doubling")  # x * 2 after the pooling
    model.build((None, 28, 28, 1))
    table = layer_table(model).set_index("layer")
    assert table["rf"].tolist()[:4] == ["1x1", "3x3", "3x3", "4x4"]
    after = table.iloc[4:]
    assert (after["rf"] == "").all() and (after["note"] == "receptive field unknown").all()
    assert after["macs"].iloc[0] == 7 * 7 * 16 * 9 * 8  # costs need only shapes: still counted
    line = format_totals(model, layer_table(model))
    assert "Receptive field unknown from:" in line and "Not counted" not in line


def test_layers_without_rules_are_listed_and_the_totals_say_so(tmp_path, capsys):
    with_unknown_layers().save(tmp_path / "unknowns.keras")
    totals, table = run_cli(tmp_path / "unknowns.keras", tmp_path / "u.csv", capsys)
    table = table.set_index("layer")
    assert table.loc["conv", "rf"] == "3x3" and table.loc["conv", "note"] == ""
    assert table.loc["blur", "note"] == "Blur: not counted; receptive field unknown"
    assert (
        table.loc["after_blur", "rf"] == "" and table.loc["after_blur", "macs"] == 12 * 12 * 4 * 36
    )
    assert table.loc["after_blur", "note"] == "receptive field unknown"
    assert table.loc["lstm", "note"] == "LSTM: not counted; receptive field unknown"
    assert "Not counted: 2 of 7 layers" in totals and "blur (Blur), lstm (LSTM)" in totals
    assert (
        "Receptive field unknown from: blur (Blur), after_blur (Conv2D), rows (Reshape)" in totals
    )


def test_costs_of_layers_with_open_sizes_are_not_guessed():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x))
    table = layer_table(model).set_index("layer")
    assert (
        table.loc["conv", "macs"] == 0
        and "not counted (shapes unknown)" in table.loc["conv", "note"]
    )
    assert table.loc["conv", "note"].endswith("receptive field unknown")  # 'same' needs the size
    assert layer_costs(model)["params"].sum() == model.count_params()


def test_a_torn_model_file_is_one_line_naming_it(tmp_path, capsys):
    good = tmp_path / "good.keras"
    functional((28, 28, 1), chain()).save(good)
    torn = tmp_path / "torn.keras"
    torn.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert layers_main([str(torn)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {torn}: cannot load a Keras model") and "\n" not in err
