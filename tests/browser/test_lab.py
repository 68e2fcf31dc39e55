"""Every notebook in JupyterLab in a real browser, as a person sees it; the explorer driven by hand.

Run by ``make test-browser`` (not by ``pytest tests``): on a quick run folder the series made first
(``$CLOTHING_RUN_DIR``, default ``runs/browser``), each notebook is opened in JupyterLab and run
with Run All; a notebook fails on any error output (a traceback, a red stderr box, "Error displaying
widget", a widget left "Loading widget…" or shown as its raw ``VBox(...)`` text) and on a figure
that is not an image. ``03`` trains again (the series' model is put back afterwards, so what
follows reuses the series' artifacts) and its live bar must be seen while it runs; ``08``'s
explorer is driven: a class, a confusion cell, the slider, an upload through the file chooser.
Screenshots of every notebook and of the explorer go to ``<run folder>/screenshots/``.
Nothing here names a class or a count: they are read from the page and the run folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from lab import ROOT, chromium, jupyter_lab

playwright_sync = pytest.importorskip("playwright.sync_api")

RUN_DIR = Path(os.environ.get("CLOTHING_RUN_DIR") or ROOT / "runs" / "browser").absolute()
# Which notebooks (a glob under the repository; a scratch copy shows the test failing).
NOTEBOOKS = sorted(
    ROOT.glob(os.environ.get("CLOTHING_BROWSER_NOTEBOOKS", "notebooks/[0-9][0-9]_*.ipynb"))
)
SCREENSHOTS = RUN_DIR / "screenshots"
NOTEBOOK_SECONDS = float(os.environ.get("CLOTHING_BROWSER_NOTEBOOK_SECONDS", 300))
# What 03 must retrain for its bar to be seen; put back afterwards.
TRAINING_FILES = (
    "model.keras",
    "training.json",
    "history.csv",
    "run.json",
    "checkpoints",
    "figures/learning_curves.png",
)

# The state of the current notebook, read from JupyterLab's own objects (expose_app_in_browser).
STATE_JS = """() => {
  if (!window.jupyterapp || !window.jupyterapp.shell) return null;
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  return {
    path: panel.context.path,
    kernel: panel.sessionContext.kernelDisplayStatus,
    counts: cells.map(c => c.model.executionCount),
    running: cells.some(c => (c.promptNode && c.promptNode.textContent || '').includes('*')),
  };
}"""

# Every output problem a person would see, collected from the rendered page.
PROBLEMS_JS = r"""(root) => {
  const problems = [];
  const text = el => (el.innerText || '').trim().slice(0, 400);
  for (const el of root.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]'))
    problems.push('stderr box: ' + text(el));
  for (const el of root.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"]'))
    problems.push('error: ' + text(el));
  for (const el of root.querySelectorAll('.jp-OutputArea-output')) {
    const shown = text(el);
    if (/Error displaying widget/.test(shown)) problems.push('widget error: ' + shown);
    if (/Loading widget/.test(shown)) problems.push('widget still loading: ' + shown);
  }
  for (const el of root.querySelectorAll('.jp-RenderedText[data-mime-type="text/plain"]')) {
    const shown = text(el);
    if (/^(VBox|HBox|Box|Tab|Accordion|HTML|Dropdown|FloatProgress|IntProgress|Image|Output)\(/m.test(shown))
      problems.push('widget shown as text: ' + shown);
    if (/<Figure size [^>]*>/.test(shown)) problems.push('figure not rendered as an image: ' + shown);
  }
  for (const img of root.querySelectorAll('.jp-RenderedImage img'))
    if (!img.complete || img.naturalWidth === 0) problems.push('image not loaded: ' + img.src.slice(0, 80));
  return problems;
}"""


@pytest.fixture(scope="module")
def lab_page(tmp_path_factory):
    if not (RUN_DIR / "run.json").exists():
        pytest.fail(
            f"{RUN_DIR}: no run folder; make it first: python -m helpers.series --profile quick --name browser"
        )
    temp = tmp_path_factory.mktemp("lab")
    env = {"CLOTHING_PROFILE": "quick", "CLOTHING_RUN_DIR": str(RUN_DIR)}
    env.pop("CLOTHING_PROGRESS", None)
    os.environ.pop("CLOTHING_PROGRESS", None)
    with (
        jupyter_lab(temp, env) as lab,
        chromium(temp) as (_, endpoint),
        playwright_sync.sync_playwright() as pw,
    ):
        browser = pw.chromium.connect_over_cdp(endpoint, timeout=30_000)
        try:
            context = browser.contexts[0] if browser.contexts else browser.new_context()
            yield lab, context
        finally:
            browser.close()


def open_notebook(lab, context, notebook: Path):
    """A fresh page with ``notebook`` open, its kernel started and idle."""
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 1000})
    relative = notebook.relative_to(ROOT).as_posix()
    page.goto(lab.url(f"lab/tree/{relative}?reset"), timeout=60_000)
    page.wait_for_function(
        f"(path) => {{ const s = ({STATE_JS})(); return s && s.path === path && s.kernel === 'idle'; }}",
        arg=relative,
        timeout=90_000,
        polling=250,
    )
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    return page


def notebook_state(page) -> dict:
    return page.evaluate(STATE_JS)


def run_all(page, watch=None, timeout: float = NOTEBOOK_SECONDS) -> dict:
    """Run All; wait until every code cell ran (or one failed) and the kernel is idle."""
    # Not awaited: the command's promise settles only when every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    deadline, state, quiet_since = time.monotonic() + timeout, {}, None
    while time.monotonic() < deadline:
        if watch is not None:
            watch(page)
        state = notebook_state(page)
        done = all(count is not None for count in state["counts"])  # a fresh open has none
        stopped = page.locator(
            '.jp-Notebook [data-mime-type="application/vnd.jupyter.error"]'
        ).count()
        if not state["running"] and state["kernel"] == "idle" and (done or stopped):
            return state
        quiet = not state["running"] and state["kernel"] == "idle"
        quiet_since = (quiet_since or time.monotonic()) if quiet else None
        if quiet_since and time.monotonic() - quiet_since > 30:
            ran = sum(count is not None for count in state["counts"])
            pytest.fail(
                f"{state['path']}: Run All stopped after {ran} of {len(state['counts'])} code cells "
                f"without an error output (the kernel died or restarted?): {state}"
            )
        time.sleep(0.5)
    pytest.fail(f"{state.get('path')}: Run All did not finish in {timeout:.0f} s: {state}")


def problems(page) -> list[str]:
    return page.evaluate(
        PROBLEMS_JS, page.locator(".jp-NotebookPanel .jp-Notebook").element_handle()
    )


def full_page_screenshot(page, path: Path) -> None:
    """The whole notebook in one image: the page made as tall as the notebook's content."""
    height = page.evaluate(
        "() => { const n = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')"
        " || document.querySelector('.jp-NotebookPanel .jp-Notebook'); return n.scrollHeight; }"
    )
    page.set_viewport_size({"width": 1280, "height": int(min(max(height + 160, 1000), 16000))})
    page.wait_for_timeout(500)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1000})


