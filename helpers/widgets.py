"""An ipywidgets explorer of a run's test predictions (browse by true and predicted class, upload a
photo to classify), and a reviewer of flagged labels; plain methods, so tests drive them.
"""

import html
import io
from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import pandas as pd
from PIL import Image

from helpers.data import LabelSet
from helpers.data.registry import kind_of
from helpers.images import read_image

ALL = "(all)"
ANY = "(any)"
NO_CELL = ()  # the cell dropdown's "no cell" (ipywidgets 8 treats None as no selection at all)


def make_image_loader(labels: LabelSet) -> Callable[[str], np.ndarray]:
    """``path -> uint8 RGB (or gray) array`` for a labels table, read by the training reader."""
    return lambda path: kind_of(labels).images.read(labels, path)


PHOTO_SIDE, UPLOAD_SIDE = 360, 240  # longest side of a shown photo (small ones enlarged)
TAB_TITLES = ("browse", "classify a photo")  # short enough for JupyterLab's fixed tab width


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_bytes(pixels: np.ndarray, side: int = PHOTO_SIDE) -> bytes:
    """An array (RGB in colour, or gray) as PNG bytes, its longer side ``side``, aspect kept."""
    array = pixels.astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    image = Image.fromarray(array)
    scale = side / max(image.size)
    size = tuple(max(1, round(d * scale)) for d in image.size)
    return _png(image.resize(size, Image.NEAREST if min(image.size) < 64 else Image.BILINEAR))


def placeholder_png(text: str, size: tuple[int, int]) -> bytes:
    """A light grey box saying ``text``: what an Image widget shows instead of a broken icon."""
    from PIL import ImageDraw

    image = Image.new("RGB", size, (238, 238, 238))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, size[0] - 1, size[1] - 1], outline=(200, 200, 200))
    left, top, right, bottom = draw.textbbox((0, 0), text)
    position = ((size[0] - (right - left)) / 2, (size[1] - (bottom - top)) / 2)
    draw.text(position, text, fill=(110, 110, 110))
    return _png(image)


