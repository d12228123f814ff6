"""Round trip of real notebooks (issue 10): annotate, check, Run All cold and warm, ``nbpipe run`` twice, script.

For each notebook of FOLDER, in a work folder of its own (the other files of FOLDER,
such as ``data/`` and helper modules, are linked into it):

1. the original runs twice in a fresh kernel (nbclient, ``allow_errors``): the first
   run is the reference, and cells whose text differs between the two runs are
   nondeterministic by themselves and not compared (when the annotated runs differ,
   the original runs up to twice more to tell its own noise apart). The original "runs clean" when
   its only errors are in cells whose saved outputs show that error (raise by design);
2. ``annotate`` proposes stages; ``check`` of the result (errors, warnings);
3. Run All of the annotated notebook in a fresh kernel with an empty store (cold),
   then again in a fresh kernel with the same store (warm); the text outputs (streams,
   ``text/plain``, errors; nbpipe's own restore line and status bundle left out;
   ``0x…`` addresses masked) must equal the original's, cell group by cell group (a
   stage made of several original cells is compared with their outputs together);
4. ``nbpipe run`` twice with a fresh store: the second run must be all cached; the
   outputs' fingerprints must equal the kernel's;
5. ``nbpipe export --to script`` and the script run with a fresh store: same fingerprints.

Usage::

    python bench/roundtrip.py FOLDER [--out DIR] [--only TEXT] [--timeout SECONDS] [--jobs N]

Run it with a Python whose environment has nbpipe, nbclient, ipykernel and the
notebooks' libraries. It prints a Markdown table and writes ``DIR/roundtrip.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_CELL_FILE = re.compile(r"\(\d+\.py, line")  # IPython names a cell's code by a hash of its text
_RESTORED = re.compile(r"^stage '[^']*' restored from cache.*$\n?", re.MULTILINE)
_STAGE_MIME = "application/vnd.nbpipe.stage+json"
_CLI = "import sys; from nbpipe.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class Row:
    """One notebook's round trip."""

    notebook: str
    original: str = ""  # "clean" or why the original does not run clean offline
    stages: int = 0
    check: str = ""  # "clean", "N warnings", "N errors"
    cold: str = ""  # "equal" or what differs
    warm: str = ""
    run: str = ""  # "ok, 2nd all cached" or what failed
    script: str = ""
    fingerprints: str = ""  # "equal (N outputs)" or what differs
    ok: bool = False  # round-trips fully
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0