def is_mid_epoch(text: str) -> bool:
    """A bar such as ``epoch 1/1: 46% 6/13 [00:07<00:08, ...]``: steps done, not all of them."""
    match = re.search(r"epoch \d+/\d+:.*?\b(\d+)/(\d+) \[", text)
    return bool(match) and 0 < int(match[1]) < int(match[2])


class TrainingFilesPutBack:
    """Move 03's outputs aside so it trains in the browser; put the series' back afterwards."""

    def __init__(self, run_dir: Path, backup: Path):
        self.run_dir, self.backup = run_dir, backup

    def __enter__(self):
        self.backup.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.run_dir / "run.json", self.backup / "run.json")
        for name in TRAINING_FILES:
            if name != "run.json" and (self.run_dir / name).exists():
                (self.backup / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(self.run_dir / name), str(self.backup / name))
        return self

    def __exit__(self, *exc):
        for name in TRAINING_FILES:
            if (self.backup / name).exists():
                target = self.run_dir / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
                shutil.move(str(self.backup / name), str(target))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_clean_in_the_browser(lab_page, notebook, tmp_path):
    lab, context = lab_page
    page = open_notebook(lab, context, notebook)
    try:
        seen_bars: list[str] = []

        def watch_bar(page):
            bars = page.locator(
                ".jp-OutputArea-output .widget-hprogress, .jp-OutputArea-output progress"
            )
            if bars.count():
                box = bars.first.locator("xpath=ancestor::div[contains(@class,'widget-hbox')][1]")
                text = box.first.inner_text() if box.count() else ""
                seen_bars.append(re.sub(r"[\s\u2007\xa0]+", " ", text))

        if notebook.stem.startswith("03"):
            with TrainingFilesPutBack(RUN_DIR, tmp_path / "series-training"):
                state = run_all(page, watch=watch_bar)
        else:
            state = run_all(page)
        found = problems(page)
        full_page_screenshot(page, SCREENSHOTS / f"{notebook.stem}.png")
        assert not found, f"{notebook.name}:\n  " + "\n  ".join(found)
        assert all(c is not None for c in state["counts"]), (
            f"{notebook.name}: cells not run: {state}"
        )
        if notebook.stem.startswith("03"):
            live = [text for text in seen_bars if is_mid_epoch(text) and "images/s" in text]
            assert live, (
                f"03: no live training bar seen mid-epoch while it ran (saw {seen_bars[-3:]})"
            )
            print(f"03's bar, as seen: {live[len(live) // 2]}")
            fit = page.locator(".jp-NotebookPanel .jp-RenderedHTMLCommon h2", has_text="Fit")
            if fit.count():
                fit.first.scroll_into_view_if_needed(timeout=5_000)
            page.screenshot(path=str(SCREENSHOTS / "lab_notebook.png"))
        if notebook.stem.startswith("08"):
            drive_explorer(page, tmp_path)
    finally:
        page.close()
        lab.shutdown_sessions()


# --- 08's explorer -----------------------------------------------------------------------------


