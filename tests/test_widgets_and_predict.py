"""The explorer driven without a browser, and the predict command's handling of bad files."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from fixtures import colour_model
from PIL import Image

from helpers.images import model_input
from helpers.predict import main as predict_main
from helpers.widgets import ALL, ANY, Explorer

CLASSES = ["Red", "Green", "Blue"]
COLORS = {"Red": (255, 0, 0), "Green": (0, 255, 0), "Blue": (0, 0, 255)}


def png(color, size=(30, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def explorer():
    rows = []
    for i, (true, predicted) in enumerate(
        [
            ("Red", "Red"),
            ("Red", "Blue"),
            ("Green", "Green"),
            ("Blue", "Blue"),
            ("Red", "Blue"),
            ("Blue", "Red"),
        ]
    ):
        others = [c for c in CLASSES if c != predicted]
        rows.append(
            {
                "path": f"img/P{i}_{true}/img.jpg",
                "true": true,
                "predicted": predicted,
                "confidence": 0.7,
                "top1": predicted,
                "top1_p": 0.7,
                "top2": others[0],
                "top2_p": 0.2,
                "top3": others[1],
                "top3_p": 0.1,
            }
        )
    predictions = pd.DataFrame(rows)
    shown = []

    def load(path):
        shown.append(path)
        return np.full((8, 8, 3), 100, np.uint8)

    confused = [{"true": "Red", "predicted": "Blue", "images": 2}]
    explorer = Explorer(predictions, CLASSES, load, colour_model(), confused)
    explorer.shown = shown
    return explorer


def test_pick_a_class_and_browse(explorer):
    assert explorer.count.value == "6 test images"
    explorer.true_class.value = "Red"
    assert explorer.selection["path"].tolist() == [
        "img/P0_Red/img.jpg",
        "img/P1_Red/img.jpg",
        "img/P4_Red/img.jpg",
    ]
    assert explorer.index.max == 2 and explorer.count.value == "3 test images"
    explorer.index.value = 2
    assert explorer.shown[-1] == "img/P4_Red/img.jpg"
    assert (
        "img/P4_Red/img.jpg" in explorer.caption.value
        and "predicted: <b>Blue</b> (wrong)" in explorer.caption.value
    )
    assert "<li>Red 20.0% ✓</li>" in explorer.caption.value
    assert bytes(explorer.image.value).startswith(b"\x89PNG")


def test_pick_a_confusion_cell(explorer):
    explorer.cell.value = ("Red", "Blue")
    assert (explorer.true_class.value, explorer.predicted_class.value) == ("Red", "Blue")
    assert explorer.selection["path"].tolist() == ["img/P1_Red/img.jpg", "img/P4_Red/img.jpg"]
    explorer.true_class.value = "Green"
    assert explorer.selection.empty and "no test image" in explorer.caption.value
    explorer.true_class.value, explorer.predicted_class.value = ALL, ANY
    assert len(explorer.selection) == 6


def test_upload_is_classified(explorer):
    assert explorer.classify_bytes(png((0, 0, 250)))[0][0] == "Blue"
    explorer.upload.value = (
        {
            "name": "mine.png",
            "type": "image/png",
            "size": 10,
            "content": memoryview(png((0, 240, 0))),
            "last_modified": datetime.now(timezone.utc),
        },
    )
    assert (
        "mine.png" in explorer.upload_result.value and "<li>Green" in explorer.upload_result.value
    )
    explorer.upload.value = (
        {
            "name": "notes.txt",
            "type": "text/plain",
            "size": 5,
            "content": memoryview(b"hello"),
            "last_modified": datetime.now(timezone.utc),
        },
    )
    assert (
        "notes.txt" in explorer.upload_result.value
        and "not an image" in explorer.upload_result.value
    )


def test_explorer_widget_builds(explorer):
    tab = explorer.widget
    assert len(tab.children) == 2 and tab.get_title(1) == "classify a photo"
    # JupyterLab's tabs are about 144 px wide: longer titles are cut ("browse test predictior").
    assert all(len(tab.get_title(i)) <= 16 for i in range(2))


def shown_image(widget) -> Image.Image:
    image = Image.open(io.BytesIO(bytes(widget.value)))
    image.load()
    return image


def test_no_broken_image_before_an_upload_or_in_an_empty_cell(explorer):
    from helpers.widgets import NO_IMAGE, NO_UPLOAD

    # An Image widget with empty bytes is a broken-image icon in the browser: a placeholder instead.
    assert bytes(explorer.upload_image.value) == NO_UPLOAD
    assert shown_image(explorer.upload_image).size[1] > 0
    explorer.true_class.value, explorer.predicted_class.value = "Green", "Red"
    assert explorer.selection.empty
    assert bytes(explorer.image.value) == NO_IMAGE
    placeholder = np.asarray(shown_image(explorer.image).convert("L"))
    assert placeholder.min() < 150 < placeholder.max()  # grey box with dark text on it
    explorer.predicted_class.value = ANY
    assert bytes(explorer.image.value) != NO_IMAGE


def test_cell_resets_when_the_dropdowns_are_changed_by_hand(explorer):
    assert explorer.cell.index == 0 and explorer.cell.label == "most confused cells…"
    explorer.cell.value = ("Red", "Blue")
    assert explorer.cell.value == ("Red", "Blue")  # choosing a cell sets both, keeps the cell
    explorer.predicted_class.value = "Red"
    assert explorer.cell.index == 0 and explorer.cell.label == "most confused cells…"
    explorer.cell.value = ("Red", "Blue")
    explorer.true_class.value = ALL
    assert explorer.cell.index == 0
    assert (explorer.true_class.value, explorer.predicted_class.value) == (ALL, "Blue")


def test_photos_shown_in_colour_with_their_aspect(explorer):
    # A 225x300 (width x height) RGB phone photo: shown larger, in colour, not squashed square.
    photo = np.zeros((300, 225, 3), np.uint8)
    photo[..., 0], photo[:, :, 2] = 200, 40
    explorer.load_image = lambda path: photo
    explorer.index.max, explorer.index.value = 5, 1
    shown = shown_image(explorer.image)
    assert shown.mode == "RGB" and shown.size == (270, 360)
    assert tuple(np.asarray(shown)[180, 135]) == (200, 0, 40)
    explorer.load_image = lambda path: np.full((28, 28, 1), 90, np.uint8)  # Fashion-MNIST: gray
    explorer.index.value = 2
    assert shown_image(explorer.image).size == (360, 360)
    explorer.upload.value = (
        {
            "name": "wide.png",
            "type": "image/png",
            "size": 10,
            "content": memoryview(png((0, 240, 0), size=(400, 200))),
            "last_modified": datetime.now(timezone.utc),
        },
    )
    uploaded = shown_image(explorer.upload_image)
    assert uploaded.size == (240, 120) and tuple(np.asarray(uploaded)[60, 120]) == (0, 240, 0)


def test_upload_formats_of_ipywidgets_7_and_8():
    from helpers.widgets import uploaded_files

    content = png((0, 0, 250))
    version_8 = (
        {"name": "a.png", "type": "image/png", "size": 10, "content": memoryview(content)},
    )
    version_7 = {
        "a.png": {
            "metadata": {"name": "a.png", "type": "image/png", "size": 10},
            "content": content,
        }
    }
    assert uploaded_files(version_8) == uploaded_files(version_7) == [("a.png", content)]
    assert uploaded_files(()) == uploaded_files({}) == []


def test_an_ipywidgets_7_upload_is_classified(explorer):
    explorer._on_upload(
        {"new": {"mine.png": {"metadata": {"name": "mine.png"}, "content": png((0, 240, 0))}}}
    )
    assert (
        "mine.png" in explorer.upload_result.value and "<li>Green" in explorer.upload_result.value
    )


def test_colab_uses_its_own_file_chooser(explorer, monkeypatch):
    import sys
    import types

    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(
        upload=lambda: {"big.png": png((250, 0, 0), size=(600, 600))}
    )
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    shown = explorer.upload_in_colab()
    assert "big.png" in explorer.upload_result.value and "<li>Red" in explorer.upload_result.value
    assert shown.children[1] is explorer.upload_result


def test_model_input_matches_training_scaling(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png((255, 128, 0), size=(10, 10)))
    pixels = model_input(path, (16, 16, 3))
    assert pixels.shape == (16, 16, 3) and pixels.dtype == np.float32
    assert np.allclose(pixels[8, 8], [1.0, 128 / 255, 0.0], atol=1 / 255)
    assert model_input(path, (16, 16, 1)).shape == (16, 16, 1)


def test_predict_cli_classifies_good_files_and_names_bad_ones(tmp_path, capsys):
    model_path = tmp_path / "model.keras"
    colour_model().save(model_path)
    (tmp_path / "classes.json").write_text(json.dumps(CLASSES))
    good = tmp_path / "blue.png"
    good.write_bytes(png((0, 0, 255)))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    missing = tmp_path / "missing.jpg"
    red = tmp_path / "red.png"
    red.write_bytes(png((250, 0, 0)))
    status = predict_main(
        [str(model_path), str(good), str(empty), str(text), str(missing), str(red), "--top", "2"]
    )
    out, err = capsys.readouterr()
    assert status == 1
    assert f"{good}: Blue" in out and f"{red}: Red" in out and out.count("%") == 4
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 3
    assert f"{empty}: empty file" in err or f"{empty}: not an image" in err
    assert f"{text}: not an image" in err and f"{missing}: no such file" in err


def test_predict_cli_refuses_wrong_class_list(tmp_path, capsys):
    model_path = tmp_path / "model.keras"
    colour_model().save(model_path)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('["a", "b"]')
    image = tmp_path / "x.png"
    image.write_bytes(png((0, 0, 255)))
    assert predict_main([str(model_path), str(image), "--classes", str(wrong)]) == 2
    assert "wrong.json: 2 classes, the model has 3 outputs" in capsys.readouterr().err
    assert (
        predict_main([str(model_path), str(image), "--classes", str(tmp_path / "gone.json")]) == 2
    )
    assert "gone.json: no such class list" in capsys.readouterr().err