def main(argv: list[str] | None = None) -> int:
    """Run the round trip over a folder of notebooks and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path("roundtrip-out"), help="work folders and roundtrip.json")
    parser.add_argument("--only", default="", help="only notebooks whose name contains this text")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks in parallel")
    args = parser.parse_args(argv)
    notebooks = sorted(p for p in args.folder.glob("*.ipynb") if args.only in p.name)
    args.out.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ProcessPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(roundtrip, notebooks, [args.out] * len(notebooks), [args.timeout] * len(notebooks)))
    (args.out / "roundtrip.json").write_text(json.dumps([asdict(r) for r in rows], indent=1), encoding="utf-8")
    print(table(rows))
    return 0


def roundtrip(path: Path, out: Path, timeout: int = 600, twice: bool = True) -> Row:
    """The round trip of one notebook (never raises: a failure is a reason in the row).

    ``twice=False`` runs the original once: no cell is then known to be nondeterministic.
    """
    started = time.perf_counter()
    row = Row(path.stem)
    try:
        _roundtrip(path, _workdir(path, out), timeout, row, twice)
    except Exception as exc:  # a bench row, not a crash: report and go on
        row.reasons.append(f"bench failure: {type(exc).__name__}: {exc}"[:300])
    row.ok = not row.reasons and row.original == "clean"
    row.seconds = round(time.perf_counter() - started, 1)
    return row


def _workdir(path: Path, out: Path) -> Path:
    work = (out / path.stem).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for entry in path.parent.iterdir():
        if entry.suffix != ".ipynb" and not entry.name.startswith("."):
            (work / entry.name).symlink_to(entry.resolve())
    shutil.copy(path, work / "original.ipynb")
    return work


def _roundtrip(path: Path, work: Path, timeout: int, row: Row, twice: bool) -> None:
    import nbformat

    from nbpipe.analysis import analyze
    from nbpipe.analysis.annotate import propose
    from nbpipe.notebook import read

    original = nbformat.read(str(work / "original.ipynb"), as_version=4)
    first = execute(original, work, work / "store-original", timeout, "original.run.ipynb")
    second = execute(original, work, work / "store-original", timeout) if twice else first
    noisy = {i for i, (a, b) in enumerate(zip(first, second)) if _text(a) != _text(b)}
    row.original = _original_status(original, first)
    annotation = propose(dict(original))
    staged_path = work / "staged.ipynb"
    staged_path.write_text(json.dumps(annotation.notebook, indent=1), encoding="utf-8")
    row.stages = len(annotation.stages)
    graph = analyze(read(staged_path))
    errors, warnings = len(graph.errors), len(graph.diagnostics) - len(graph.errors)
    row.check = f"{errors} errors" if errors else f"{warnings} warnings" if warnings else "clean"
    if errors:
        row.reasons.append("check: " + "; ".join(f"{d.code} {d.message}" for d in graph.errors[:2]))
    staged = nbformat.reads(json.dumps(annotation.notebook), as_version=4)
    runs = {}
    for label in ("cold", "warm"):
        runs[label] = execute(staged, work, work / "store-kernel", timeout, f"staged.{label}.ipynb")
    for _ in range(2 if twice else 0):  # a difference may be the original's own: run it again to know
        if all(compare(first, runs[label], annotation.origin, noisy) == "equal" for label in runs):
            break
        again = execute(original, work, work / "store-original", timeout)
        noisy |= {i for i, (a, b) in enumerate(zip(first, again)) if _text(a) != _text(b)}
    for label, outputs in runs.items():
        verdict = compare(first, outputs, annotation.origin, noisy)
        setattr(row, label, verdict)
        if verdict != "equal":
            row.reasons.append(f"kernel {label}: {verdict}")
    if not annotation.stages:
        row.run = row.script = row.fingerprints = "no stages"
        return
    kernel = fingerprints_in(work / "store-kernel")
    row.run, run_prints = _nbpipe_run(staged_path, work)
    row.script, script_prints = _script(staged_path, work)
    for label, status in (("nbpipe run", row.run), ("script", row.script)):
        if not status.startswith("ok"):
            row.reasons.append(f"{label}: {status}")
    row.fingerprints = _agree(kernel, run_prints, script_prints, _random_stages(annotation.notebook))
    if not row.fingerprints.startswith("equal"):
        row.reasons.append(f"fingerprints: {row.fingerprints}")


def execute(nb: Any, work: Path, store: Path, timeout: int, save: str = "") -> list[list[dict[str, Any]]]:
    """Run All in a fresh kernel (errors allowed) with ``NBPIPE_STORE=store``; the outputs of each cell.

    ``save``: a file name in ``work`` to keep the executed notebook under (to read what differs).
    """
    import copy

    import nbclient

    copied = copy.deepcopy(nb)
    env = {**os.environ, "NBPIPE_STORE": str(store), "PYTHONHASHSEED": "0"}
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = nbclient.NotebookClient(copied, timeout=timeout, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(work)}})  # fmt: skip
    try:
        client.execute(env=env)
    except Exception as exc:  # a dead kernel, a timeout: what ran so far is the result
        error = {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc)[:200], "traceback": []}
        copied.cells.append({"cell_type": "code", "source": "", "outputs": [error]})
    if save:
        (work / save).write_text(json.dumps(copied, indent=1), encoding="utf-8")
    return [list(c.get("outputs", [])) if c.get("cell_type") == "code" else [] for c in copied.cells]


def _text(outputs: list[dict[str, Any]]) -> str:
    """The text a reader sees: streams, text/plain, errors; nbpipe's own lines left out; addresses masked."""
    parts = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            parts.append(_RESTORED.sub("", str(output.get("text", ""))))
        elif kind in {"execute_result", "display_data"}:
            data = output.get("data", {})
            if _STAGE_MIME in data:
                continue
            text = data.get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
        elif kind == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
    return _CELL_FILE.sub("(<cell>, line", _ADDRESS.sub("0x…", "".join(parts))).strip()


