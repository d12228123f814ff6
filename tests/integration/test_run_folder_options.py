"""``nbpipe run DIR`` (an exported papermill folder) honours each ``nbpipe run`` option or refuses it (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbpipe.cli import main
from tests.notebooks import write_nb


def records(store: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((store / "runs").glob("*.json"), key=lambda p: p.stat().st_mtime)]


def statuses(store: Path) -> dict[str, str]:
    return {s["name"]: s["status"] for s in records(store)[-1]["stages"]}


def export(notebook: Path, folder: Path) -> Path:
    assert main(["export", str(notebook), "--to", "papermill", "-o", str(folder)]) == 0
    return folder


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    notebook = write_nb(
        tmp_path / "chain.ipynb",
        "%load_ext nbpipe",
        ("n = 3", "parameters"),
        "%%stage load --out xs\nxs = list(range(n))",
        "%%stage double --in xs --out ys\nys = [2 * x for x in xs]",
    )
    return export(notebook, tmp_path / "pm")


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--executor", "dask"], "--executor dask"),
        (["--address", "tcp://127.0.0.1:8786"], "--address"),
        (["--no-check"], "--no-check"),
    ],
)
def test_options_a_folder_cannot_honour_are_refused(chain: Path, capsys: Any, extra: list[str], flag: str) -> None:
    assert main(["run", str(chain), *extra]) == 2
    err = capsys.readouterr().err
    assert f"{flag} does not apply to the exported papermill folder" in err
    assert "hint: drop" in err
    assert not (chain / "runs").exists()  # nothing ran


def test_unknown_stage_names_are_refused_like_for_a_notebook(chain: Path, capsys: Any) -> None:
    for flag in ("--only", "--force", "--from"):
        assert main(["run", str(chain), flag, "nope"]) == 1
        assert "nope" in capsys.readouterr().err
    assert not (chain / "runs").exists()


@pytest.mark.slow
@pytest.mark.kernel
@pytest.mark.usefixtures("kernel_env")
def test_explain_only_force_and_from(chain: Path, capsys: Any) -> None:
    store = chain.parent / ".nbpipe"
    assert main(["run", str(chain), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "load" in out and "double" in out and "never run" in out
    assert not (chain / "runs").exists() and not records(store)  # no kernel, no notebook, no record

    assert main(["run", str(chain), "--only", "load"]) == 0
    assert statuses(store) == {"load": "ran"}

    assert main(["run", str(chain), "--explain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("hit ") and "load" in line for line in lines)
    assert any(line.startswith("run ") and "double" in line for line in lines)
    assert len(records(store)) == 1

    assert main(["run", str(chain)]) == 0
    assert statuses(store) == {"load": "cached", "double": "ran"}

    assert main(["run", str(chain), "--force", "load"]) == 0
    assert statuses(store) == {"load": "ran", "double": "cached"}  # same output, same key downstream

    assert main(["run", str(chain), "--from", "load"]) == 0
    assert statuses(store) == {"load": "ran", "double": "ran"}


@pytest.mark.slow
@pytest.mark.kernel
@pytest.mark.usefixtures("kernel_env")
def test_retries(tmp_path: Path) -> None:
    notebook = write_nb(
        tmp_path / "flaky.ipynb",
        "%load_ext nbpipe",
        "from pathlib import Path",
        "%%stage flaky --out v\n"
        "tries = Path('tries.txt')\n"
        "tries.write_text(tries.read_text() + 'x' if tries.exists() else 'x')\n"
        "if len(tries.read_text()) < 2:\n"
        "    raise RuntimeError('first attempt fails')\n"
        "v = 1",
    )
    folder = export(notebook, tmp_path / "pm")
    assert main(["run", str(folder), "--retries", "1"]) == 0
    [stage] = records(tmp_path / ".nbpipe")[-1]["stages"]
    assert stage["status"] == "ran" and stage["attempts"] == 2
    assert (tmp_path / "tries.txt").read_text() == "xx"
