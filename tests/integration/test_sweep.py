"""bench/sweep.py on a small folder: every file in its own process, tracebacks and timeouts found, none from nbpipe."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import nbformat
from nbformat import v3

from tests.analysis_notebooks.build import notebook, write

ROOT = Path(__file__).resolve().parents[2]


def _sweep() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sweep", ROOT / "bench" / "sweep.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def _corpus(folder: Path) -> None:
    write(folder / "clean.ipynb", notebook("%load_ext nbpipe", "import math", "%%stage s --out x\nx = math.pi"))
    write(folder / "nested" / "errors.ipynb", notebook("print(later)", "later = 1"))
    (folder / "nested" / "broken.ipynb").write_text('{"nbformat": 4, "cells": 5}', encoding="utf-8")
    (folder / "deep.ipynb").write_text('{"nbformat": 4, "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}")
    old = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[v3.new_code_cell(input="y = 2")])])
    (folder / "old.ipynb").write_text(v3.writes_json(old), encoding="utf-8")
    write(folder / "r.ipynb", notebook("x <- 1", language="R"))
    nbformat.write(nbformat.v4.new_notebook(), folder / "empty.ipynb")


def test_a_sweep_classifies_every_file_and_finds_no_traceback(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "nested").mkdir(parents=True)
    _corpus(corpus)
    out = tmp_path / "sweep.json"
    assert _sweep().main([str(corpus), "--timeout", "120", "--jobs", "2", "--json", str(out)]) == 0
    outcomes = json.loads(out.read_text())
    codes = {(Path(o["file"]).name, o["command"]): o["code"] for o in outcomes}
    assert len(codes) == 14 and not any(o["failed"] for o in outcomes)
    assert codes[("clean.ipynb", "check")] == 0 and codes[("errors.ipynb", "check")] == 1
    assert codes[("broken.ipynb", "check")] == codes[("deep.ipynb", "check")] == codes[("r.ipynb", "annotate")] == 2
    assert codes[("old.ipynb", "annotate")] == 0 and all(o["work"] <= o["seconds"] for o in outcomes)


def test_a_traceback_an_odd_exit_code_and_a_timeout_each_count(tmp_path: Path) -> None:
    sweep = _sweep()
    assert "ZeroDivisionError" in sweep._traceback(
        1, "x\nTraceback (most recent call last):\n  ...\nZeroDivisionError: boom\n"
    )
    assert sweep._traceback(-11, "").startswith("exit code -11 (signal 11)")
    assert sweep._traceback(2, "nbpipe: error: bad notebook") == ""
    hung = sweep.run_one(tmp_path, "check", ["sleep", "5"], timeout=0.5)
    assert hung.failed and hung.code is None and hung.traceback == "timeout after 0.5 s"
