"""Benchmark the sidebar: analysis round trip (300 cells) and graph re-render (100 stages).

Starts a real ``jupyter lab`` on 127.0.0.1 with the nbpipe extensions (the built
labextension from ``nbpipe/labextension`` when it is not installed), then:

1. POSTs ``/nbpipe/api/analyze`` with the unsaved content of a 300-cell notebook
   (150 stages, 150 markdown cells) and reports the round trip and the server-side
   time (``Server-Timing`` header);
2. opens a 100-stage notebook in headless Chromium, opens the Pipeline sidebar,
   edits a stage repeatedly and reports the React render-to-commit time the
   sidebar records with ``performance.now()`` (``data-render-ms``).

3. issue 12's daily budget: a 500-stage notebook opened from the file browser until its
   graph is shown; a keystroke until the sidebar shows the new analysis, less the debounce;
   the frame intervals while panning and zooming the 500-stage graph (p95); and, on 100
   stages, how many frames after selecting a stage it is wholly in view.

Run: ``PYTHONPATH=. .venv/bin/python bench/ui.py`` (targets: < 200 ms and < 100 ms; open
≤ 1.5 s, keystroke ≤ 300 ms beyond the debounce, frame p95 ≤ 33 ms, in view within 1 frame).
"""

from __future__ import annotations

import itertools
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
    built = REPO / "nbpipe" / "labextension"
    if (built / "package.json").exists():  # the checkout's build wins over an installed, maybe stale, copy
        data = tmp / "share" / "jupyter" / "labextensions"
        data.mkdir(parents=True)
        (data / "jupyter-nbpipe").symlink_to(built)
        env["JUPYTER_PATH"] = str(data.parent)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           '--ServerApp.jpserver_extensions={"nbpipe.server": True}',
           "--LabApp.expose_app_in_browser=True"]  # fmt: skip
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


#: The sidebar's debounce after an edit (PipelineModel's default delay), in ms.
DEBOUNCE_MS = 400

#: In the page: time the next sidebar update after a keystroke, and frames while the graph moves.
PROBES = """
window.__nbpipe = {keys: [], updates: [], frames: []};
document.addEventListener('keydown', () => window.__nbpipe.keys.push(performance.now()), true);
new MutationObserver(() => {
  const s = document.querySelector('#nbpipe-pipeline .jp-nbpipe-summary');
  if (s && !s.textContent.includes('analysing')) window.__nbpipe.updates.push([performance.now(), s.textContent]);
}).observe(document, {subtree: true, childList: true, characterData: true});
window.__nbpipe.watch = ms => new Promise(done => {
  const frames = [], end = performance.now() + ms;
  const tick = t => { frames.push(t); if (t < end) requestAnimationFrame(tick); else done(frames); };
  requestAnimationFrame(tick);
});
"""


def _browser(pw):  # type: ignore[no-untyped-def]
    browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
                                 args=["--no-sandbox"])  # fmt: skip
    return browser, browser.new_page(viewport={"width": 1400, "height": 900})


def _open_lab(page, url: str, token: str, path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}lab/tree/{path}?token={token}&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    tab = page.locator('li.lm-TabBar-tab[data-id="nbpipe-pipeline"]')
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):  # a click on the current tab hides it
        tab.click()
    page.locator("#nbpipe-pipeline .jp-nbpipe-view[data-loading='false']").wait_for(timeout=60_000)


