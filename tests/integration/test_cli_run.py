"""``nbpipe run`` end to end: cache, resume, parameters, selection, failures, records, parallel runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cli import main
from tests.notebooks import write_nb

pytestmark = pytest.mark.usefixtures("kernel_env")


def record(folder: Path) -> dict[str, Any]:
    runs = sorted((folder / ".nbpipe" / "runs").glob("*.json"))
    return json.loads(runs[-1].read_text())


def statuses(folder: Path) -> dict[str, str]:
    return {s["name"]: s["status"] for s in record(folder)["stages"]}


@pytest.fixture
def diamond(tmp_path: Path) -> Path:
    return write_nb(
        tmp_path / "d.ipynb",
        "%load_ext nbpipe",
        "import json\n\ndef inc(v):\n    return v + 1",
        ("n = 3\nfactor = 2.0", "parameters"),
        "%%stage load --out xs\nxs = list(range(n))",
        "%%stage left --in xs --out a\na = [inc(x) for x in xs]",
        "%%stage right --in xs --out b\nb = [x * factor for x in xs]",
        "%%stage join --in a b --out total --file-out result.json\n"
        "total = sum(a) + sum(b)\nwith open('result.json', 'w') as f:\n    json.dump(total, f)",
        "print(total)",
    )


def test_run_then_rerun_is_all_cache_hits(diamond: Path, capsys: Any) -> None:
    assert main(["run", str(diamond)]) == 0
    assert statuses(diamond.parent) == dict.fromkeys(["load", "left", "right", "join"], "ran")
    assert json.loads((diamond.parent / "result.json").read_text()) == 6 + 6.0
    assert main(["run", str(diamond)]) == 0
    rec = record(diamond.parent)
    assert {s["status"] for s in rec["stages"]} == {"cached"}
    assert rec["version"] == 1 and rec["target"] == "run" and rec["status"] == "ok"
    assert rec["params"] == {"n": 3, "factor": 2.0}
    assert rec["stages"][0]["outputs"]["xs"]["bytes"] > 0


def test_parameter_override_reruns_only_what_depends_on_it(diamond: Path, capsys: Any) -> None:
    main(["run", str(diamond)])
    capsys.readouterr()
    assert main(["run", str(diamond), "-p", "factor=3"]) == 0
    out = capsys.readouterr().out
    assert statuses(diamond.parent) == {"load": "cached", "left": "cached", "right": "ran", "join": "ran"}
    assert "parameter 'factor' 2.0 → 3.0" in out
    assert main(["run", str(diamond), "-p", "n", "4", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "run  load" in out and "parameter 'n' 3 → 4" in out and "will run" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "factor=abc"], "parameter 'factor' expects float"),
        (["-p", "nope=1"], "unknown parameter 'nope'"),
        (["--only", "ghost"], "no stage named 'ghost'"),
        (["-p", "a", "b", "c"], "expected -p NAME VALUE"),
    ],
)
def test_bad_arguments_exit_with_a_message(diamond: Path, capsys: Any, args: list[str], message: str) -> None:
    assert main(["run", str(diamond), *args]) in (1, 2)
    assert message in capsys.readouterr().err


def test_failure_stops_descendants_not_siblings_and_resume(tmp_path: Path, capsys: Any) -> None:
    flag = tmp_path / "fail-left"
    flag.write_text("1")
    nb = write_nb(
        tmp_path / "f.ipynb",
        "import os",
        "%%stage load --out xs\nxs = [1, 2]",
        "%%stage left --in xs --out a\nif os.path.exists('fail-left'):\n    raise RuntimeError('left broke')\na = xs",
        "%%stage right --in xs --out b\nb = xs",
        "%%stage join --in a b --out c\nc = a + b",
    )
    assert main(["run", str(nb)]) == 1
    err = capsys.readouterr().err
    assert "stage 'left' failed: RuntimeError: left broke" in err
    assert 'cell 3>", line 3' in err  # the cell as JupyterLab numbers it, its own line
    assert statuses(tmp_path) == {"load": "ran", "left": "failed", "right": "ran", "join": "skipped"}
    flag.unlink()
    assert main(["run", str(nb)]) == 0
    assert statuses(tmp_path) == {"load": "cached", "left": "ran", "right": "cached", "join": "ran"}


def test_only_force_and_from(diamond: Path, capsys: Any) -> None:
    assert main(["run", str(diamond), "--only", "left"]) == 1  # load is not cached yet
    assert "is not cached" in capsys.readouterr().err
    main(["run", str(diamond)])
    assert main(["run", str(diamond), "--force", "right"]) == 0
    assert statuses(diamond.parent) == {"load": "cached", "left": "cached", "right": "ran", "join": "cached"}
    assert main(["run", str(diamond), "--from", "left"]) == 0
    assert statuses(diamond.parent) == {"load": "cached", "left": "ran", "right": "cached", "join": "ran"}
    assert main(["run", str(diamond), "--only", "left"]) == 0
    assert statuses(diamond.parent) == {"load": "cached", "left": "cached"}


def test_helper_and_file_changes_invalidate(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "in.txt"
    data.write_text("abc")
    helper = "def clean(t):\n    return t.strip()"
    stage = "%%stage read --file-in in.txt --out text\ntext = clean(open('in.txt').read())"
    nb = write_nb(tmp_path / "h.ipynb", helper, stage)
    main(["run", str(nb)])
    data.write_text("abcd")
    capsys.readouterr()
    main(["run", str(nb)])
    assert "file in.txt changed" in capsys.readouterr().out
    write_nb(tmp_path / "h.ipynb", "def clean(t):\n    return t.strip().upper()", stage)
    main(["run", str(nb)])
    assert "helper 'clean' changed" in capsys.readouterr().out


def test_check_gate_and_retries(tmp_path: Path, capsys: Any) -> None:
    nb = write_nb(
        tmp_path / "c.ipynb",
        "import pathlib",
        "%%stage flaky --retries 2 --out v\np = pathlib.Path('count')\nk = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(k + 1))\nif k < 2:\n    raise IOError('transient')\nv = k",
        '%%stage gate --in v --out w --check "w > 100"\nw = v * 10',
    )
    assert main(["run", str(nb)]) == 1
    rec = record(tmp_path)
    assert rec["stages"][0]["status"] == "ran" and rec["stages"][0]["attempts"] == 3
    assert "check failed for stage 'gate': w > 100 (w = 20)" in capsys.readouterr().err


def test_parallel_jobs_match_sequential(diamond: Path, tmp_path: Path) -> None:
    assert main(["run", str(diamond), "--jobs", "2", "--store", str(tmp_path / "par")]) == 0
    assert main(["run", str(diamond), "--store", str(tmp_path / "seq")]) == 0
    par = sorted((tmp_path / "par" / "runs").glob("*.json"))[-1]
    seq = sorted((tmp_path / "seq" / "runs").glob("*.json"))[-1]
    prints = [{s["name"]: s["outputs"] for s in json.loads(p.read_text())["stages"]} for p in (par, seq)]
    fp = [{k: {n: o["fingerprint"] for n, o in v.items()} for k, v in p.items()} for p in prints]
    assert fp[0] == fp[1]


def test_unwritable_store_runs_without_cache(diamond: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the store directory should be")
    with pytest.warns(UserWarning, match="without caching"):
        assert main(["run", str(diamond), "--store", str(blocked / "store")]) == 0


def test_unpicklable_output_is_a_clear_error(tmp_path: Path, capsys: Any) -> None:
    nb = write_nb(tmp_path / "u.ipynb", "%%stage gen --out g\ng = (i for i in range(3))")
    assert main(["run", str(nb)]) == 1
    err = capsys.readouterr().err
    assert "'g'" in err and "generator" in err
    manifests = (tmp_path / ".nbpipe").glob("entries/*/*/manifest.json")
    assert not [m for m in manifests if json.loads(m.read_text())["stage"] == "gen"]


def test_two_processes_at_once_share_the_store(diamond: Path) -> None:
    cmd = [sys.executable, "-m", "nbpipe.cli", "run", str(diamond)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert main(["run", str(diamond)]) == 0
    assert set(statuses(diamond.parent).values()) == {"cached"}


def test_runs_ls_show_and_lineage(diamond: Path, capsys: Any) -> None:
    main(["run", str(diamond)])
    rec = record(diamond.parent)
    capsys.readouterr()
    assert main(["runs", "ls", str(diamond)]) == 0
    assert rec["run_id"] in capsys.readouterr().out
    assert main(["runs", "show", rec["run_id"][:12], str(diamond)]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == rec["run_id"]
    assert main(["lineage", str(diamond), "total"]) == 0
    out = capsys.readouterr().out
    for expected in ("join", "left", "right", "load", "parameter n", "parameter factor", "file result.json"):
        assert expected in out


def test_cli_process_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{nope")
    proc = subprocess.run([sys.executable, "-m", "nbpipe.cli", "run", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid JSON" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "nbpipe.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("nbpipe ")


def test_debug_reruns_a_failed_stage_from_its_stored_inputs(tmp_path: Path, capsys: Any) -> None:
    nb = write_nb(
        tmp_path / "g.ipynb",
        ("limit = 2", "parameters"),
        "%%stage load --out xs\nxs = [1, 2, 3]",
        "%%stage check --in xs --out ok\nif len(xs) > limit:\n    raise ValueError(f'too many: {len(xs)}')\nok = True",
    )
    assert main(["run", str(nb)]) == 1
    capsys.readouterr()
    assert main(["debug", str(nb), "check", "--no-pdb"]) == 1
    assert "ValueError: too many: 3" in capsys.readouterr().err
    assert main(["run", str(nb), "-p", "limit=5"]) == 0
    assert main(["debug", str(nb), "check", "--no-pdb"]) == 0
    assert "succeeded with its stored inputs" in capsys.readouterr().out


def test_two_notebooks_sharing_a_folder_keep_their_own_miss_reasons(tmp_path: Path, capsys: Any) -> None:
    first = write_nb(tmp_path / "a.ipynb", "%%stage load --out xs\nxs = [1]")
    second = write_nb(tmp_path / "b.ipynb", "%%stage load --out xs\nxs = [2]")
    main(["run", str(first)])
    capsys.readouterr()
    main(["run", str(second)])
    assert "(never run)" in capsys.readouterr().out  # not "code changed": that was the other notebook's load
