"""bench/transfer.py: its linear probe on a tiny generated folder dataset, its table and last line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixtures import load_bench, write_image

from helpers.data.folders import label_folders

LAST_LINE = re.compile(
    r"^lite0 fine-tuned \d+\.\d% test at \d+\.\d\d GFLOPs in \d+\.\d min; "
    r"from scratch (\d+\.\d%|skipped); int8 \d+\.\dx float$"
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
    probed = transfer.probe(labels)
    assert probed["val"] == 1.0 and probed["test"] == 1.0  # two colours: ImageNet features suffice
    assert probed["c"] in transfer.PROBE_C and probed["train_seconds"] > 0
    assert list((tmp_path / "cache").glob("features-224-*.npz"))  # cached for the next run
    again = transfer.probe(labels)
    assert again["test"] == probed["test"]
    fine = {"val": 0.9312, "test": 0.9355, "mflops": 797.4, "train_seconds": 720.0,
            "float_ms": 12.0, "int8_ms": 5.0, "int8_test": 0.93}  # fmt: skip
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
        "93.5%",
        "797",
        "12.0",
        "12.00",
        "5.00",
        "93.0%",
    ]
    assert cells[1][2:6] == ["100.0%", "100.0%", "797", f"{probed['train_seconds'] / 60:.1f}"]
    assert cells[1][6:] == ["-", "-", "-"]  # the probe's latency is the fine-tuned model's
    line = transfer.last_line(fine, scratch)
    assert line == (
        "lite0 fine-tuned 93.5% test at 0.80 GFLOPs in 12.0 min; from scratch 61.0%; int8 2.4x float"
    )
    assert LAST_LINE.match(transfer.last_line(fine, None)).group(1) == "skipped"


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
    chosen = transfer.run_settings(args, "published", transfer.LITE0, 224, 3, "finetune")
    report = transfer.run_settings(args, "published", transfer.LITE0, 224, 3)
    other = transfer.run_settings(args, "published", transfer.LITE0, 224, 3, "finetune-lr1e-4")
    assert model_key(chosen) == model_key(report) != model_key(other)
