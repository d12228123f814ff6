"""Regression tests of issue 9: one graph, one cache protocol, one status — the same answer in every target."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from nbpipe.analysis import analyze
from nbpipe.cache.store import Store
from nbpipe.cli import main
from nbpipe.notebook import read
from nbpipe.runtime.plan import plan_notebook
from nbpipe.runtime.runner import RunOptions, run_notebook
from nbpipe.runtime.status import notebook_status
from tests.notebooks import write_nb


def _records(folder: Path) -> list[dict[str, Any]]:
    runs = sorted((folder / ".nbpipe" / "runs").glob("*.json"))
    return [json.loads(p.read_text()) for p in runs]


def _stages(record: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in record["stages"]}


def test_the_analyzer_order_is_the_runner_order(tmp_path: Path) -> None:
    """a -> b and an independent c: every view orders a, b, c (notebook order among ready stages)."""
    path = write_nb(
        tmp_path / "o.ipynb",
        "%%stage a --out x\nx = 1",
        "%%stage b --in x --out y\ny = x + 1",
        "%%stage c --out z\nz = 3",
    )
    nb = read(path)
    assert analyze(nb).order == plan_notebook(nb).order == ("a", "b", "c")
    result = run_notebook(path, RunOptions(jobs=1))
    assert [s.name for s in result.stages] == ["a", "b", "c"]
    assert main(["export", str(path), "--to", "script", "-o", str(tmp_path / "o.py")]) == 0
    text = (tmp_path / "o.py").read_text()
    assert text.index("def stage_a(") < text.index("def stage_b(") < text.index("def stage_c(")
    done = subprocess.run([sys.executable, str(tmp_path / "o.py")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [s["name"] for s in _records(tmp_path)[-1]["stages"]] == ["a", "b", "c"]


def test_setup_values_from_the_environment_enter_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`N = os.environ.get(...)` in a setup cell: a new value is a miss in every run, never a stale hit."""
    path = write_nb(
        tmp_path / "env.ipynb", 'import os\nN = os.environ.get("NBP_TEST_N", "1")', "%%stage t --out y\ny = N * 3"
    )
    for value, status in (("1", "ran"), ("5", "ran"), ("5", "cached"), ("1", "cached")):
        monkeypatch.setenv("NBP_TEST_N", value)
        result = run_notebook(path, RunOptions())
        assert result.stages[0].status == status
        assert result.outputs(["y"]) == {"y": value * 3}
    monkeypatch.setenv("NBP_TEST_N", "7")
    assert run_notebook(path, RunOptions(explain=True)).stages[0].reason == "parameter 'N' '1' → '7'"


def test_a_literal_setup_memo_skips_the_setup_cells(tmp_path: Path) -> None:
    """Literals are remembered: a fully cached re-run computes keys without running setup cells."""
    marker = tmp_path / "ran"
    path = write_nb(
        tmp_path / "lit.ipynb",
        f"import pathlib\nN = 3\ndef side_effect():\n    pathlib.Path({str(marker)!r}).touch()",
        "side_effect()  # an exploration cell: never part of the pipeline",
        "%%stage t --out y\ny = N * 2",
    )
    assert run_notebook(path, RunOptions()).status == "ok"
    assert [s.status for s in run_notebook(path, RunOptions()).stages] == ["cached"]


def test_corrupt_upstream_entry_reruns_its_producer(tmp_path: Path) -> None:
    path = write_nb(
        tmp_path / "c.ipynb", "%%stage a --out x\nx = list(range(5))", "%%stage b --in x --out y\ny = sum(x)"
    )
    assert run_notebook(path, RunOptions()).status == "ok"
    for payload in (tmp_path / ".nbpipe" / "entries").rglob("x.*"):
        payload.write_bytes(b"garbage")
    (tmp_path / ".nbpipe" / "stages").joinpath("c.ipynb").exists()
    Store(tmp_path / ".nbpipe").clear(stage="b")
    with pytest.warns(UserWarning):
        result = run_notebook(path, RunOptions())
    assert result.status == "ok", result.failures()
    assert _stages(_records(tmp_path)[-1]) == {"a": "ran", "b": "ran"}
    assert result.outputs(["y"]) == {"y": 10}


