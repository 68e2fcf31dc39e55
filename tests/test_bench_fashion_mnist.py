"""The Fashion-MNIST benchmark's bookkeeping: what a resumed run keeps, retrains and reports."""

from __future__ import annotations

import pandas as pd
import pytest
from fixtures import load_bench

from helpers.models import build_model
from helpers.recipes import recipe


@pytest.fixture(scope="module")
def bench():
    return load_bench("fashion_mnist")


def run(model, seed, epochs, params, accuracy=0.9, seconds=100.0, how=None):
    return {
        "recipe": how or recipe(model).description,
        "model": model,
        "source": "ours" if model.startswith("ours") else "seed",
        "seed": seed,
        "epochs": epochs,
        "params": params,
        "macs": 1,
        "MFLOPs": 1.0,
        "train_seconds": seconds,
        "test_accuracy": accuracy,
        "int8_accuracy": accuracy,
        "int8_latency_ms": 0.1,
    }


def test_pending_skips_finished_runs_at_the_requested_epochs(bench):
    epochs = {"ours_tiny": 30, "classifier": 30}
    done = [run("ours_tiny", 0, 30, 1), run("classifier", 0, 20, 1)]
    assert bench.pending(["ours_tiny", "classifier"], 2, epochs, done) == [
        ("classifier", 0),  # done at 20 epochs, 30 asked
        ("ours_tiny", 1),
        ("classifier", 1),
    ]


def test_runs_of_a_changed_architecture_are_dropped(bench, capsys):
    tiny = build_model("ours_tiny", (28, 28, 1), 10).count_params()
    fashion = build_model("fashion_cnn", (28, 28, 1), 10).count_params()
    runs = pd.DataFrame(
        [
            run("ours_tiny", 0, 30, tiny),
            run("ours_tiny", 1, 30, tiny + 8),
            run("fashion_cnn", 0, 5, fashion),
        ]
    )
    kept = bench.current_runs(runs)
    assert [(r["model"], r["seed"]) for r in kept] == [("ours_tiny", 0), ("fashion_cnn", 0)]
    assert "Dropping the runs of ours_tiny" in capsys.readouterr().out


def test_runs_of_another_recipe_are_dropped_unless_it_is_asked_for(bench, capsys):
    tiny = build_model("ours_tiny", (28, 28, 1), 10).count_params()
    other = recipe("ours_tiny", "flip+wd0.05+erase+ls0.1").description
    runs = pd.DataFrame([run("ours_tiny", 0, 30, tiny), run("ours_tiny", 1, 30, tiny, how=other)])
    assert [r["seed"] for r in bench.current_runs(runs)] == [0]
    assert f"its recipe is now {recipe('ours_tiny').description!r}" in capsys.readouterr().out
    assert [
        r["seed"] for r in bench.current_runs(runs, {"ours_tiny": "flip+wd0.05+erase+ls0.1"})
    ] == [1]


def test_summary_averages_seeds_and_times_against_the_classifier(bench):
    runs = pd.DataFrame(
        [
            run("classifier", 0, 30, 5, accuracy=0.92, seconds=200.0),
            run("ours_tiny", 0, 30, 7, accuracy=0.93, seconds=100.0),
            run("ours_tiny", 1, 30, 7, accuracy=0.95, seconds=300.0),
        ]
    )
    table = bench.summarise(runs).set_index("model")
    assert table.loc["ours_tiny", "test_accuracy"] == pytest.approx(0.94)
    assert table.loc["ours_tiny", "seeds"] == 2
    assert table.loc["ours_tiny", "accuracy_std"] == pytest.approx(0.0141, abs=1e-4)
    assert table.loc["ours_tiny", "time_vs_classifier"] == pytest.approx(1.0)
    assert table.loc["classifier", "claimed_accuracy"] == pytest.approx(0.925)


def test_time_ratios_come_from_the_timing_pass_when_it_has_the_model(bench):
    runs = pd.DataFrame(
        [
            run("classifier", 0, 30, 5, seconds=200.0),
            run("ours_tiny", 0, 30, 7, seconds=100.0),
            run("fashion_cnn", 0, 5, 9, seconds=50.0),
        ]
    )
    timing = pd.DataFrame(
        {"model": ["classifier", "ours_tiny"], "epochs": [30, 30], "time_vs_classifier": [1.0, 0.4]}
    )
    table = bench.summarise(runs, timing).set_index("model")
    assert table.loc["ours_tiny", "time_vs_classifier"] == pytest.approx(0.4)
    assert table.loc["ours_tiny", "time_source"] == "timing pass"
    assert table.loc["fashion_cnn", "time_vs_classifier"] == pytest.approx(0.25)  # its own runs
    assert table.loc["fashion_cnn", "time_source"] == "runs"


