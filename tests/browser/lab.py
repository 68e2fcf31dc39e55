"""JupyterLab and Debian's Chromium for the browser test: started, watched and stopped by process id.

JupyterLab runs from the project's venv on 127.0.0.1 with a random free port and token, its
settings, workspaces, runtime and config folders in a temporary directory, autosave off and every
cell rendered (no windowing, so outputs far down a notebook are in the page). Chromium is started
here (never downloaded: ``playwright install`` is not used) and Playwright connects to it over
CDP. Both run in their own process group and are killed by id, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CLOTHING_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]
# JupyterLab settings (user settings files in the temporary settings folder).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        with contextlib.suppress(Exception):
            result = check()
            if result:
                return result
        time.sleep(0.25)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


def _descendants(pid: int) -> list[int]:
    try:
        import psutil

        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []


def stop_process(process: subprocess.Popen, grace: float = 10) -> None:
    """Stop ``process``, its process group and every descendant (kernels start their own)."""
    if process.poll() is None:
        children = _descendants(process.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


class Lab:
    """A running JupyterLab server: ``url(path)``, ``api(path)``, its log file."""

    def __init__(self, port: int, token: str, process: subprocess.Popen, log: Path):
        self.port, self.token, self.process, self.log = port, token, process, log

    def url(self, path: str = "lab") -> str:
        separator = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{separator}token={self.token}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """Shut down every kernel session (one notebook's kernel before the next opens)."""
        for session in self.api("sessions"):
            with contextlib.suppress(Exception):
                self.api(f"sessions/{session['id']}", method="DELETE")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def jupyter_lab(temp: Path, env: dict[str, str], timeout: float = 90) -> Iterator[Lab]:
    """JupyterLab from this venv on the repository, isolated in ``temp``; stopped on exit."""
    settings = temp / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    folders = {
        "JUPYTERLAB_SETTINGS_DIR": settings,
        "JUPYTERLAB_WORKSPACES_DIR": temp / "lab-workspaces",
        "JUPYTER_RUNTIME_DIR": temp / "jupyter-runtime",
        "JUPYTER_CONFIG_DIR": temp / "jupyter-config",
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    # CLOTHING_BROWSER_DISABLE=<lab extension> does what `jupyter labextension disable` does (in
    # this temporary config): e.g. @jupyter-widgets/jupyterlab-manager, to see the test fail.
    disabled = os.environ.get("CLOTHING_BROWSER_DISABLE")
    if disabled:
        labconfig = folders["JUPYTER_CONFIG_DIR"] / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        page_config = {"disabledExtensions": {disabled: True}}
        (labconfig / "page_config.json").write_text(json.dumps(page_config))
    port, token = free_port(), secrets.token_hex(16)
    venv_bin = Path(sys.executable).parent
    command = [
        str(venv_bin / "jupyter-lab"),
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    full_env = {
        **os.environ,
        **{k: str(v) for k, v in folders.items()},
        **env,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = temp / "jupyterlab.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = Lab(port, token, process, log)
    try:
        _wait_for(lambda: lab.api("status"), timeout, "JupyterLab", process)
        yield lab
    finally:
        stop_process(process)


@contextlib.contextmanager
def chromium(temp: Path, timeout: float = 30) -> Iterator[tuple[subprocess.Popen, str]]:
    """Debian's Chromium, headless, its DevTools endpoint ``http://127.0.0.1:<port>``; stopped on exit."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(
            f"{CHROMIUM}: no Chromium here (make test-browser installs Debian's)"
        )
    profile = temp / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(temp / "chromium.log", "wb"),  # noqa: SIM115 (closed with the process)
        start_new_session=True,
    )
    try:
        active = profile / "DevToolsActivePort"
        port = _wait_for(lambda: active.read_text().split()[0], timeout, "Chromium", process)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        stop_process(process, grace=5)