def _original_status(original: Any, first: list[list[dict[str, Any]]]) -> str:
    for index, outputs in enumerate(first):
        for output in outputs:
            if output.get("output_type") != "error":
                continue
            saved = original.cells[index].get("outputs", []) if index < len(original.cells) else []
            if not any(o.get("output_type") == "error" and o.get("ename") == output.get("ename") for o in saved):
                return f"fails offline: cell {index + 1} {output.get('ename')}: {str(output.get('evalue'))[:80]}"
    return "clean"


def compare(
    reference: list[list[dict[str, Any]]], staged: list[list[dict[str, Any]]], origin: list[list[int]], noisy: set[int]
) -> str:
    """ "equal", or which original cells' text the annotated run does not reproduce."""
    groups = _groups(origin, len(reference))
    differ = []
    for members in groups:
        if members & noisy:
            continue
        want = "".join(_text(reference[i]) for i in sorted(members))
        got = "".join(_text(staged[r]) for r, cells in enumerate(origin) if r < len(staged) and set(cells) <= members
                      and cells)  # fmt: skip
        if _squash(want) != _squash(got):
            differ.append(min(members) + 1)
    extra = [r for r, cells in enumerate(origin) if not cells and r < len(staged) and _errors(staged[r])]
    if extra:
        return f"error in the added cell {extra[0] + 1}"
    if not differ:
        return "equal"
    first = min(differ) - 1
    shown = next((cells for cells in origin if first in cells), [first])
    got = "".join(_text(staged[r]) for r, cells in enumerate(origin) if cells == shown and r < len(staged))
    return f"{len(differ)} cells differ (first: cell {first + 1}: {got[:100]!r})"


def _squash(text: str) -> str:
    return "".join(text.split())


def _errors(outputs: list[dict[str, Any]]) -> bool:
    return any(o.get("output_type") == "error" for o in outputs)


def _groups(origin: list[list[int]], count: int) -> list[set[int]]:
    """Original cells that share an annotated cell, joined (union-find)."""
    parent = list(range(count))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for cells in origin:
        for other in cells[1:]:
            parent[find(other)] = find(cells[0])
    groups: dict[int, set[int]] = {}
    for i in range(count):
        groups.setdefault(find(i), set()).add(i)
    return list(groups.values())


def fingerprints_in(store: Path) -> dict[str, dict[str, str]]:
    """Stage -> output -> fingerprint, from the latest entry of each stage in a store."""
    from nbpipe.cache.store import Store

    if not store.exists():
        return {}
    found: dict[str, dict[str, str]] = {}
    for manifest in Store(str(store)).entries():
        found[manifest.stage] = {name: info.fingerprint for name, info in manifest.outputs.items()}
    return found


def _records(store: Path) -> list[dict[str, Any]]:
    from nbpipe.cache.store import Store

    return Store(str(store)).records() if store.exists() else []


def _prints_of(record: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        s["name"]: {n: str(o.get("fingerprint")) for n, o in (s.get("outputs") or {}).items()}
        for s in record.get("stages", [])
    }


def _process(args: list[str], work: Path, store: Path, timeout: int = 1800) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NBPIPE_STORE": str(store), "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)


def _nbpipe_run(staged: Path, work: Path) -> tuple[str, dict[str, dict[str, str]]]:
    store = work / "store-run"
    for attempt in (1, 2):
        done = _process([sys.executable, "-c", _CLI, "run", str(staged)], work, store)
        if done.returncode != 0:
            return f"run {attempt} failed: {_last_line(done)}", {}
    records = _records(store)
    if len(records) < 2:
        return "no run records", {}
    second = [s["name"] for s in records[-1].get("stages", []) if s.get("status") != "cached"]
    status = "ok, 2nd all cached" if not second else f"2nd run re-ran {', '.join(second[:3])}"
    return status, _prints_of(records[0])