def test_screens_are_chosen_by_pattern_and_not_repeated():
    screens = load_bench("screens")

    assert screens.select(["tiny/ls*"]) == ["tiny/ls0.1", "tiny/ls0.2"]
    assert screens.select(["tiny/sgd", "tiny/ls*", "tiny/ls0.1"]) == [
        "tiny/sgd", "tiny/ls0.1", "tiny/ls0.2",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="no screen matches"):
        screens.select(["tiny/nothing"])
    done = [{"screen": "tiny/ls0.1", "epochs": 8, "seed": 0}]
    assert screens.screened(done, "tiny/ls0.1", 8, 0)
    assert not screens.screened(done, "tiny/ls0.1", 8, 1)
    assert not screens.screened(done, "tiny/ls0.1", 10, 0)
    for screen in screens.SCREENS.values():  # every screen names a known model and recipe
        recipe(screen.model, screen.recipe)
        options = {k: v for k, v in screen.options.items() if k != "tta"}  # bench/tta.py
        build_model(screen.model, (28, 28, 1), 10, **options)


def test_appended_rows_are_kept_and_widen_the_table(tmp_path):
    from helpers import atomic

    path = tmp_path / "runs.csv"
    atomic.append_csv_row(path, {"model": "a", "seed": 0})
    frame = atomic.append_csv_row(path, {"model": "b", "seed": 1, "threads": 2})
    assert frame["model"].tolist() == ["a", "b"] and list(frame.columns) == [
        "model",
        "seed",
        "threads",
    ]
    assert pd.read_csv(path)["model"].tolist() == ["a", "b"]


def test_each_recipe_keeps_its_own_model_file(bench):
    chosen, other = recipe("ours").description, recipe("ours", "flip+wd0.05+erase").description
    assert bench.model_path("ours", 30, 0, chosen) != bench.model_path("ours", 30, 0, other)
    assert bench.model_path("ours", 30, 0, chosen) == bench.model_path("ours", 30, 0, chosen)


def test_runs_files_without_a_recipe_column_are_all_retrained(bench):
    tiny = build_model("ours_tiny", (28, 28, 1), 10).count_params()
    runs = pd.DataFrame([run("ours_tiny", 0, 30, tiny)]).drop(columns="recipe")
    assert bench.current_runs(runs) == []


@pytest.mark.parametrize("given", ["ours", "ours=nope", "classifier=flip"])
def test_a_wrong_recipe_option_is_one_line(bench, given, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--models", "ours", "--recipe", given])
    assert stop.value.code == 2 and "--recipe" in capsys.readouterr().err


def test_flip_tta_is_part_of_the_model_and_counted(tmp_path):
    import keras
    import numpy as np

    bench_tta = load_bench("tta")

    from helpers.flops import totals

    plain = build_model("ours_tiny", (28, 28, 1), 10, units=16)
    tta = bench_tta.flip_tta(build_model("ours_tiny", (28, 28, 1), 10, units=16))
    trunk = tta.get_layer("flip_tta").trunk
    assert trunk is not tta
    assert tta.count_params() == plain.count_params() == trunk.count_params()
    assert totals(tta)["flops"] == 2 * totals(plain)["flops"]  # two inference passes
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    mirrored = (trunk(x, training=False) + trunk(x[:, :, ::-1], training=False)).numpy() / 2
    np.testing.assert_allclose(tta(x, training=False).numpy(), mirrored, atol=1e-6)
    assert not np.allclose(tta(x, training=False).numpy(), trunk(x, training=False).numpy())
    tta.save(tmp_path / "tta.keras")
    again = keras.models.load_model(tmp_path / "tta.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), mirrored, atol=1e-6)
    trunk.get_layer("dropout1").rate = 0.0  # training: the trunk once (deterministic here)
    trunk.get_layer("dropout2").rate = 0.0
    np.testing.assert_allclose(
        tta(x, training=True).numpy(), trunk(x, training=True).numpy(), atol=1e-6
    )
