"""The browser test runs only when asked: ``pytest tests/browser`` (``make test-browser``).

``pytest tests`` walks into this folder too; unless this folder (or a file in it) was named on the
command line, nothing here is collected, so the unit tests need neither Chromium nor JupyterLab.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def _asked(config) -> bool:
    for arg in config.args:
        path = Path(str(arg).split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path, config):
    if collection_path.resolve() != Path(__file__).resolve() and not _asked(config):
        return True
    return None
