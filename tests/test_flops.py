"""FLOPs/MACs: hand-computed layers, TensorFlow's profiler, and published totals."""

from __future__ import annotations

import keras
import pytest

from helpers.flops import compare_with_profiler, layer_costs, most_expensive, totals, zoo_table
from helpers.layer_table import layer_table
from helpers.layer_table import main as layers_main
from helpers.models import NATURAL_INPUTS, build_model, build_untrained


def test_seed_models_true_costs():
    # The original summaries used the wrong input channels (47.8 and 178 MFLOPs); these are 2 x MACs.
    baseline = 28 * 28 * 32 * 25 + 14 * 14 * 64 * 25 * 32 + 3136 * 1024 + 1024 * 10
    assert totals(build_untrained("baseline"))["flops"] == 2 * baseline == 27_767_808
    assert totals(build_untrained("classifier"))["flops"] == 2 * baseline
    deeper = (
        28 * 28 * 64 * 9
        + 26 * 26 * 64 * 9 * 64
        + 13 * 13 * 128 * 9 * 64
        + 11 * 11 * 128 * 9 * 128
        + 5 * 5 * 256 * 9 * 128
        + 3 * 3 * 256 * 9 * 256
        + 256 * 1024
        + 1024 * 512
        + 512 * 10
    )
    assert totals(build_untrained("deeper"))["flops"] == 2 * deeper == 138_293_248
    fashion_cnn = 28 * 28 * 32 * 9 + 12 * 12 * 64 * 9 * 32 + 2304 * 600 + 600 * 120 + 120 * 10
    assert totals(build_untrained("fashion_cnn"))["flops"] == 2 * fashion_cnn == 8_671_200
    assert totals(build_untrained("deepfashion_cnn"))["macs"] == 614_461_824


def test_first_conv_by_hand():
    table = layer_costs(build_untrained("deepfashion_cnn")).set_index("layer")
    # 254 x 254 outputs x 32 filters x (3 x 3 x 3) weights each.
    assert table.loc["conv2d", "macs"] == 254 * 254 * 32 * 27
    assert table.loc["conv2d", "flops"] == 2 * 254 * 254 * 32 * 27
    assert table.loc["conv2d", "other_ops"] == 2 * 254 * 254 * 32  # bias + ReLU
    assert table.loc["max_pooling2d", "other_ops"] == 127 * 127 * 32 * 3
    assert table.loc["dense", "macs"] == 30 * 30 * 128 * 46
    assert table["share"].sum() == pytest.approx(1.0, abs=1e-3)


def test_depthwise_and_separable_by_hand():
    inputs = keras.Input((10, 10, 8))
    d = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="d")(inputs)
    s = keras.layers.SeparableConv2D(16, 3, name="s")(d)
    table = layer_costs(keras.Model(inputs, s)).set_index("layer")
    assert table.loc["d", "macs"] == 10 * 10 * 8 * 9
    assert table.loc["s", "macs"] == 8 * 8 * 8 * 9 + 8 * 8 * 16 * 8


@pytest.mark.parametrize("name", sorted(NATURAL_INPUTS))
def test_every_conv_and_dense_layer_matches_tensorflow_profiler(name):
    comparison = compare_with_profiler(build_untrained(name))
    assert len(comparison) > 0 and comparison["match"].all(), comparison[
        ~comparison["match"]
    ].to_string()


def test_sequential_and_nested_models_match_tensorflow_profiler():
    from keras_models import chain, functional_in_sequential, sequential_in_functional

    models = [
        keras.Sequential([keras.Input((28, 28, 1)), *chain()]),
        sequential_in_functional()[0],
        functional_in_sequential()[0],
    ]
    for model in models:
        comparison = compare_with_profiler(model)
        assert comparison["match"].all(), comparison.to_string()
        assert len(comparison) == (layer_costs(model)["macs"] > 0).sum()
    assert {"encoder/enc_conv", "side", "head", "out"} <= set(
        compare_with_profiler(models[1])["layer"]
    )
    assert "block/res_conv" in set(compare_with_profiler(models[2])["layer"])


@pytest.mark.parametrize(
    ("name", "published_gmacs"), [("vgg16", 15.5), ("densenet121", 2.87), ("efficientnet_b0", 0.39)]
)
def test_published_totals_at_224(name, published_gmacs):
    model = build_model(name, (224, 224, 3), 1000, weights=None)
    assert totals(model)["macs"] / 1e9 == pytest.approx(published_gmacs, rel=0.03)


def test_most_expensive_ranks_by_flops():
    ranked = most_expensive(layer_costs(build_untrained("deepfashion_cnn")), top=2)
    assert ranked["layer"].tolist() == ["conv2d_1", "conv2d_2"]
    assert ranked["cumulative_share"].iloc[-1] == pytest.approx(0.9007, abs=1e-3)


def test_zoo_table_has_every_model():
    table = zoo_table(["baseline", "fashion_cnn"])
    assert table["model"].tolist() == ["baseline", "fashion_cnn"]
    assert table.loc[0, "MFLOPs"] == pytest.approx(27.77, abs=0.01) and table.loc[0, "file_MB"] > 13


def test_layer_table_joins_costs_and_fields():
    table = layer_table(build_untrained("fashion_cnn")).set_index("layer")
    assert {"params", "macs", "flops", "rf", "jump_h"} <= set(table.columns)
    conv = table[table["type"] == "Conv2D"]
    assert conv["rf"].tolist() == ["3x3", "8x8"]


def test_layers_cli_zoo_and_file(tmp_path, capsys):
    csv = tmp_path / "layers.csv"
    assert (
        layers_main(
            [
                "--zoo",
                "deepfashion_cnn",
                "--input-shape",
                "64,64,3",
                "--classes",
                "5",
                "--csv",
                str(csv),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "FLOPs = 2 x MACs" in out and "Total:" in out
    import pandas as pd

    table = pd.read_csv(csv, keep_default_na=False)
    assert {"layer", "type", "output_shape", "params", "macs", "flops", "rf"} <= set(table.columns)
    assert table.set_index("layer").loc["flatten", "rf"] == ""
    model_path = tmp_path / "m.keras"
    build_untrained("fashion_cnn").save(model_path)
    assert layers_main([str(model_path)]) == 0
    assert "8,671,200 FLOPs" in capsys.readouterr().out
    assert layers_main([str(tmp_path / "missing.keras")]) == 2
    (tmp_path / "bad.keras").write_text("not a model")
    assert layers_main([str(tmp_path / "bad.keras")]) == 2
    assert "bad.keras" in capsys.readouterr().err
