"""The command-line faces: python -m helpers.labels and python -m helpers.sample."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
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


def test_sample_cli_is_reproducible(tmp_path, fashion_mnist_dir, capsys):
    args = ["--images", "60", "--seed", "1", "--fashion-mnist", str(fashion_mnist_dir)]
    assert sample_cli.main([str(tmp_path / "a"), *args]) == 0
    assert sample_cli.main([str(tmp_path / "b"), *args]) == 0
    digests = [line for line in capsys.readouterr().out.splitlines() if line.startswith("sha256")]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert (tmp_path / "a/Anno/list_category_img.txt").read_text().splitlines()[0] == "60"


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