def bench_open(url: str, token: str, runs: int = 5) -> list[float]:
    """Seconds from opening a 500-stage notebook (``docmanager:open``, the sidebar shown) until its graph shows."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as pw:
        browser, page = _browser(pw)
        _open_lab(page, url, token, "chain100.ipynb")
        for run in range(runs):  # a fresh copy each time: nothing is cached in the page
            ms = page.evaluate(
                """async path => {
                    const started = performance.now();
                    await window.jupyterapp.commands.execute('docmanager:open', {path});
                    const sel = '#nbpipe-pipeline .jp-nbpipe-graph[data-stages="500"] .react-flow__node-stage';
                    await new Promise(done => {
                      const check = () => document.querySelector(sel) ? done() : requestAnimationFrame(check);
                      check();
                    });
                    return performance.now() - started;
                }""",
                f"chain500-{run}.ipynb",
            )
            times.append(ms / 1000)
        browser.close()
    return times


def bench_daily(url: str, token: str, edits: int = 6) -> dict[str, list[float]]:
    """Keystroke → sidebar updated (ms beyond the debounce) and pan/zoom frame intervals (ms) on 500 stages,
    and frames until a selected stage of 100 is in view."""
    from playwright.sync_api import sync_playwright

    found: dict[str, list[float]] = {"keystroke": [], "frames": [], "in_view_frames": []}
    with sync_playwright() as pw:
        browser, page = _browser(pw)
        page.add_init_script(PROBES)
        _open_lab(page, url, token, "chain500.ipynb")
        page.locator('#nbpipe-pipeline .jp-nbpipe-graph[data-stages="500"]').wait_for(timeout=60_000)
        summary = "#nbpipe-pipeline .jp-nbpipe-summary"
        for i in range(edits):
            page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".cm-content").click()
            page.keyboard.press("Control+End")
            before = page.locator(summary).inner_text()
            page.evaluate("() => { window.__nbpipe.keys = []; window.__nbpipe.updates = []; }")
            page.keyboard.type(f"\nq{i} = v{10 + i}", delay=0)  # one more finding each time: the summary changes
            changed = (  # the first new text shown after the last keystroke
                "b => window.__nbpipe.updates.find(u => u[1] !== b && u[0] > Math.max(...window.__nbpipe.keys))"
            )
            page.wait_for_function(changed, arg=before, timeout=30_000)
            last_key = page.evaluate("() => Math.max(...window.__nbpipe.keys)")
            shown = page.evaluate(f"b => ({changed})(b)[0]", before)
            found["keystroke"].append(shown - last_key - DEBOUNCE_MS)
        pane = page.locator("#nbpipe-pipeline .react-flow__pane")
        box = pane.bounding_box()
        assert box is not None
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        watch = page.evaluate_handle("() => window.__nbpipe.watch(1500)")
        page.mouse.move(cx, cy)
        page.mouse.down()
        for step in range(30):  # pan down the column, then zoom in and out
            page.mouse.move(cx + (step % 5), cy - step * 12)
        page.mouse.up()
        for step in range(10):
            page.mouse.wheel(0, -120 if step < 5 else 120)
        frames = watch.json_value()
        found["frames"] = [b - a for a, b in itertools.pairwise(frames)]
        page.close()  # a fresh page: the edited 500-stage notebook stays behind, unsaved
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.add_init_script(PROBES)
        _open_lab(page, url, token, "chain100.ipynb")
        page.locator('#nbpipe-pipeline .jp-nbpipe-graph[data-stages="100"]').wait_for(timeout=60_000)
        for stage in ("s77", "s12", "s95", "s50"):
            found["in_view_frames"].append(_frames_until_in_view(page, stage))
        browser.close()
    return found


def _frames_until_in_view(page, stage: str) -> float:  # type: ignore[no-untyped-def]
    """Select ``stage`` in the dropdown; how many frames pass before its node is wholly in the graph box.

    A check runs at the start of each frame after the change: 1 means the first frame painted it in view.
    """
    page.evaluate(
        """stage => { window.__nbpipe.inView = new Promise(done => {
            let frames = 0;
            const check = () => {
              const box = document.querySelector('#nbpipe-pipeline .jp-nbpipe-graph').getBoundingClientRect();
              const n = document.querySelector(`#nbpipe-pipeline .react-flow__node[data-id="stage:${stage}"]`);
              const r = n && n.getBoundingClientRect();
              if (r && r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom) {
                done(frames);
              } else if (frames++ < 120) requestAnimationFrame(check);
              else done(Infinity);
            };
            document.querySelector('#nbpipe-pipeline .jp-nbpipe-stage-select')
              .addEventListener('change', () => requestAnimationFrame(check), {once: true});
        }); }""",
        stage,
    )
    page.locator("#nbpipe-pipeline .jp-nbpipe-stage-select").select_option(stage)
    return float(page.evaluate("() => window.__nbpipe.inView"))


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> None:
    """Run both benchmarks and print a Markdown table."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "root"
        root.mkdir()
        big = chain_notebook(150, 150)
        (root / "big.ipynb").write_text(json.dumps(big))
        (root / "chain100.ipynb").write_text(json.dumps(chain_notebook(100, 0)))
        for name in ["chain500", *(f"chain500-{run}" for run in range(5))]:
            (root / f"{name}.ipynb").write_text(json.dumps(chain_notebook(500, 0)))
        proc, url, token = start_lab(root, tmp)
        try:
            trip, server = bench_analyze(url, token, big)
            renders = bench_render(url, token)
            opens = bench_open(url, token)
            daily = bench_daily(url, token)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    print("| measure | median | target |\n|---|---|---|")
    print(f"| analyze round trip, 300 cells (150 stages), unsaved content | {trip:.1f} ms | < 200 ms |")
    print(f"| analyze server-side (Server-Timing), same notebook | {server:.1f} ms | < 150 ms |")
    print(f"| sidebar re-render, 100 stages (render → commit) | {statistics.median(renders):.1f} ms | < 100 ms |")
    opened = statistics.median(opens)
    print(f"| open 500 stages → graph shown (docmanager:open, sidebar shown) | {opened:.2f} s | ≤ 1.5 s |")
    keys = daily["keystroke"]
    print(f"| keystroke → sidebar updated, 500 stages, beyond the {DEBOUNCE_MS} ms debounce | "
          f"{statistics.median(keys):.0f} ms | ≤ 300 ms |")  # fmt: skip
    print(f"| pan/zoom frame interval p95, 500 stages | {_p95(daily['frames']):.1f} ms | ≤ 33 ms |")
    print(f"| selected stage of 100 in view after (frames) | {statistics.median(daily['in_view_frames']):.0f} | ≤ 1 |")
    print(f"\nrender samples (ms): {', '.join(f'{r:.1f}' for r in renders)}")
    print(f"open samples (s): {', '.join(f'{t:.2f}' for t in opens)}")
    print(f"keystroke samples (ms beyond the debounce): {', '.join(f'{t:.0f}' for t in keys)}")
    print(f"frames: {len(daily['frames'])}, median {statistics.median(daily['frames']):.1f} ms")
    print(f"in view after (frames): {daily['in_view_frames']}")


if __name__ == "__main__":
    main()
