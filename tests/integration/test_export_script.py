"""``nbpipe export --to script``: a formatted, lint-clean script with a CLI that shares the notebook's cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cli import main
from nbpipe.runtime.runner import run_notebook
from tests.notebooks import write_nb

pytestmark = pytest.mark.usefixtures("kernel_env")

RUFF = str(Path(sys.executable).with_name("ruff"))


@pytest.fixture
def diamond(tmp_path: Path) -> Path:
    return write_nb(
        tmp_path / "diamond.ipynb",
        "%load_ext nbpipe",
        "import json\n\n\ndef inc(v):\n    return v + 1",
        ("n = 3\nfactor = 2.0\nlabel = 'x'", "parameters"),
        "%%stage load --out xs\nxs = list(range(n))",
        "%%stage left --in xs --out a\na = [inc(x) for x in xs]\na",
        "%%stage right --in xs --out b\nb = [x * factor for x in xs]",
        "%%stage join --in a b --out total --file-out result.json\n"
        "total = sum(a) + sum(b)\nwith open('result.json', 'w') as f:\n    json.dump([total, label], f)",
        "print(total)",
    )


def script_run(script: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=120, check=check
    )


def last_record(folder: Path) -> dict[str, Any]:
    runs = sorted(folder.glob("runs/*.json"))
    return json.loads(runs[-1].read_text())


def statuses(store: Path) -> dict[str, str]:
    return {s["name"]: s["status"] for s in last_record(store)["stages"]}


def export(notebook: Path, output: Path, *flags: str) -> Path:
    assert main(["export", str(notebook), "--to", "script", "-o", str(output), *flags]) == 0
    return output


def test_script_is_formatted_lint_clean_and_documented(diamond: Path, tmp_path: Path) -> None:
    script = export(diamond, tmp_path / "pipeline.py")
    for command in (["check", "--isolated"], ["format", "--isolated", "--line-length", "120", "--check"]):
        done = subprocess.run([RUFF, *command, str(script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    text = script.read_text()
    assert "def stage_left(xs: Any) -> dict[str, Any]:" in text
    assert "def stage_right(xs: Any, *, factor: Any)" in text
    assert "def run(**params: Any) -> dict[str, Any]:" in text
    assert "import nbformat" not in text and "IPython" not in text
    help_text = script_run(script, "--help").stdout
    for line in ("n: int = 3", "factor: float = 2.0", "label: str = 'x'", "--only", "--force", "--store"):
        assert line in help_text


def test_script_parameters_selection_and_store(diamond: Path, tmp_path: Path) -> None:
    script = export(diamond, tmp_path / "pipeline.py")
    store = tmp_path / "store"
    out = script_run(script, "-p", "n=5", "-p", "label=hello world", "--store", str(store)).stdout
    assert "done: 4 outputs" in out
    assert json.loads((tmp_path / "result.json").read_text()) == [15 + 20.0, "hello world"]
    record = last_record(store)
    assert record["target"] == "script" and record["params"]["n"] == 5
    assert statuses(store) == dict.fromkeys(["load", "left", "right", "join"], "ran")

    script_run(script, "-p", "n=5", "-p", "label=hello world", "--store", str(store), "--force", "left")
    assert statuses(store) == {"load": "cached", "left": "ran", "right": "cached", "join": "cached"}

    script_run(script, "-p", "n=5", "-p", "label=hello world", "--store", str(store), "--only", "right")
    assert statuses(store) == {"load": "cached", "right": "cached"}

    bad = script_run(script, "-p", "n=6", "--store", str(store), "--only", "right", check=False)
    assert bad.returncode == 1 and "stage 'load' is not cached" in bad.stderr
    mistyped = script_run(script, "-p", "n=many", check=False)
    assert mistyped.returncode == 2 and "n" in mistyped.stderr


def test_notebook_run_and_script_share_one_cache(diamond: Path, tmp_path: Path) -> None:
    store = diamond.parent / ".nbpipe"
    first = run_notebook(diamond)
    script = export(diamond, tmp_path / "out" / "pipeline.py")  # elsewhere: BASE_DIR points back
    script_run(script)
    assert statuses(store) == dict.fromkeys(["load", "left", "right", "join"], "cached")

    script_run(script, "-p", "factor=3.0")
    assert statuses(store) == {"load": "cached", "left": "cached", "right": "ran", "join": "ran"}
    again = run_notebook(diamond, params={"factor": 3.0})
    assert {r.status for r in again.stages} == {"cached"}
    assert first.outputs(["total"]) == {"total": 6 + 6.0}


def test_standalone_script_needs_no_nbpipe(diamond: Path, tmp_path: Path) -> None:
    script = export(diamond, tmp_path / "standalone.py", "--standalone")
    assert "nbpipe.runtime" not in script.read_text()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", str(script), "-p", "n=4"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "result.json").read_text()) == [10 + 12.0, "x"]
    assert not (tmp_path / ".nbpipe").exists()
    help_text = subprocess.run([sys.executable, "-I", str(script), "--help"], capture_output=True, text=True).stdout
    assert "n: int = 3" in help_text


def test_shell_escape_is_translated(tmp_path: Path) -> None:
    notebook = write_nb(
        tmp_path / "shell.ipynb",
        "%load_ext nbpipe",
        "%%stage sh --out lines --file-out shell.txt\n!echo hi > shell.txt\nlines = !cat shell.txt",
    )
    script = export(notebook, tmp_path / "pipeline.py")
    assert "subprocess.run" in script.read_text()
    script_run(script)
    assert (tmp_path / "shell.txt").read_text() == "hi\n"


def test_untranslatable_magic_fails_naming_cell_and_line(tmp_path: Path, capsys: Any) -> None:
    notebook = write_nb(
        tmp_path / "magic.ipynb", "%load_ext nbpipe", "%%stage t --out x\nx = 1\n%timeit x + 1"
    )  # fmt: skip
    assert main(["export", str(notebook), "--to", "script", "-o", str(tmp_path / "p.py")]) == 1
    err = capsys.readouterr().err
    assert (
        "stage 't' (cell 2, line 3)" in err
    )  # the second cell, numbered as JupyterLab numbers it and "%timeit x + 1" in err
    assert not (tmp_path / "p.py").exists()


def test_export_refuses_analyzer_errors_unless_forced(tmp_path: Path, capsys: Any) -> None:
    notebook = write_nb(
        tmp_path / "bad.ipynb",
        "%load_ext nbpipe",
        "%%stage a --out xs\nxs = [1, 2]\nys = [3]",
        "%%stage b --in xs --out total\ntotal = sum(xs) + sum(ys)",
    )
    assert main(["export", str(notebook), "--to", "script", "-o", str(tmp_path / "p.py")]) == 1
    err = capsys.readouterr().err
    assert "NBP101" in err and "--force" in err
    assert not (tmp_path / "p.py").exists()
    assert main(["export", str(notebook), "--to", "script", "-o", str(tmp_path / "p.py"), "--force"]) == 0


def test_stage_rebinding_a_setup_global_behaves_as_in_the_notebook(tmp_path: Path) -> None:
    notebook = write_nb(
        tmp_path / "shadow.ipynb",
        "%load_ext nbpipe",
        "threshold = 3\nnames = ('a',)",
        "%%stage grow --out y\nthreshold = threshold * 2\nnames = names + ('b',)\ny = [threshold, list(names)]",
        "%%stage use --in y --out z\nz = [y, threshold, list(names)]",  # setup values, untouched by 'grow'
    )
    run = run_notebook(notebook, store=str(tmp_path / "run_store"))
    assert run.outputs(["z"]) == {"z": [[6, ["a", "b"]], 3, ["a"]]}
    script = export(notebook, tmp_path / "pipeline.py")
    assert "def stage_grow(*, names: Any, threshold: Any)" in script.read_text()
    script_run(script, "--store", str(tmp_path / "script_store"))
    record = last_record(tmp_path / "script_store")
    want = {n: i["fingerprint"] for r in run.stages for n, i in r.outputs.items()}
    assert {n: i["fingerprint"] for s in record["stages"] for n, i in s["outputs"].items()} == want
    standalone = export(notebook, tmp_path / "standalone.py", "--standalone")
    done = subprocess.run([sys.executable, "-I", str(standalone)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_future_imports_of_setup_cells_open_the_script(tmp_path: Path) -> None:
    """``from __future__ import …`` must be the first statement of a file: the script hoists it."""
    path = write_nb(
        tmp_path / "fut.ipynb", "from __future__ import division, annotations\nN = 3", "%%stage s --out x\nx = N / 2"
    )
    script = export(path, tmp_path / "fut.py")
    text = script.read_text()
    assert "from __future__ import annotations, division" in text
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_script_computes_what_the_notebook_computes_for_odd_lines(tmp_path: Path) -> None:
    """Lines split as Python splits them (not at \\x0c or U+2028 inside a string); `t = …; t` keeps `t = …`."""
    import importlib.util

    from nbpipe.runtime.runner import RunOptions, run_notebook

    body = 's = "a\x0cb\u2028c\x85d"\nt = [1, 2, 3]; t'  # the odd characters themselves, inside the literal
    path = write_nb(tmp_path / "odd.ipynb", f"%%stage odd --out s t\n{body}")
    expected = run_notebook(path, RunOptions()).outputs()
    assert expected == {"s": "a\x0cb\u2028c\x85d", "t": [1, 2, 3]}
    script = export(path, tmp_path / "odd.py")
    spec = importlib.util.spec_from_file_location("odd_pipeline", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.run() == expected
