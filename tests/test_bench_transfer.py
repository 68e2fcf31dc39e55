"""bench/transfer.py: its linear probe on a tiny generated folder dataset, its table and last line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixtures import load_bench, write_image

from helpers.data.folders import label_folders

LAST_LINE = re.compile(
    r"^best (grouped|published): lite[012] fine-tuned \d+\.\d% test( \(published \d+\.\d%\))? "
    r"at \d+\.\d\d GFLOPs in \d+\.\d min; int8 \d+\.\dx float$"
)


@pytest.fixture(scope="module")
def transfer():
    return load_bench("transfer")


def _photos(root: Path) -> Path:
    """``root/{train,validation,test}/<class>/*.jpg``: two classes of plainly different colour."""
    for split, count in (("train", 6), ("validation", 2), ("test", 2)):
        for name, colour in (("shirt", (230, 40, 40)), ("pants", (30, 40, 220))):
            for i in range(count):
                write_image(
                    root / split / name / f"{name}{i}.jpg", (colour[0], 30 + 8 * i, colour[2])
                )
    return root


def test_the_probe_row_table_and_last_line(tmp_path, monkeypatch, transfer):
    monkeypatch.setattr(transfer, "CACHE", tmp_path / "cache")
    labels = label_folders(_photos(tmp_path / "photos"))
    probed = transfer.probe(labels, "efficientnet_lite1")
    assert probed["val"] == 1.0 and probed["test"] == 1.0  # two colours: ImageNet features suffice
    assert probed["c"] in transfer.PROBE_C and probed["train_seconds"] > 0
    cached = list((tmp_path / "cache").glob("features-efficientnet_lite1-crop240-*.npz"))
    assert len(cached) == 1  # at Lite1's own resolution, cached for the next run
    again = transfer.probe(labels, "efficientnet_lite1")
    assert again["test"] == probed["test"]
    fine = {"val": 0.9312, "test": 0.9355, "test_std": 0.0061, "mflops": 797.4,
            "train_seconds": 720.0, "float_ms": 12.0, "int8_ms": 5.0, "int8_test": 0.93}  # fmt: skip
    scratch = {"val": 0.61, "test": 0.6102, "mflops": 1530.0, "train_seconds": 1800.0,
               "float_ms": 9.0, "int8_ms": 8.0, "int8_test": 0.6}  # fmt: skip
    rows = [
        transfer.table_row("scratch", "published", scratch),
        transfer.table_row("probe", "published", probed, fine["mflops"]),
        transfer.table_row("fine", "published", fine),
    ]
    table = transfer.format_table(rows).splitlines()
    assert table[0].split("|")[1].strip() == "model" and len(table) == 2 + len(rows)
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert cells[2] == [
        "fine",
        "published",
        "93.1%",
        "93.5% ± 0.6",
        "797",
        "12.0",
        "12.00",
        "5.00",
        "93.0%",
    ]
    assert cells[1][2:6] == ["100.0%", "100.0%", "797", f"{probed['train_seconds'] / 60:.1f}"]
    assert cells[1][6:] == ["-", "-", "-"]  # the probe's latency is the fine-tuned model's
    # best: chosen on grouped validation (lite2's better test does not count), published beside
    worse = {**fine, "val": 0.90, "test": 0.97, "mflops": 1600.0}
    results = {("grouped", "fine", "lite1"): fine, ("grouped", "fine", "lite2"): worse,
               ("published", "fine", "lite1"): {**fine, "test": 0.941},
               ("published", "fine", "lite2"): {**worse, "val": 0.99}}  # fmt: skip
    line = transfer.last_line(results)
    assert line == (
        "best grouped: lite1 fine-tuned 93.5% test (published 94.1%) at 0.80 GFLOPs in 12.0 min; "
        "int8 2.4x float"
    )
    assert LAST_LINE.match(line)
    published_only = {k: v for k, v in results.items() if k[0] == "published"}
    assert transfer.last_line(published_only).startswith("best published: lite2 fine-tuned 97.0%")
    assert LAST_LINE.match(transfer.last_line(published_only)).group(2) is None


def test_the_cpu_is_named_with_its_int8_instructions(transfer):
    described = transfer.cpu_description()
    assert "int8" in described and "(" in described


def test_cache_folders_differ_by_settings(transfer):
    one = transfer.key_folder("efficientnet_lite0", {"epochs": 1})
    assert one == transfer.key_folder("efficientnet_lite0", {"epochs": 1})
    assert one != transfer.key_folder("efficientnet_lite0", {"epochs": 2})


def test_the_fastai_row_is_trained_once_per_settings(tmp_path, monkeypatch, transfer):
    """The fastai row (stand-in trainer: fastai is optional) is cached by its plan and split."""
    import argparse

    monkeypatch.setattr(transfer, "CACHE", tmp_path / "cache")
    calls = []

    def fake_fine_tune(labels, plan):
        calls.append(plan)
        return {"val": 0.9, "test": 0.91, "train_seconds": 600.0, "mflops": 790.0,
                "fastai": "2.8", "torch": "2.14"}  # fmt: skip

    monkeypatch.setattr(transfer.fastai_transfer, "fine_tune", fake_fine_tune)
    monkeypatch.setattr(transfer.fastai_transfer, "versions", lambda: {"fastai": "2.8"})
    labels = label_folders(_photos(tmp_path / "photos"))
    args = argparse.Namespace(epochs=3, batch_size=32, seed=42)
    first = transfer.fastai_row(args, labels)
    assert transfer.fastai_row(args, labels) == first and len(calls) == 1
    assert calls[0].epochs == 3 and calls[0].image_size == 224
    transfer.fastai_row(argparse.Namespace(epochs=4, batch_size=32, seed=42), labels)
    assert len(calls) == 2  # other settings: trained afresh
    row = transfer.table_row("fastai", "published", first)
    assert [row["test"], row["MFLOPs"], row["train min"], row["int8 ms"]] == [
        "91.0%",
        "790",
        "10.0",
        "-",
    ]


def test_a_screen_of_the_chosen_recipe_is_the_reports_run(tmp_path, transfer):
    import argparse

    from helpers.run import model_key

    args = argparse.Namespace(data_dir=_photos(tmp_path / "photos"), groups=None, max_images=None,
                              batch_size=32, seed=42)  # fmt: skip
    lite1 = transfer.MODELS["lite1"]
    chosen = transfer.run_settings(args, "published", lite1, 240, 3, "finetune")
    report = transfer.run_settings(args, "published", lite1, 240, 3)
    other = transfer.run_settings(args, "published", lite1, 240, 3, "photo")
    assert model_key(chosen) == model_key(report) != model_key(other)
    seeded = transfer.run_settings(args, "published", lite1, 240, 3, seed=43)
    assert seeded.seed == 43 and model_key(seeded) != model_key(report)


def test_seeds_are_averaged_and_latency_measured_once(monkeypatch, transfer):
    import argparse

    calls = []

    def fake_trained(settings, labels, latency=True):
        calls.append((settings.model, settings.image_size, settings.seed, latency))
        test = {42: 0.90, 43: 0.92, 44: 0.94}[settings.seed]
        timing = {"mflops": 600.0, "float_ms": 9.0, "int8_ms": 4.0} if latency else {}
        return {"val": test - 0.01, "test": test, "train_seconds": 60.0 * settings.seed,
                "epoch_seconds": [1.0], "recipe": "finetune", **timing}  # fmt: skip

    monkeypatch.setattr(transfer, "trained", fake_trained)
    args = argparse.Namespace(data_dir=Path("/x"), groups=None, max_images=None, batch_size=32,
                              seed=42, seeds=[42, 43, 44], epochs=3, image_size=None)  # fmt: skip
    done = transfer.fine_tuned(args, "published", "efficientnet_lite2", lambda s: None)
    assert [c[1:] for c in calls] == [(260, 42, True), (260, 43, False), (260, 44, False)]
    assert done["test"] == pytest.approx(0.92) and done["test_std"] == pytest.approx(0.02)
    assert done["val"] == pytest.approx(0.91) and done["train_seconds"] == pytest.approx(60 * 43)
    assert done["mflops"] == 600.0 and done["seeds"] == 3 and done["tests"] == [0.90, 0.92, 0.94]


def test_unknown_models_and_bad_seeds_are_one_line_errors(transfer, capsys):
    for argv, problem in ((["--models", "lite0,lite9"], "unknown models ['lite9']"),
                          (["--seeds", "42,x"], "--seeds: comma-separated integers")):  # fmt: skip
        with pytest.raises(SystemExit) as caught:
            transfer.main(argv)
        assert caught.value.code == 2 and problem in capsys.readouterr().err
