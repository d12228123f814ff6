"""A real ``jupyter lab`` with the nbpipe extensions, driven by Playwright and the system Chromium.

Works from an installed package (``pip install -e .`` put the labextension in
``share/jupyter/labextensions``) and from a checkout (the labextension built with
``cd labextension && jlpm install && jlpm build`` into ``nbpipe/labextension``).
Never runs ``playwright install``: Chromium comes from apt (``/usr/bin/chromium``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILT = REPO / "nbpipe" / "labextension"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its URL, token and root directory."""

    url: str
    token: str
    root: Path

    def open_url(self, path: str) -> str:
        """The URL that opens ``path`` (relative to the root) in Lab."""
        return f"{self.url}lab/tree/{path}?token={self.token}&reset"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch the system Chromium (no Playwright browser download)."""
    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"Chromium not found at {executable}; install it: apt-get install -y chromium")
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A viewport large enough for the notebook and the sidebar side by side."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


def _labextension_data_dir(tmp: Path) -> Path | None:
    """A data dir holding labextensions/jupyter-nbpipe from the checkout, or None to use the installed one.

    The checkout's build (``jlpm build`` writes ``nbpipe/labextension``) wins when present: JUPYTER_PATH
    comes before ``sys.prefix``, so a stale copy installed by ``pip install .`` cannot hide the code
    under test.
    """
    installed = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyter-nbpipe"
    if not (BUILT / "package.json").exists():
        if (installed / "package.json").exists():
            return None
        pytest.fail(f"the labextension is not built: run `cd labextension && jlpm install && jlpm build` ({BUILT})")
    data = tmp / "share" / "jupyter"
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "jupyter-nbpipe").symlink_to(BUILT, target_is_directory=True)
    return data


def _isolated_env(tmp: Path) -> dict[str, str]:
    settings = tmp / "settings"
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    data = _labextension_data_dir(tmp)
    if data is not None:
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(data), env.get("JUPYTER_PATH")]))
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, token: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"jupyter lab did not answer within 60 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A real ``jupyter lab`` on 127.0.0.1 serving a temporary root with the example notebooks."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    shutil.copytree(REPO / "example_notebooks", root, ignore=shutil.ignore_patterns(".nbpipe", "*.py"))
    token, port = secrets.token_hex(16), _free_port()
    log = tmp / "lab.log"
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        '--ServerApp.jpserver_extensions={"nbpipe.server": True}',
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=_isolated_env(tmp), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_ready(url, token, proc, log)
        yield Lab(url=url, token=token, root=root)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        ARTIFACTS.mkdir(exist_ok=True)  # the server's log outlives pytest's rotation of its temporary folders
        shutil.copy(log, ARTIFACTS / "lab.log")


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (gitignored ``test-artifacts/``), for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
