"""Explanation maps: faithful on models whose answer is known, and their sanity checks can fail."""

from __future__ import annotations

import dataclasses
import io

import matplotlib

matplotlib.use("Agg")

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from helpers.explain import (
    SanityOptions,
    check,
    describe_focus,
    explain,
    explain_batch,
    focus_share,
    garment_mask,
    outline_band,
    randomisation_cascade,
    rank_correlation,
)

PATCH = 4  # the region model reads only the top-left PATCH x PATCH pixels


def region_model(scale: float = 1.0, head: str = "fused") -> keras.Model:
    """16x16x1 images; class 0's logit depends only on the top-left 4x4 patch, set by hand.

    An identity 3x3 conv (ReLU) and 2x2 max-pooling give an 8x8 map; the Dense weighs only its
    top-left 2x2 cells (= the 4x4 pixel patch): logit0 = 2 * scale * (sum of their maxima) - 4 * scale.
    Class 1's logit is 0.
    """
    inputs = keras.Input((16, 16, 1))
    conv = keras.layers.Conv2D(1, 3, padding="same", activation="relu", use_bias=False)
    x = keras.layers.MaxPooling2D(2)(conv(inputs))
    x = keras.layers.Flatten()(x)
    dense = keras.layers.Dense(2, activation="softmax" if head == "fused" else None)
    outputs = dense(x)
    if head == "activation":
        outputs = keras.layers.Activation("softmax")(outputs)
    elif head == "softmax":
        outputs = keras.layers.Softmax()(outputs)
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[1, 1] = 1.0
    conv.set_weights([kernel])
    weights = np.zeros((64, 2), np.float32)
    for row in range(PATCH // 2):
        for col in range(PATCH // 2):
            weights[row * 8 + col, 0] = 2.0 * scale
    dense.set_weights([weights, np.array([-4.0 * scale, 0.0], np.float32)])
    return model


def region_image(seed: int = 0) -> np.ndarray:
    """Dim noise everywhere; a bright checkerboard in the top-left patch (fine detail, so that
    both baselines, blur and mean, remove it)."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.0, 0.3, (16, 16, 1)).astype(np.float32)
    yy, xx = np.mgrid[:PATCH, :PATCH]
    image[:PATCH, :PATCH, 0] = ((yy + xx) % 2).astype(np.float32)
    return image


def small_cnn(seed: int = 0) -> keras.Model:
    """A random conv -> conv -> max-pool -> flatten -> softmax CNN with non-zero biases."""
    keras.utils.set_random_seed(seed)
    init = keras.initializers.RandomNormal(stddev=0.3, seed=seed)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", bias_initializer=init)(inputs)
    x = keras.layers.Conv2D(6, 3, activation="relu", bias_initializer=init)(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, activation="softmax", bias_initializer=init)(x)
    return keras.Model(inputs, outputs)


def random_images(count: int, shape=(12, 12, 3), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, *shape)).astype(np.float32)


@pytest.mark.parametrize("baseline", ["blur", "mean"])
def test_map_finds_the_only_region_that_matters_and_deletion_beats_random(baseline):
    model = region_model()
    image = region_image()
    (e,) = explain(model, image, class_index=0)
    assert e.method == "hirescam" and e.layer == "max_pooling2d"
    row, col = np.unravel_index(np.argmax(e.map), e.map.shape)
    assert row < PATCH and col < PATCH
    assert e.map[: PATCH + 1, : PATCH + 1].sum() / e.map.sum() > 0.9  # bilinear bleeds one pixel
    # Changing every pixel outside the patch leaves the map alone: it reads only what the model reads.
    other = image.copy()
    other[PATCH:] = 0.3 - other[PATCH:]
    np.testing.assert_allclose(explain(model, other, class_index=0)[0].map, e.map, atol=1e-6)

    (c,) = check(model, image, [e], SanityOptions(16, 3, baseline))
    assert c.deletion_curve[0] == pytest.approx(e.probability, abs=1e-5)
    assert c.fractions[0] == 0 and c.fractions[-1] == 1 and len(c.fractions) == 17
    assert c.deletion_gain > 0.2, c  # AUC well below the random order's
    assert c.insertion_gain > 0.05, c  # max-pooling: a cell lights up with its first pixel
    assert c.deletion_passed and c.insertion_passed
    # The checks can fail: the same map turned upside down removes the patch last.
    inverted = dataclasses.replace(e, map=1.0 - e.map)
    (bad,) = check(model, image, [inverted], SanityOptions(16, 3, baseline))
    assert not bad.deletion_passed and not bad.insertion_passed


def test_randomised_weights_move_the_map_and_weights_are_restored():
    model = small_cnn()
    images = random_images(3)
    before = [w.copy() for w in model.get_weights()]
    explanations = explain(model, images)
    checks = check(model, images, explanations, SanityOptions(steps=4, random_orders=1))
    for c in checks:
        assert c.rank_corr < 0.5 and c.randomisation_passed, c.rank_corr
    for w, saved in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, saved)
    # The same model, the same maps: nothing leaked from the randomised weights.
    again = explain(model, images)
    for a, b in zip(explanations, again, strict=True):
        np.testing.assert_array_equal(a.raw, b.raw)

    cascade = randomisation_cascade(model, images, explanations)
    assert cascade["randomised"].tolist() == [1] * 3 + [2] * 3 + [3] * 3
    assert cascade["down_to"].iloc[0] == "dense"  # from the top down
    assert (cascade["rank_corr"] < 0.9).all()
    region = region_model()
    (c,) = check(region, region_image(), explain(region, region_image(), class_index=0))
    assert c.rank_corr < 0.5


def test_randomisation_check_fails_a_map_that_only_copies_the_input():
    """A map at a weight-free layer over the input of a pooled linear head is ``w * x``: its ranking
    is the image's whatever the weight, so randomising the model cannot move it."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Activation("relu", name="copy")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.array([[3.0, 3.5]], np.float32), np.zeros(2, np.float32)])
    image = random_images(1, (8, 8, 1))
    explanations = explain(model, image, class_index=0)
    assert explanations[0].layer == "copy" and explanations[0].method == "gradcam"
    (c,) = check(model, image, explanations, SanityOptions(steps=4, random_orders=1))
    assert c.rank_corr == pytest.approx(1.0) and not c.randomisation_passed


def test_rank_correlation_conventions():
    a = np.arange(9.0).reshape(3, 3)
    assert rank_correlation(a, a**2) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0  # flat stays flat
    assert rank_correlation(a, np.zeros((3, 3))) == 0.0
    assert np.isnan(rank_correlation(np.ones((1, 1)), np.ones((1, 1))))


@pytest.mark.parametrize("layer", [None, "conv2d_1"])
def test_hirescam_is_the_exact_decomposition_of_the_logit_for_a_flatten_head(layer):
    model = small_cnn()
    images = random_images(4)
    hires = explain(model, images, method="hirescam", layer=layer)
    features = keras.Model(model.inputs[0], model.layers[-2].output)(images).numpy()
    kernel, bias = model.layers[-1].get_weights()
    logits = features @ kernel + bias
    assert np.isfinite(logits).all() and np.ptp(logits) > 0.1
    for e, row in zip(hires, logits, strict=True):
        assert e.class_index == int(np.argmax(row))
        assert e.logit == pytest.approx(row[e.class_index], rel=1e-4, abs=1e-4)
        # Max-pooling and ReLU are positively homogeneous, so it holds before the pooling too.
        assert e.raw.sum() + bias[e.class_index] == pytest.approx(e.logit, rel=1e-4, abs=1e-4)
    assert explain(model, images, layer=layer)[0].method == "hirescam"  # "auto" for a Flatten head
    gradcam = explain(model, images, method="gradcam", layer=layer)
    assert any(
        not np.allclose(h.map, g.map, atol=0.05) for h, g in zip(hires, gradcam, strict=True)
    )
    assert any(
        abs(g.raw.sum() + bias[g.class_index] - g.logit) > 1e-2 for g in gradcam
    )  # Grad-CAM's averaged weights do not add up to the logit


@pytest.mark.parametrize("head", ["activation", "softmax", "linear"])
def test_the_logit_is_found_whatever_the_head(head):
    image = region_image()
    fused = explain(region_model(), image, class_index=0)[0]
    other = explain(region_model(head=head), image, class_index=0)[0]
    assert other.logit == pytest.approx(fused.logit, abs=1e-5)
    assert other.probability == pytest.approx(fused.probability, abs=1e-6)
    np.testing.assert_allclose(other.raw, fused.raw, atol=1e-6)


def test_a_very_confident_prediction_still_has_an_informative_map():
    model = region_model(scale=100.0)
    image = region_image()
    x = tf.convert_to_tensor(image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        probability = model(x)[0, 0]
    assert float(probability) == 1.0
    assert not np.any(tape.gradient(probability, x).numpy())  # the probability's gradient is gone
    (e,) = explain(model, image)
    assert e.class_index == 0 and e.probability == 1.0 and e.logit > 100
    assert np.isfinite(e.map).all() and not e.flat and e.map.max() == pytest.approx(1.0)
    row, col = np.unravel_index(np.argmax(e.map), e.map.shape)
    assert row < PATCH and col < PATCH


def test_flat_maps_are_zeros_not_nan():
    model = region_model()
    image = np.full((16, 16, 1), 0.1, np.float32)  # nothing in the patch: no positive evidence
    model.layers[-1].set_weights([-np.abs(model.layers[-1].get_weights()[0]), np.zeros(2)])
    (e,) = explain(model, image, class_index=0)
    assert e.flat and not e.map.any() and np.isfinite(e.map).all() and e.raw.min() < 0


def _sequential_layers():
    return [
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ]


def test_sequential_and_functional_versions_give_the_same_map():
    images = random_images(2)
    keras.utils.set_random_seed(1)
    inputs = keras.Input((12, 12, 3))
    x = inputs
    for layer in _sequential_layers():
        x = layer(x)
    functional = keras.Model(inputs, x)
    sequential = keras.Sequential(_sequential_layers())  # no input shape: not built, no .inputs
    assert not sequential.built
    assert len(explain(sequential, images)) == 2  # builds it on the way
    sequential.set_weights(functional.get_weights())
    for a, b in zip(explain(functional, images), explain(sequential, images), strict=True):
        assert a.layer.startswith("max_pooling2d") and b.layer.startswith("max_pooling2d")
        assert a.class_index == b.class_index
        np.testing.assert_allclose(a.map, b.map, atol=1e-5)
        np.testing.assert_allclose(a.raw, b.raw, rtol=1e-5, atol=1e-6)


def test_the_last_spatial_layer_is_found_inside_a_nested_backbone():
    keras.utils.set_random_seed(2)
    backbone_in = keras.Input((12, 12, 3))
    y = keras.layers.Conv2D(4, 3, activation="relu")(backbone_in)
    y = keras.layers.Conv2D(5, 3, activation="relu", name="last_conv")(y)
    backbone = keras.Model(backbone_in, keras.layers.GlobalAveragePooling2D()(y), name="backbone")
    nested = keras.Sequential(
        [keras.Input((12, 12, 3)), backbone, keras.layers.Dense(3, activation="softmax")]
    )
    images = random_images(2)
    explanations = explain(nested, images)
    assert {(e.layer, e.method) for e in explanations} == {("last_conv", "gradcam")}
    # Grad-CAM equals HiResCAM on a global-average-pooled head.
    hires = explain(nested, images, method="hirescam")
    for g, h in zip(explanations, hires, strict=True):
        np.testing.assert_allclose(g.map, h.map, atol=1e-5)
    checks = check(nested, images, explanations, SanityOptions(steps=4, random_orders=1))
    assert all(np.isfinite(c.rank_corr) for c in checks)


def test_a_zoo_backbone_is_explained_at_its_last_spatial_layer():
    from helpers.models import build_model

    model = build_model("efficientnet_b0", (64, 64, 3), 4, weights=None)
    (e,) = explain(model, random_images(1, (64, 64, 3)))
    # Not a squeeze-and-excitation pooling inside a block: the head's own.
    assert e.layer == "top_activation" and e.method == "gradcam"
    assert e.raw.shape == (2, 2) and e.map.shape == (64, 64) and np.isfinite(e.map).all()


def test_explain_batch_table_and_gallery(tmp_path):
    from helpers.plots import explanation_gallery

    model = small_cnn()
    images = random_images(3)
    true = pd.Series(["Tee", "Coat", "Jeans"], index=[7, 3, 5])  # as a predictions table gives it
    batch = explain_batch(
        model,
        images,
        true=true,
        classes=["Tee", "Jeans", "Coat"],
        options=SanityOptions(steps=4, random_orders=2),
    )
    table = batch.table
    assert len(batch) == len(table) == 3
    assert table["true"].tolist() == ["Tee", "Coat", "Jeans"]
    assert set(table["predicted"]) <= {"Tee", "Jeans", "Coat"}
    assert (table["explained"] == table["predicted"]).all()
    assert (
        table["deletion_passed"] == (table["deletion_auc"] < table["random_deletion_auc"])
    ).all()
    assert (
        table["insertion_passed"] == (table["insertion_auc"] > table["random_insertion_auc"])
    ).all()
    assert (table["randomisation_passed"] == (table["rank_corr"] <= 0.5)).all()
    assert (
        table["passed"]
        == (
            ~table["flat"]
            & table["randomisation_passed"]
            & table["deletion_passed"]
            & table["insertion_passed"]
        )
    ).all()
    probabilities = model(images).numpy()
    np.testing.assert_allclose(table["confidence"], probabilities.max(axis=1), rtol=1e-5)

    fig = explanation_gallery(images, batch, columns=2, path=tmp_path / "gallery.png")
    assert len(fig.axes) == 3 + 2  # three images, the deletion and the insertion panel
    titles = [ax.get_title() for ax in fig.axes[2:]]
    assert all("ρ" in t and "del" in t and "ins" in t for t in titles)
    assert (tmp_path / "gallery.png").stat().st_size > 5000


def _sample_like(garment: np.ndarray) -> np.ndarray:
    """A 28x28 grey garment written the way the embedded sample writes it, read back as [0, 1]."""
    image = Image.fromarray(garment, mode="L").resize((112, 112), Image.BICUBIC).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return np.asarray(Image.open(buffer).convert("RGB"), np.float32) / 255.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_garment_mask_on_sample_like_images():
    garment = np.zeros((28, 28), np.uint8)
    garment[4:24, 8:20] = 200  # a body
    garment[4:10, 3:25] = 180  # sleeves
    garment[12:16, 12:16] = 20  # a dark print inside
    truth = (
        np.asarray(
            Image.fromarray((garment > 0).astype(np.uint8) * 255).resize((112, 112), Image.NEAREST)
        )
        > 0
    )
    light = _sample_like(np.where(garment > 0, np.maximum(garment, 1), 0).astype(np.uint8))
    mask = garment_mask(light)
    assert mask.shape == (112, 112) and mask.dtype == bool
    assert _iou(mask, truth) > 0.9
    assert mask[56, 56]  # the dark print is filled in
    dark_on_white = 1.0 - light
    assert _iou(garment_mask(dark_on_white), truth) > 0.9
    batch = garment_mask(np.stack([light, np.full_like(light, 0.5)]))
    assert batch.shape == (2, 112, 112) and not batch[1].any()  # uniform: no garment


def test_focus_share_and_sentence():
    mask = np.zeros((10, 10), bool)
    mask[:, :4] = True  # the garment covers 40%
    on_garment = mask.astype(float)
    three_quarters = np.where(mask, 3 / 40, 1 / 60)  # 3/4 of the mass on the garment
    flat = np.zeros((10, 10))
    shares = focus_share([on_garment, three_quarters, flat], [mask, mask, mask])
    assert shares[:2] == pytest.approx([1.0, 0.75]) and np.isnan(shares[2])
    text = describe_focus([on_garment, three_quarters, flat], [mask, mask, mask], outline=1)
    assert "Over 2 images the maps put 88% of their mass on the garment" in text
    assert "covers 40% of the image" in text and "they favour the garment." in text
    # The 1-pixel band is column 4: 10% of the image; it holds (0 + (10 / 60) / 4) / 2 = 2%.
    assert "2% on the 1-pixel band of background around it, which covers 10%" in text
    assert "1 left out: 1 flat maps" in text
    band = outline_band(mask, 1)
    assert band[:, 4].all() and band.sum() == 10
    assert "favour the garment's outline" in describe_focus([band * 1.0], [mask], outline=1)
    far = np.zeros((10, 10))
    far[:, 7:] = 1.0
    assert "0% of their mass" in describe_focus([far], [mask])
    assert "favour the background" in describe_focus([far], [mask])
    e = explain(region_model(), region_image(), class_index=0)[0]
    patch = np.zeros((16, 16), bool)
    patch[:PATCH, :PATCH] = True
    assert focus_share([e], [patch])[0] > 0.6


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.stack = _sequential_layers()

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def test_a_subclassed_model_has_no_graph_and_still_gets_the_same_map():
    images = random_images(2)
    keras.utils.set_random_seed(3)
    sequential = keras.Sequential([keras.Input((12, 12, 3)), *_sequential_layers()])
    subclassed = _Subclassed()
    subclassed(images)
    subclassed.set_weights(sequential.get_weights())
    for a, b in zip(explain(sequential, images), explain(subclassed, images), strict=True):
        assert a.method == b.method == "hirescam"
        np.testing.assert_allclose(a.raw, b.raw, rtol=1e-5, atol=1e-6)


def test_sanity_options_refuse_an_unknown_baseline():
    with pytest.raises(ValueError, match="baseline must be one of"):
        SanityOptions(baseline="grey")
