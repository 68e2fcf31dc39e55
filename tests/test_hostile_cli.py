"""Hostile input to the one reader and the command lines: a named pipe never blocks a read, a
folder given as the CSV is refused before the work, failed images stay in the CSV, scorers match
a model's classes by name, and a crafted weights file cannot run code (issue 32)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures import colour_model, load_bench, truncated_jpeg, write_image

from helpers import atomic
from helpers.errors import ImageError, InputError
from helpers.images import read_header, read_image
from helpers.predict import read_classes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo.jpg"
    os.mkfifo(path)
    return path


def test_the_one_reader_refuses_what_is_not_a_regular_file(tmp_path, fifo):
    for reader in (read_header, read_image):
        with pytest.raises(ImageError) as refused:
            reader(fifo)  # would block forever if it were opened
        assert str(refused.value) == f"{fifo}: not a regular file but a named pipe"
        with pytest.raises(ImageError, match="not a regular file but a folder"):
            reader(tmp_path)
    with pytest.raises(InputError, match="fifo.jpg: not a regular file"):
        read_classes(fifo, 3)  # predict's --classes: a pipe would block its read too


def test_predict_command_names_a_pipe_and_a_corrupt_jpeg_in_one_line_each(tmp_path, fifo):
    """In a process of its own, as a user runs it: no hang, and none of TensorFlow's or libjpeg's
    own stderr lines (``E0000 ... jpeg_mem.cc``, bare libjpeg messages) between its own."""
    model = tmp_path / "model.keras"
    colour_model().save(model)
    (tmp_path / "classes.json").write_text(json.dumps(["red", "green", "blue"]))
    good = write_image(tmp_path / "good.jpg", color=(250, 10, 10))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(truncated_jpeg())
    done = subprocess.run(
        [sys.executable, "-m", "helpers.predict", str(model), str(good), str(fifo), str(cut)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(f"{good}: red")
    assert done.stderr.splitlines() == [
        f"error: {fifo}: not a regular file but a named pipe",
        f"error: {cut}: cannot decode (jpeg::Uncompress failed. Invalid JPEG data or crop window.)",
    ]


def test_imagenet_refuses_a_folder_as_its_csv_before_any_work(tmp_path, monkeypatch, capsys):
    import helpers.imagenet as imagenet

    def no_work():
        raise AssertionError("the model was built before the CSV path was checked")

    monkeypatch.setattr(imagenet, "imagenet_model", no_work)
    image = write_image(tmp_path / "a.jpg")
    assert imagenet.main([str(image), "--csv", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {tmp_path}: is a folder: give a file name\n"


def test_every_atomic_writer_refuses_a_folder_in_one_line(tmp_path):
    (tmp_path / "table.csv").mkdir()
    with pytest.raises(InputError, match=r"table\.csv: is a folder"):
        atomic.write_text(tmp_path / "table.csv", "a,b\n")
    assert not list(tmp_path.glob(".*partial*"))


def test_bench_scores_by_the_models_class_names_and_refuses_other_names(tmp_path, capsys):
    """colour_model's outputs are red, green, blue; folders sort blue, green, red: scored by
    position, two of three classes would be wrong."""
    from helpers.data.folders import label_folders
    from helpers.evaluation import align_classes, evaluate_split

    for channel, name in enumerate(["red", "green", "blue"]):
        for i in range(8):
            colour = tuple(250 - i if c == channel else 5 + i for c in range(3))
            write_image(tmp_path / "photos" / name / f"{i}.jpg", color=colour, size=(16, 16))
    labels = label_folders(tmp_path / "photos")
    assert labels.classes == ["blue", "green", "red"]
    aligned = align_classes(labels, ["red", "green", "blue"], "model.keras")
    assert aligned.classes == ["red", "green", "blue"] and aligned.table.equals(labels.table)
    model = colour_model()
    _, metrics = evaluate_split(model, aligned, "train", image_size=16)
    assert metrics["accuracy"] == 1.0
    _, by_position = evaluate_split(model, labels, "train", image_size=16)
    assert by_position["accuracy"] < 0.5  # the flaw the alignment removes
    run = tmp_path / "run"
    run.mkdir()
    atomic.save_model(model, run / "model.keras")
    bench = load_bench("inference")
    common = ["--data", "folders", "--data-dir", str(tmp_path / "photos"), "--runs", "1"]

    def errors() -> list[str]:
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return [line for line in err.splitlines() if line.startswith("error:")]

    assert bench.main([str(run / "model.keras"), *common]) == 2  # no classes.json: no names
    assert errors() == [f"error: {run / 'classes.json'}: no such class list"]
    (run / "classes.json").write_text(json.dumps(["red", "green", "purple"]))
    assert bench.main([str(run / "model.keras"), *common]) == 2
    (err,) = errors()
    assert err.startswith(f"error: {run / 'model.keras'}: ")
    assert "only the model's: ['purple']; only the data's: ['blue']" in err


class _RunsCode:
    """A pickle whose loading calls ``os.system`` to create a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("position", range(5))
def test_a_crafted_weights_file_cannot_run_code(tmp_path, position):
    """Each of the legacy format's five pickles (magic number, protocol, system facts, the
    state dict, the storage keys) in turn replaced by one that would run a command."""
    from helpers.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, read_state_dict

    marker = tmp_path / "ran"
    parts = [MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True}, {}, []]
    parts[position] = _RunsCode(marker)
    path = tmp_path / "crafted.pth"
    path.write_bytes(b"".join(pickle.dumps(part, protocol=2) for part in parts))
    with pytest.raises(InputError) as refused:
        read_state_dict(path)
    assert not marker.exists()
    message = str(refused.value)
    assert message.startswith(f"{path}: not a legacy PyTorch state dict") and "\n" not in message
    assert "system" in message  # the refused global is named


def test_the_crafted_files_reader_still_reads_an_honest_one(tmp_path):
    from helpers.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, read_state_dict

    path = tmp_path / "empty.pth"
    parts = [MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True}, {}, []]
    path.write_bytes(b"".join(pickle.dumps(part, protocol=2) for part in parts))
    assert read_state_dict(path) == {}
    assert np.frombuffer(path.read_bytes()[:2], np.uint8)[0] == 0x80  # a pickle, not a zip