def test_unwritable_store_runs_uncached_with_one_warning(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        store = "memory-less"  # root ignores permissions: point the store at a file instead of a folder
        (tmp_path / store).write_text("not a folder")
    else:
        store = "ro"
        (tmp_path / store).mkdir(mode=0o500)
    path = write_nb(tmp_path / "u.ipynb", "%%stage a --out x\nx = 1", "%%stage b --in x --out y\ny = x + 1")
    with pytest.warns(UserWarning) as caught:
        result = run_notebook(path, RunOptions(store=str(tmp_path / store)))
    assert result.status == "ok"
    assert result.values == {"x": 1, "y": 2}
    assert [str(w.message) for w in caught if "nbpipe" in str(w.message)] == [str(caught[0].message)]  # one warning


@pytest.mark.parametrize("value", ["lambda v: v", "(i for i in range(3))", "open(__import__('os').devnull)"])
def test_unpicklable_outputs_fail_the_stage_in_every_target(tmp_path: Path, value: str) -> None:
    path = write_nb(tmp_path / "p.ipynb", f"%%stage a --out f\nf = {value}", "%%stage b --out g\ng = 1")
    result = run_notebook(path, RunOptions(check=False))
    assert _stages_of(result) == {"a": "failed", "b": "ran"}
    assert "'f'" in (result.failed[0].error or "")
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.run_line_magic("load_ext", "nbpipe")
    shell.run_line_magic("nbpipe", f"config store={tmp_path / 'k'}")
    with pytest.raises(UsageError, match="'f'"):
        shell.run_cell_magic("stage", "a --out f", f"f = {value}")


def _stages_of(result: Any) -> dict[str, str]:
    return {s.name: s.status for s in result.stages}


def test_in_place_change_of_an_input_fails_in_every_target(tmp_path: Path) -> None:
    path = write_nb(
        tmp_path / "m.ipynb",
        "%%stage a --out xs\nxs = [3, 1, 2]",
        "%%stage b --in xs --out n\nxs.sort()\nn = len(xs)",
    )
    result = run_notebook(path, RunOptions(check=False))
    assert _stages_of(result) == {"a": "ran", "b": "failed"}
    assert "NBP201" in (result.failed[0].error or "")
    assert main(["export", str(path), "--to", "script", "-o", str(tmp_path / "m.py"), "--force"]) == 0
    done = subprocess.run([sys.executable, str(tmp_path / "m.py")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "NBP201" in done.stderr


def test_status_agrees_after_a_batch_run_and_propagates(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).parents[2] / "example_notebooks" / "iris_classifier.ipynb", tmp_path / "iris.ipynb")
    path = tmp_path / "iris.ipynb"
    assert {s.status for s in notebook_status(read(path)).values()} == {"never-run"}
    assert run_notebook(path, RunOptions()).status == "ok"
    assert {s.status for s in notebook_status(read(path)).values()} == {"fresh"}
    data = json.loads(path.read_text())
    for cell in data["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = "".join(cell["source"]).replace("C = 1.0", "C = 0.5")
    path.write_text(json.dumps(data))
    found = {n: (s.status, s.reason) for n, s in notebook_status(read(path)).items()}
    assert found["split"][0] == "fresh"
    assert found["train"] == ("stale", "parameter 'C' 1.0 → 0.5")
    assert found["evaluate"] == ("stale", "upstream 'train' is stale")
    explained = {s.name: s.reason for s in run_notebook(path, RunOptions(explain=True)).stages}
    assert explained["train"] == "parameter 'C' 1.0 → 0.5"
    graph = json.loads(subprocess.run(
        [sys.executable, "-m", "nbpipe.cli", "graph", str(path)], capture_output=True, text=True, check=True
    ).stdout)  # fmt: skip
    assert graph["minor"] >= 1  # 1 added the reason
    assert {s["name"]: s["status"] for s in graph["stages"]}["evaluate"] == "stale"


def test_status_from_saved_bundles_sees_a_changed_input(tmp_path: Path) -> None:
    """Without a batch memo (kernel runs only), a stage whose producer re-ran with new code is stale."""
    from nbpipe.runtime.status import pipeline_status
    from nbpipe.source import source_hash

    cells = ["%%stage a --out x\nx = 1", "%%stage b --in x --out y\ny = x + 1"]
    path = write_nb(tmp_path / "k.ipynb", *cells)
    first = run_notebook(path, RunOptions())
    path = write_nb(tmp_path / "k.ipynb", "%%stage a --out x\nx = 2", cells[1])
    second = run_notebook(path, RunOptions(only=["a"]))
    plan = plan_notebook(read(path))
    keys = {"a": second.stages[0].key, "b": first.stages[1].key}
    bundles = {
        name: {"stage": name, "key": keys[name], "status": "ran",
               "source_hash": source_hash(stage.header.canonical(), stage.body)}
        for name, stage in plan.stages.items()
    }  # fmt: skip
    found = pipeline_status(plan, Store.for_notebook(path), lambda stage: None, bundles)
    assert (found["a"].status, found["b"].status, found["b"].reason) == ("fresh", "stale", "input 'x' changed")


def test_the_exported_script_runs_uncached_on_an_unwritable_store(tmp_path: Path) -> None:
    """The same fault policy as nbpipe run: one warning, exit 0, the outputs computed."""
    (tmp_path / "blocked").write_text("not a folder")
    path = write_nb(tmp_path / "w.ipynb", "%%stage a --out x\nx = 1", "%%stage b --in x --out y\ny = x + 1")
    assert main(["export", str(path), "--to", "script", "-o", str(tmp_path / "w.py")]) == 0
    done = subprocess.run(
        [sys.executable, str(tmp_path / "w.py"), "--store", str(tmp_path / "blocked" / "store")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("not cached") == 1 and "Traceback" not in done.stderr


def test_a_run_id_prefix_matching_several_runs_is_refused(tmp_path: Path) -> None:
    path = write_nb(tmp_path / "r.ipynb", "%%stage a --out x\nx = 1")
    first = run_notebook(path, RunOptions())
    run_notebook(path, RunOptions())
    assert main(["runs", "show", first.run_id[:4], "--store", str(tmp_path / ".nbpipe")]) == 1
    assert main(["runs", "show", first.run_id, "--store", str(tmp_path / ".nbpipe")]) == 0


SHELL_CELLS = (
    "%%stage ls --out listing\nd = 'sub'\nlisting = !ls $d",
    "%%stage echo --out v\nname = 'zz'\nout = !echo {name}-$name\nv = out[0]",
)


def test_shell_lines_mean_in_nbpipe_run_what_they_mean_in_the_kernel(tmp_path: Path, shell: Any) -> None:
    """``!cmd $var`` / ``{expr}`` are expanded by IPython's own formatter in batch runs too (issue 11 §3)."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("")
    path = write_nb(tmp_path / "sh.ipynb", *SHELL_CELLS)
    result = run_notebook(path, RunOptions())
    assert result.status == "ok", result.failures()
    assert result.outputs() == {"listing": ["a.txt"], "v": "zz-zz"}
    shell.run_line_magic("nbpipe", f"config notebook={path}")
    for source in SHELL_CELLS:  # the kernel: the same values, restored from the entries the batch run wrote
        line, _, body = source.partition("\n")
        shell.run_cell_magic("stage", line.removeprefix("%%stage "), body)
    runs = shell.magics_manager.registry["NbpipeMagics"].session.runs
    assert {name: runs[name].status for name in ("ls", "echo")} == {"ls": "cached", "echo": "cached"}  # same keys
    assert list(shell.user_ns["listing"]) == ["a.txt"] and shell.user_ns["v"] == "zz-zz"
    assert main(["export", str(path), "--to", "script", "-o", str(tmp_path / "sh.py")]) == 1  # refused, not run raw
