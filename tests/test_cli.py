"""The command-line faces: python -m helpers.labels and python -m helpers.sample."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from fixtures import DISAGREES, EMPTY, GOOD

from helpers import labels as labels_cli
from helpers import sample as sample_cli
from helpers.paths import PROJECT_ROOT


def test_labels_cli_writes_table_and_prints_report(deepfashion_tree, tmp_path, capsys):
    out = tmp_path / "out" / "labels.csv"
    assert (
        labels_cli.main(
            [
                str(deepfashion_tree),
                "--dataset",
                "deepfashion",
                "--out",
                str(out),
                "--source",
                "folders",
                "--report",
                str(tmp_path / "report.csv"),
            ]
        )
        == 0
    )
    table = pd.read_csv(out)
    assert table.columns.tolist() == ["path", "label", "split"]
    assert set(p for p, _ in GOOD) <= set(table["path"])
    assert table.set_index("path").loc[DISAGREES, "label"] == "Sweater"
    printed = capsys.readouterr().out
    assert "empty-file" in printed and "label-disagreement" in printed and EMPTY in printed
    assert (tmp_path / "report.csv").exists()


def test_labels_cli_annotations_source(deepfashion_tree, tmp_path):
    out = tmp_path / "labels.csv"
    assert (
        labels_cli.main([str(deepfashion_tree), "--out", str(out), "--source", "annotations"]) == 0
    )
    assert pd.read_csv(out).set_index("path").loc[DISAGREES, "label"] == "Cardigan"


def test_labels_cli_kaggle_datasets(product_images, clothing_full, tmp_path):
    out = tmp_path / "p.csv"
    assert (
        labels_cli.main(
            [
                str(product_images),
                "--dataset",
                "product_images",
                "--out",
                str(out),
                "--min-images",
                "2",
            ]
        )
        == 0
    )
    assert sorted(pd.read_csv(out)["label"].unique()) == ["Jeans", "Tshirts"]
    assert (
        labels_cli.main([str(clothing_full), "--dataset", "clothing_full", "--out", str(out)]) == 0
    )
    assert "Skip" not in set(pd.read_csv(out)["label"])


def test_labels_cli_error_names_the_folder(tmp_path, capsys):
    assert labels_cli.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["photos", "fashion_mnist"])
def test_sample_cli_is_reproducible(tmp_path, fashion_mnist_dir, capsys, source):
    args = ["--images", "60", "--seed", "1"]
    if source == "fashion_mnist":
        args += ["--fashion-mnist", str(fashion_mnist_dir)]
    assert sample_cli.main([str(tmp_path / "a"), *args]) == 0
    assert sample_cli.main([str(tmp_path / "b"), *args]) == 0
    digests = [line for line in capsys.readouterr().out.splitlines() if line.startswith("sha256")]
    assert len(digests) == 2 and digests[0] == digests[1]
    listed = int((tmp_path / "a/Anno/list_category_img.txt").read_text().splitlines()[0])
    assert abs(listed - 60) <= 2  # the photo sample keeps each class's share, rounded


def test_modules_run_as_commands(deepfashion_tree, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers.labels",
            str(deepfashion_tree),
            "--out",
            str(tmp_path / "l.csv"),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Wrote" in result.stdout and (tmp_path / "l.csv").exists()


def test_labels_cli_refuses_a_tree_with_nothing_usable(tmp_path, capsys):
    folder = tmp_path / "bad" / "img" / "Broken_Tee"
    folder.mkdir(parents=True)
    (folder / "img_00000001.jpg").write_bytes(b"")
    (folder / "img_00000002.jpg").write_text("not an image")
    out = tmp_path / "labels.csv"
    assert labels_cli.main([str(tmp_path / "bad"), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1]
        == f"error: {tmp_path / 'bad'}: no usable image: every row was skipped (1 empty-file, 1 not-an-image)"
    )
    assert not out.exists()  # no 0-row table written


def test_predict_names_a_bad_model_file_and_a_decompression_bomb(tmp_path, capsys):
    import json

    from fixtures import colour_model
    from test_images import bomb_png

    from helpers.predict import main as predict_main

    not_a_model = tmp_path / "model.keras"
    not_a_model.write_text("hello")
    image = tmp_path / "x.png"
    image.write_bytes(bomb_png())
    assert predict_main([str(not_a_model), str(image)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {not_a_model}: not a Keras model: a .keras file is a zip archive and this is not "
        "one (torn or mislabelled?)"
    )
    model_path = tmp_path / "real.keras"
    colour_model().save(model_path)
    (tmp_path / "classes.json").write_text('{"not": "a list"}')
    assert predict_main([str(model_path), str(image)]) == 2
    assert "classes.json: not a JSON list of class names" in capsys.readouterr().err
    (tmp_path / "classes.json").write_text(json.dumps(["Red", "Green", "Blue"]))
    good = tmp_path / "good.png"
    from PIL import Image

    Image.new("RGB", (16, 16), (0, 0, 250)).save(good)
    assert predict_main([str(model_path), str(image), str(good)]) == 1  # the bomb, then the rest
    out, err = capsys.readouterr()
    assert f"{image}: claims 100000x100000 pixels" in err and f"{good}: Blue" in out


def test_series_labels_and_trains_on_a_messy_tree_without_a_traceback(tmp_path, deepfashion_tree):
    """The messy tree (empty, truncated, non-image, hidden, stray files; CMYK, RGBA) through 01 and 03."""
    from helpers.series import main as series_main

    status = series_main([
        "--only", "01", "03", "--heartbeat", "0",
        "-p", "dataset", "deepfashion", "-p", "data_dir", str(deepfashion_tree),
        "-p", "run_dir", str(tmp_path / "run"), "-p", "image_size", "32", "-p", "epochs", "1",
        "-p", "batch_size", "4",
    ])  # fmt: skip
    assert status == 0
    report = pd.read_csv(tmp_path / "run" / "label_report.csv")
    assert {"empty-file", "corrupt-image", "not-an-image"} <= set(report["issue"])
    assert (tmp_path / "run" / "model.keras").exists()


def test_labels_cli_output_that_cannot_be_written_is_one_line(deepfashion_tree, tmp_path, capsys):
    assert labels_cli.main([str(deepfashion_tree), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path}: is a folder: give a file name"]  # before any work


def test_train_cli_interrupted_says_how_to_resume(monkeypatch, capsys, tmp_path, fashion_mnist_dir):
    from helpers import train
    from helpers.run import Run

    def interrupted(self, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "train", interrupted)
    status = train.main([
        "--profile", "quick", "--run-dir", str(tmp_path / "run"), "-p", "dataset", "fashion_mnist",
        "-p", "data_dir", str(fashion_mnist_dir), "-p", "image_size", "28",
    ])  # fmt: skip
    assert status == 130
    assert capsys.readouterr().err.strip() == (
        "interrupted: the last finished epoch is saved; run the same command to resume"
    )
    assert train.main(["--run-dir", "/proc/no-such-run"]) == 2
    assert "cannot be written" in capsys.readouterr().err