NO_IMAGE = placeholder_png("no test image here", (PHOTO_SIDE * 3 // 4, PHOTO_SIDE))
NO_UPLOAD = placeholder_png("your photo shows here", (UPLOAD_SIDE * 3 // 4, UPLOAD_SIDE))


def top5_html(row: pd.Series) -> str:
    """A prediction row's top-5 as an HTML list, the true class marked."""
    ranked = [(row[f"top{r}"], row[f"top{r}_p"]) for r in range(1, 6) if f"top{r}" in row]
    items = [
        f"<li>{html.escape(c)} {p:.1%}{' ✓' if c == row['true'] else ''}</li>" for c, p in ranked
    ]
    verdict = "correct" if row["true"] == row["predicted"] else "wrong"
    return (
        f"<b>{html.escape(row['path'])}</b><br>true: <b>{html.escape(row['true'])}</b>, "
        f"predicted: <b>{html.escape(row['predicted'])}</b> ({verdict})<ol>{''.join(items)}</ol>"
    )


class Explorer:
    """Browse test predictions by class or confusion cell; classify uploaded images."""

    def __init__(
        self, predictions: pd.DataFrame, classes: list[str],
        load_image: Callable[[str], np.ndarray], model=None,
        most_confused: list[dict] | None = None,
    ):  # fmt: skip
        self.predictions = predictions.reset_index(drop=True)
        self.classes = list(classes)
        self.load_image = load_image
        self.model = model
        self.true_class = widgets.Dropdown(options=[ALL, *self.classes], description="true")
        self.predicted_class = widgets.Dropdown(
            options=[ANY, *self.classes], description="predicted"
        )
        cells = [
            (f"{c['true']} → {c['predicted']} ({c['images']})", (c["true"], c["predicted"]))
            for c in (most_confused or [])
        ]
        self.cell = widgets.Dropdown(
            options=[("most confused cells…", NO_CELL), *cells], description="cell"
        )
        self.index = widgets.IntSlider(min=0, max=0, description="image", continuous_update=False)
        self.count = widgets.HTML()
        # No width/height: each PNG is made at its display size, so the browser keeps its aspect.
        self.image = widgets.Image(format="png", value=NO_IMAGE)
        self.caption = widgets.HTML()
        self.upload = widgets.FileUpload(
            accept="image/*", description="choose a photo", layout=widgets.Layout(width="auto")
        )
        self.upload_image = widgets.Image(format="png", value=NO_UPLOAD)
        self.upload_result = widgets.HTML(
            "" if model else "<i>no model loaded: upload disabled</i>"
        )
        self.upload.disabled = model is None
        for dropdown in (self.true_class, self.predicted_class):
            dropdown.observe(self._on_filter, "value")
        self.cell.observe(self._on_cell, "value")
        self.index.observe(lambda _: self.show(), "value")
        self.upload.observe(self._on_upload, "value")
        self._choosing_cell = False
        self._on_filter()

    @property
    def selection(self) -> pd.DataFrame:  # prediction rows of the chosen true and predicted classes
        rows = self.predictions
        if self.true_class.value != ALL:
            rows = rows[rows["true"] == self.true_class.value]
        if self.predicted_class.value != ANY:
            rows = rows[rows["predicted"] == self.predicted_class.value]
        return rows.reset_index(drop=True)

    def _on_filter(self, _=None) -> None:
        chosen = (self.true_class.value, self.predicted_class.value)
        if not self._choosing_cell and self.cell.value not in (NO_CELL, chosen):
            self.cell.value = NO_CELL  # the dropdowns were changed by hand: no cell chosen now
        size = len(self.selection)
        self.index.max = max(size - 1, 0)
        self.index.value = 0
        self.count.value = f"{size} test images"
        self.show()

    def _on_cell(self, change) -> None:
        if change["new"]:
            true, predicted = change["new"]
            self._choosing_cell = True
            try:
                self.predicted_class.value = predicted
                self.true_class.value = true
            finally:
                self._choosing_cell = False

    def show(self) -> None:
        rows = self.selection
        if rows.empty:
            self.image.value = NO_IMAGE
            self.caption.value = "<i>no test image in this cell</i>"
            return
        row = rows.iloc[min(self.index.value, len(rows) - 1)]
        self.image.value = png_bytes(self.load_image(row["path"]))
        self.caption.value = top5_html(row)

    def classify_bytes(self, content: bytes, k: int = 5) -> list[tuple[str, float]]:
        """Top-k of an uploaded image's bytes, preprocessed as in training."""
        from helpers.predict import classify

        ((_, ranked, error),) = classify(self.model, [bytes(content)], self.classes, k)
        if error:
            raise ValueError(error)
        return ranked

    def _on_upload(self, change) -> None:
        self.classify_files(uploaded_files(change["new"]))

    def classify_files(self, files: list[tuple[str, bytes]]) -> None:
        """Classify ``(name, content)`` pairs and show the last one's image and top-5."""
        for name, content in files:
            try:
                ranked = self.classify_bytes(content)
            except ValueError as err:
                self.upload_result.value = f"<b>{html.escape(name)}</b>: {html.escape(str(err))}"
                continue
            self.upload_image.value = png_bytes(read_image(content), UPLOAD_SIDE)
            listed = "".join(f"<li>{html.escape(label)} {p:.1%}</li>" for label, p in ranked)
            self.upload_result.value = f"<b>{html.escape(name)}</b><ol>{listed}</ol>"

    def upload_in_colab(self) -> widgets.Widget:
        """Colab's own file chooser (its widget upload drops files of 1 MB and more), then classify."""
        from google.colab import files  # only in Colab

        self.classify_files(list(files.upload().items()))
        return widgets.HBox([self.upload_image, self.upload_result])

    @property
    def widget(self) -> widgets.Widget:
        """The whole explorer, ready to display (ipywidgets 7, as in Colab, or 8)."""
        rows = [
            [self.true_class, self.predicted_class, self.cell],
            [self.index, self.count],
            [self.image, self.caption],
        ]
        browse = widgets.VBox([widgets.HBox(row) for row in rows])
        classify = widgets.VBox(
            [self.upload, widgets.HBox([self.upload_image, self.upload_result])]
        )
        tab = widgets.Tab(children=[browse, classify])
        for index, title in enumerate(TAB_TITLES):
            tab.set_title(index, title)  # Tab(titles=...) exists only in ipywidgets 8
        return tab


def uploaded_files(value) -> list[tuple[str, bytes]]:
    """``(name, content)`` of a FileUpload's value (ipywidgets 8's tuple or 7's dict)."""
    if isinstance(value, dict):
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value]


class Reviewer:
    """Confirm or correct flagged photos' labels, saved to the data folder's ``corrections.csv``."""

    def __init__(self, issues: pd.DataFrame, labels: LabelSet):
        self.issues = issues.reset_index(drop=True)
        self.labels = labels
        self.index = widgets.IntSlider(min=0, max=max(len(self.issues) - 1, 0), description="photo")
        self.label = widgets.Dropdown(options=list(labels.classes), description="label")
        self.image = widgets.Image(format="png", value=NO_IMAGE)
        self.caption = widgets.HTML()
        self.confirm = widgets.Button(description="given label is right")
        self.correct = widgets.Button(description="save this label")
        self.confirm.on_click(lambda _: self.answer(self.row["label"]))
        self.correct.on_click(lambda _: self.answer(self.label.value))
        self.index.observe(lambda _: self.show(), "value")
        self.show()

    @property
    def row(self) -> pd.Series:
        return self.issues.iloc[self.index.value]

    def show(self) -> None:
        if self.issues.empty:
            self.caption.value = "<i>no flagged photo</i>"
            return
        row = self.row
        self.image.value = png_bytes(make_image_loader(self.labels)(row["path"]))
        self.label.value = row["suggested"]
        self.caption.value = (
            f"<b>{html.escape(row['path'])}</b><br>given: <b>{html.escape(row['label'])}</b>, "
            f"suggested: <b>{html.escape(row['suggested'])}</b> (score {row['score']:.3f})"
        )

    def answer(self, label: str) -> None:
        """Record ``label`` for the shown photo, then show the next one."""
        from helpers.health import record_correction

        written = record_correction(self.labels.root, self.row["path"], label)
        self.caption.value += f"<br>saved {html.escape(label)} to {html.escape(str(written))}"
        if self.index.value < self.index.max:
            self.index.value += 1

    @property
    def widget(self) -> widgets.Widget:
        buttons = widgets.HBox([self.label, self.correct, self.confirm])
        return widgets.VBox([self.index, widgets.HBox([self.image, self.caption]), buttons])