def _script(staged: Path, work: Path) -> tuple[str, dict[str, dict[str, str]]]:
    store = work / "store-script"
    script = work / "pipeline.py"
    done = _process(
        [sys.executable, "-c", _CLI, "export", str(staged), "--to", "script", "-o", str(script)], work, store
    )
    if done.returncode != 0:
        return f"export failed: {_last_line(done)}", {}
    done = _process([sys.executable, str(script)], work, store)
    if done.returncode != 0:
        return f"script failed: {_last_line(done)}", {}
    records = _records(store)
    return ("ok", _prints_of(records[-1])) if records else ("no run record", {})


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit {done.returncode}")[:160]


def _agree(
    kernel: dict[str, dict[str, str]],
    run: dict[str, dict[str, str]],
    script: dict[str, dict[str, str]],
    random: set[str] | frozenset[str] = frozenset(),
) -> str:
    """Whether the batch outputs' fingerprints equal the kernel's.

    An output is nondeterministic by itself, and counted apart, when the two batch runs
    (``nbpipe run`` and the script, each with a fresh store) disagree on it, or when its
    stage calls a library function that draws without ``random_state`` (``random``:
    ``RandomForestClassifier(n_estimators=1000)`` in a notebook that never seeds; its
    predictions differ only now and then).
    """
    names = sorted({(stage, name) for found in (run, script) for stage, outputs in found.items() for name in outputs})
    differ: list[str] = []
    noisy: list[str] = []
    for stage, name in names:
        values = {found[stage][name] for found in (run, script) if name in found.get(stage, {})}
        if values == {kernel.get(stage, {}).get(name)}:
            continue
        (noisy if len(values) > 1 or stage in random else differ).append(f"{stage}.{name}")
    if not names:
        return "nothing to compare"
    if differ:
        return f"{len(differ)} of {len(names)} differ ({', '.join(differ[:3])})"
    return f"equal ({len(names)} outputs" + (f"; {len(noisy)} nondeterministic by themselves)" if noisy else ")")


def _random_stages(nb: dict[str, Any]) -> set[str]:
    """Stages whose body calls a library function that draws when not given ``random_state``."""
    from nbpipe.analysis.annotate_split import implicit_random
    from nbpipe.analysis.defuse import parse

    found = set()
    for cell in nb["cells"]:
        header, _, body = str(cell.get("source", "")).partition("\n")
        if cell.get("cell_type") == "code" and header.startswith("%%stage ") and implicit_random(parse(body)):
            found.add(header.split()[1])
    return found


def table(rows: list[Row]) -> str:
    """The Markdown table, then the reasons for each notebook that does not round-trip."""
    head = ("| notebook | original | stages | check | kernel cold | kernel warm | `nbpipe run` ×2 | script "
            "| fingerprints | round trip |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        cells = [r.notebook, r.original if r.original == "clean" else "fails offline", str(r.stages), r.check,
                 _short(r.cold), _short(r.warm), _short(r.run), _short(r.script), _short(r.fingerprints),
                 "**yes**" if r.ok else "no"]  # fmt: skip
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    clean = [r for r in rows if r.original == "clean"]
    passed = sum(r.ok for r in clean)
    lines.append("")
    lines.append(f"Round trip: {passed} of {len(clean)} notebooks that run clean offline ({len(rows)} in all).")
    lines.append("")
    for r in rows:
        if r.original != "clean":
            lines.append(f"- {r.notebook}: the original {r.original}")
        elif not r.ok:
            lines.append(f"- {r.notebook}: " + "; ".join(r.reasons))
    return "\n".join(lines)


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "…"


if __name__ == "__main__":
    sys.exit(main())
