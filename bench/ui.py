"""Benchmark the sidebar: analysis round trip (300 cells) and graph re-render (100 stages).

Starts a real ``jupyter lab`` on 127.0.0.1 with the nbpipe extensions (the built
labextension from ``nbpipe/labextension`` when it is not installed), then:

1. POSTs ``/nbpipe/api/analyze`` with the unsaved content of a 300-cell notebook
   (150 stages, 150 markdown cells) and reports the round trip and the server-side
   time (``Server-Timing`` header);
2. opens a 100-stage notebook in headless Chromium, opens the Pipeline sidebar,
   edits a stage repeatedly and reports the React render-to-commit time the
   sidebar records with ``performance.now()`` (``data-render-ms``).

Run: ``PYTHONPATH=. .venv/bin/python bench/ui.py`` (targets: < 200 ms and < 100 ms).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]


def chain_notebook(stages: int, markdown: int) -> dict:
    """A notebook of ``stages`` chained stages interleaved with ``markdown`` cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    cells = [nbformat.v4.new_code_cell("import math")]
    for i in range(stages):
        inputs = f" --in v{i - 1}" if i else ""
        body = f"v{i} = math.sqrt({i}) + (v{i - 1} if {i} else 0)" if i else "v0 = 0.0"
        cells.append(nbformat.v4.new_code_cell(f"%%stage s{i}{inputs} --out v{i}\n{body}"))
        if i < markdown:
            cells.append(nbformat.v4.new_markdown_cell(f"## Stage {i}\nWhat stage {i} does."))
    nb.cells = cells
    return json.loads(nbformat.writes(nb))


def start_lab(root: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start jupyter lab; returns the process, base URL and token."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTER_CONFIG_DIR=str(tmp / "config"))
    env.update(JUPYTERLAB_WORKSPACES_DIR=str(tmp / "ws"), JUPYTER_RUNTIME_DIR=str(tmp / "rt"), PYTHONPATH=str(REPO))
    installed = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyter-nbpipe"
    if not installed.exists():
        data = tmp / "share" / "jupyter" / "labextensions"
        data.mkdir(parents=True)
        (data / "jupyter-nbpipe").symlink_to(REPO / "nbpipe" / "labextension")
        env["JUPYTER_PATH"] = str(data.parent)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           '--ServerApp.jpserver_extensions={"nbpipe.server": True}']  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2)
            return proc, url, token
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("jupyter lab did not start")


def bench_analyze(url: str, token: str, content: dict, runs: int = 15) -> tuple[float, float]:
    """Median round trip and server-side analysis time in ms."""
    body = json.dumps({"path": "big.ipynb", "content": content}).encode()
    trips, server = [], []
    for _ in range(runs):
        req = urllib.request.Request(f"{url}nbpipe/api/analyze", data=body, method="POST")
        req.add_header("Authorization", f"token {token}")
        started = time.perf_counter()
        with urllib.request.urlopen(req) as resp:
            resp.read()
            timing = resp.headers.get("Server-Timing", "dur=nan")
        trips.append((time.perf_counter() - started) * 1000)
        server.append(float(timing.split("dur=")[1]))
    return statistics.median(trips[2:]), statistics.median(server[2:])


def bench_render(url: str, token: str, edits: int = 8) -> list[float]:
    """Render-to-commit times (ms) of the sidebar after edits to a 100-stage notebook."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}lab/tree/chain100.ipynb?token={token}&reset")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        page.locator('li.lm-TabBar-tab[data-id="nbpipe-pipeline"]').click()
        page.locator("#nbpipe-pipeline .react-flow__node-stage").nth(99).wait_for(state="attached", timeout=30_000)
        times = []
        for i in range(edits):
            before = page.locator("#nbpipe-pipeline .jp-nbpipe-summary").inner_text()
            page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".cm-content").click()
            page.keyboard.press("Control+End")
            page.keyboard.type(f"\nq{i} = v{10 + i}")  # one more NBP101 each time: the summary changes
            page.wait_for_function(
                "b => { const s = document.querySelector('#nbpipe-pipeline .jp-nbpipe-summary');"
                " return s && s.textContent !== b && !s.textContent.includes('analysing'); }",
                arg=before,
                timeout=10_000,
            )
            page.wait_for_timeout(200)
            times.append(float(page.locator("#nbpipe-pipeline").get_attribute("data-render-ms") or "nan"))
        browser.close()
    return times


def main() -> None:
    """Run both benchmarks and print a Markdown table."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "root"
        root.mkdir()
        big = chain_notebook(150, 150)
        (root / "big.ipynb").write_text(json.dumps(big))
        (root / "chain100.ipynb").write_text(json.dumps(chain_notebook(100, 0)))
        proc, url, token = start_lab(root, tmp)
        try:
            trip, server = bench_analyze(url, token, big)
            renders = bench_render(url, token)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    print("| measure | median | target |\n|---|---|---|")
    print(f"| analyze round trip, 300 cells (150 stages), unsaved content | {trip:.1f} ms | < 200 ms |")
    print(f"| analyze server-side (Server-Timing), same notebook | {server:.1f} ms | < 150 ms |")
    print(f"| sidebar re-render, 100 stages (render → commit) | {statistics.median(renders):.1f} ms | < 100 ms |")
    print(f"\nrender samples (ms): {', '.join(f'{r:.1f}' for r in renders)}")


if __name__ == "__main__":
    main()
