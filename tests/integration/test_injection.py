"""Hostile parameter values and file paths are data in every exported artifact, never code (DESIGN §7).

The notebook's folder and file name, a ``--file-in`` path, the parameter default and the
run-time overrides hold quotes, backslashes, newlines, triple quotes, braces and
``'; import os; os.system("touch PWNED")``. Every export is written, checked to parse,
and executed; no ``PWNED`` file may appear and the values must come back exactly.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbpipe.export import export_notebook
from nbpipe.export.papermill_run import run_papermill

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("kernel_env")]

INJECT = '\'; import os; os.system("touch PWNED")'
DEFAULT = "q'uo\"te \\back\\slash\nnew\r\nline \"\"\" ''' {} {0} {label!r} " + INJECT + ' #"""'
OVERRIDE = '"""); import os; os.system("touch PWNED"); ("""\n\\' + INJECT + "{}\\n"
FOLDER = 'we\'ird "dir" {} $x'
NOTEBOOK = "n'b\"{}.ipynb"
DATA = "da'ta\" {} \\ ; import os.csv"  # a file name: no newline, no slash


def hostile_notebook(root: Path) -> Path:
    folder = root / FOLDER
    folder.mkdir(parents=True)
    (folder / DATA).write_text("payload,1\n", encoding="utf-8")
    cells = [
        nbformat.v4.new_code_cell("%load_ext nbpipe"),
        nbformat.v4.new_code_cell(f"label = {DEFAULT!r}", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(f"import json\n\nDATA = {DATA!r}"),
        nbformat.v4.new_code_cell(
            f"%%stage load --file-in {_quoted(DATA)} --out text\n"
            "with open(DATA, encoding='utf-8') as handle:\n    text = handle.read()"
        ),
        nbformat.v4.new_code_cell(
            "%%stage echo --in text --out echoed --file-out echo.json\n"
            "echoed = [label, text, DATA]\n"
            "with open('echo.json', 'w', encoding='utf-8') as handle:\n    json.dump(echoed, handle)"
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / NOTEBOOK
    nbformat.write(nb, path)
    return path


def _quoted(path: str) -> str:
    import shlex

    return shlex.quote(path)


def echoed(notebook: Path) -> list[str]:
    data: list[str] = json.loads((notebook.parent / "echo.json").read_text(encoding="utf-8"))
    (notebook.parent / "echo.json").unlink()
    return data


def no_pwned(root: Path) -> None:
    found = [p for p in root.rglob("*PWNED*")] + [p for p in Path.cwd().glob("PWNED")]
    assert not found, f"injected code ran: {found}"


def expect(label: str) -> list[str]:
    return [label, "payload,1\n", DATA]


def assert_parses(path: Path) -> None:
    ast.parse(path.read_text(encoding="utf-8"))


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # a PWNED written to the cwd lands here
    return hostile_notebook(tmp_path)


def test_script_exports_keep_hostile_values_as_data(hostile: Path, tmp_path: Path) -> None:
    script = Path(export_notebook(hostile, "script", hostile.parent / "pipe'line.py"))
    assert_parses(script)
    env = {**os.environ, "NBPIPE_STORE": str(tmp_path / "store")}
    run = [sys.executable, str(script)]
    subprocess.run(run, check=True, env=env, capture_output=True, text=True, timeout=120)
    assert echoed(hostile) == expect(DEFAULT)
    done = subprocess.run(
        [*run, "-p", "label=" + json.dumps(OVERRIDE)], check=True, env=env, capture_output=True, text=True, timeout=120
    )
    assert echoed(hostile) == expect(OVERRIDE), done.stdout
    help_text = subprocess.run([*run, "--help"], check=True, env=env, capture_output=True, text=True).stdout
    assert repr(DEFAULT) in help_text
    code = f"import runpy; ns = runpy.run_path({str(script)!r}); ns['run'](label={OVERRIDE + '!'!r})"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, timeout=120)
    assert echoed(hostile) == expect(OVERRIDE + "!")
    no_pwned(tmp_path)


def test_standalone_script_keeps_hostile_values_as_data(hostile: Path, tmp_path: Path) -> None:
    script = Path(export_notebook(hostile, "script", tmp_path / "standalone.py", standalone=True))
    assert_parses(script)
    assert "nbpipe" not in "".join(
        line for line in script.read_text().splitlines() if line.startswith(("import", "from"))
    )
    subprocess.run([sys.executable, "-I", str(script)], check=True, capture_output=True, timeout=120)
    assert echoed(hostile) == expect(DEFAULT)
    arg = "label=" + json.dumps(OVERRIDE)
    subprocess.run([sys.executable, "-I", str(script), "-p", arg], check=True, capture_output=True, timeout=120)
    assert echoed(hostile) == expect(OVERRIDE)
    no_pwned(tmp_path)


def test_papermill_export_keeps_hostile_values_as_data(hostile: Path, tmp_path: Path) -> None:
    folder = Path(export_notebook(hostile, "papermill", tmp_path / "pm {x} '\""))
    manifest = json.loads((folder / "pipeline.json").read_text(encoding="utf-8"))
    assert manifest["plan"]["defaults"] == {"label": DEFAULT}
    for notebook in folder.glob("*.ipynb"):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "code":
                ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith("%")))
    result = run_papermill(str(folder), {"label": OVERRIDE}, store=str(tmp_path / "pm_store"))
    assert result.status == "ok", [(r.name, r.error) for r in result.failed]
    assert echoed(hostile) == expect(OVERRIDE)
    assert len(list((folder / "runs" / result.run_id).glob("*.ipynb"))) == 2
    no_pwned(tmp_path)


def test_airflow_dag_keeps_hostile_values_as_data(hostile: Path, tmp_path: Path, airflow_dags: Path) -> None:
    dag_file = airflow_dags / "hostile_dag.py"
    store = tmp_path / "st'ore {}"
    export_notebook(hostile, "airflow", dag_file, store=str(store), dag_id="nbpipe_test_hostile")
    assert_parses(dag_file)
    import importlib.util

    spec = importlib.util.spec_from_file_location("hostile_dag", dag_file)
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.PARAMETERS == {"label": DEFAULT} and module.STORE == str(store)
    try:
        dagrun = module.dag.test(run_conf={"label": OVERRIDE})
    finally:
        dag_file.unlink()
    assert "success" in str(dagrun.state).lower()
    assert echoed(hostile) == expect(OVERRIDE)
    no_pwned(tmp_path)