def dropdown(explorer, label: str):
    return (
        explorer.locator(".widget-dropdown")
        .filter(has=explorer.page.locator(f"label:text-is('{label}')"))
        .locator("select")
    )


def shown(explorer) -> tuple[str, str]:
    """The browse tab's image source and caption text."""
    image = explorer.locator("img.widget-image").first
    caption = explorer.locator(".widget-html").filter(has_text="predicted:").first
    return image.get_attribute("src") or "", caption.inner_text() if caption.count() else ""


def wait_changed(
    explorer, before: tuple[str, str], what: str, timeout: float = 20
) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = shown(explorer)
        if now != before and now[0]:
            return now
        time.sleep(0.2)
    pytest.fail(f"08 explorer: {what} did not change the image or caption")


def upload_photo() -> Path:
    """A photo from the run's own test split (read from labels.csv and dataset.json)."""
    import csv

    data_dir = Path(json.loads((RUN_DIR / "dataset.json").read_text())["data_dir"])
    with open(RUN_DIR / "labels.csv") as rows:
        for row in csv.DictReader(rows):
            path = data_dir / row["path"]
            if row["split"] == "test" and path.is_file():
                return path
    pytest.fail(f"{RUN_DIR / 'labels.csv'}: no test image found on disk to upload")


def drive_explorer(page, tmp_path: Path) -> None:
    explorer = page.locator(".widget-tab").first
    explorer.wait_for(timeout=30_000)
    explorer.scroll_into_view_if_needed()
    # Tab titles whole: no label wider than its tab.
    cut = page.evaluate(
        "(tab) => [...tab.querySelectorAll('.lm-TabBar-tabLabel, .p-TabBar-tabLabel')]"
        ".filter(l => l.scrollWidth > l.clientWidth + 1).map(l => l.textContent)",
        explorer.element_handle(),
    )
    assert not cut, f"08 explorer: tab titles cut: {cut}"
    # A class: the image and the caption change to a photo of that class.
    true_class, predicted_class, cell = (
        dropdown(explorer, n) for n in ("true", "predicted", "cell")
    )
    classes = true_class.locator("option").all_inner_texts()[1:]
    assert classes, "08 explorer: no classes in the true dropdown"
    before = shown(explorer)
    current = re.search(r"true: (.+?),", before[1])
    for choice in [c for c in classes if not current or c != current[1]]:  # another class
        true_class.select_option(label=choice)
        after = wait_changed(explorer, before, f"choosing class {choice}")
        if "no test image" not in after[1]:
            break
        before = after
    assert f"true: {choice}" in after[1], (
        f"08 explorer: caption {after[1]!r} is not of class {choice}"
    )
    # A confusion cell sets both dropdowns.
    cells = cell.locator("option").all_inner_texts()[1:]
    if cells:
        cell.select_option(index=1)
        label = re.sub(r"[\s\xa0]+", " ", cells[0]).strip()
        parsed = re.match(r"(.+?) ?→ ?(.+?) \(\d+\)$", label)
        assert parsed, f"08 explorer: cell option {cells[0]!r} is not 'true → predicted (n)'"
        want = parsed.groups()
        page.wait_for_function(
            "([a, b, want]) => a.selectedOptions[0].text === want[0] && b.selectedOptions[0].text === want[1]",
            arg=[true_class.element_handle(), predicted_class.element_handle(), list(want)],
            timeout=20_000,
        )
    # The slider moves to the next image (all test images: more than one).
    true_class.select_option(index=0)
    predicted_class.select_option(index=0)
    page.wait_for_function(
        "(c) => c.selectedIndex === 0", arg=cell.element_handle(), timeout=20_000
    )  # changed by hand: the cell dropdown is back to "most confused cells…"
    page.wait_for_timeout(500)
    before = shown(explorer)
    explorer.locator(".widget-slider .noUi-handle, .widget-slider .ui-slider-handle").first.focus()
    page.keyboard.press("ArrowRight")
    after = wait_changed(explorer, before, "moving the slider")
    readout = explorer.locator(".widget-slider .widget-readout").first.inner_text().strip()
    assert readout == "1", f"08 explorer: the slider reads {readout!r} after one step"
    explorer.screenshot(path=str(SCREENSHOTS / "lab_explorer.png"))
    # An upload through the file chooser shows its top-5.
    explorer.locator(".lm-TabBar-tab, .p-TabBar-tab").nth(1).click()
    photo = tmp_path / f"my_photo{upload_photo().suffix}"  # a name no test image has
    shutil.copy2(upload_photo(), photo)
    with page.expect_file_chooser(timeout=10_000) as chooser:
        explorer.locator("button.widget-upload, .widget-upload").first.click()
    chooser.value.set_files(str(photo))
    result = explorer.locator(".widget-html:visible").filter(has_text=photo.name).first
    result.wait_for(timeout=30_000)
    ranked = result.locator("li").all_inner_texts()
    assert len(ranked) == min(5, len(classes)) and all("%" in r for r in ranked), ranked
    explorer.screenshot(path=str(SCREENSHOTS / "lab_explorer_upload.png"))
    print(f"08 explorer: class {choice} shown, slider moved, {photo.name} -> {ranked[0]}")
