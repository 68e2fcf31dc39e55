"""The transfer model's run folder beside the main model, the summary of both, and the CPU line."""

from __future__ import annotations

import pytest
from fixtures import colour_model

from helpers.latency import cpu_description
from helpers.recipes import recipe_for
from helpers.run import TRANSFER_DIR, Run
from helpers.summary import side_by_side, summary_table


def _run(tmp_path, **params):
    return Run.open({"profile": "quick", "run_dir": str(tmp_path / "run"), **params})


@pytest.mark.parametrize(
    "name, side",
    [("efficientnet_lite0", 224), ("efficientnet_lite1", 240), ("efficientnet_lite2", 260)],
)
def test_each_backbone_trains_beside_at_its_own_resolution(tmp_path, name, side):
    transfer = _run(tmp_path, transfer_model=name).transfer_run()
    assert transfer.settings.model == name and transfer.settings.image_size == side
    assert recipe_for(transfer.settings).description.startswith("finetune: head first")


def test_a_transfer_model_gets_its_own_run_folder_and_settings(tmp_path):
    run = _run(tmp_path, transfer_model="efficientnet_lite0", transfer_epochs=2, image_size=64)
    transfer = run.transfer_run()
    assert transfer.files.root == run.files.root / TRANSFER_DIR
    assert transfer.settings.model == "efficientnet_lite0"
    assert transfer.settings.image_size == 224 and transfer.settings.epochs == 2
    assert transfer.settings.dataset == run.settings.dataset  # the same labels
    assert transfer.transfer_run() is None
    plain = Run.open({"profile": "fashion_mnist", "run_dir": str(tmp_path / "fm")})
    assert plain.settings.transfer_model is None and plain.transfer_run() is None
    # a run folder that happens to be called "transfer" still trains its transfer model
    named = Run.open({"profile": "quick", "run_dir": str(tmp_path / TRANSFER_DIR)})
    assert named.transfer_run().settings.model == "efficientnet_lite0"


def test_summary_shows_only_what_was_made_and_costs_are_recorded(tmp_path):
    run = _run(tmp_path, transfer_model="efficientnet_lite0")
    table = summary_table(run)
    assert list(table["model"]) == [run.settings.model]  # the transfer model is not trained yet
    _, costs = run.costs(colour_model())
    assert costs["params"] == 9 + 3 and run.current("costs")
    assert side_by_side(run)["params"].iloc[0] == "12"


def test_the_cpu_line_says_whether_int8_dot_products_exist():
    vnni = "processor\t: 0\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu avx2 avx512_vnni\n"
    plain = "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu avx2 fma\n"
    assert "AMD EPYC 9654" in cpu_description(vnni) and "avx512_vnni" in cpu_description(vnni)
    assert "no int8 dot-product instructions" in cpu_description(plain)
    assert "unknown" in cpu_description("")
