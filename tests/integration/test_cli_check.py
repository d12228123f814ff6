"""``nbpipe check`` and ``nbpipe graph`` as functions and as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbpipe.cli import main
from tests.analysis_notebooks.build import notebook, write
from tests.analysis_notebooks.cases import CLEAN, LOAD, TRIGGERS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_notebooks"


@pytest.fixture
def clean_nb(tmp_path: Path) -> Path:
    return write(tmp_path / "clean.ipynb", notebook(*CLEAN["diamond"]))


@pytest.fixture
def broken_nb(tmp_path: Path) -> Path:
    return write(tmp_path / "broken.ipynb", notebook(LOAD, *TRIGGERS["NBP101"]))


@pytest.fixture
def warning_nb(tmp_path: Path) -> Path:
    return write(tmp_path / "warn.ipynb", notebook(LOAD, *TRIGGERS["NBP206"]))


def test_clean_prints_one_line(clean_nb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(clean_nb)]) == 0
    assert capsys.readouterr().out == f"{clean_nb}: clean (4 stages)\n"


def test_error_text_like_a_compiler(broken_nb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(broken_nb)]) == 1
    out = capsys.readouterr().out.splitlines()
    message = "stage 'fit' reads 'ys', which stage 'prep' outputs, without declaring it"
    assert out[0] == f"{broken_nb}:cell 4:2:13: NBP101 error {message}"  # cells 1-based, as JupyterLab shows them
    assert out[1] == "    hint: declare it: %%stage fit --in xs ys"
    assert out[-1] == f"{broken_nb}: 1 error, 0 warnings (2 stages)"


def test_warnings_exit_zero_unless_strict(warning_nb: Path) -> None:
    assert main(["check", str(warning_nb)]) == 0
    assert main(["check", "--strict", str(warning_nb)]) == 1
    assert main(["check", "--strict", "--ignore", "NBP206", str(warning_nb)]) == 0


def test_select(broken_nb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--select", "NBP2", str(broken_nb)]) == 0
    assert "clean" in capsys.readouterr().out


def test_json_is_graph_v1(broken_nb: Path, clean_nb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", "--format", "json", str(broken_nb)])
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 1 and data["order"] == ["prep", "fit"]
    assert [d["code"] for d in data["diagnostics"]] == ["NBP101"]
    main(["check", "--format", "json", str(broken_nb), str(clean_nb)])
    assert [g["notebook"] for g in json.loads(capsys.readouterr().out)] == [str(broken_nb), str(clean_nb)]


def test_github_annotations(broken_nb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", "--format", "github", str(broken_nb)])
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"::error file={broken_nb},title=NBP101 (cell 4%2C line 2)::stage 'fit' reads 'ys'")
    assert "%25%25stage fit --in xs ys" in line


def test_unreadable_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{oops", encoding="utf-8")
    r_nb = write(tmp_path / "r.ipynb", notebook("x <- 1", language="R"))
    assert main(["check", str(bad)]) == 2
    assert "invalid JSON" in capsys.readouterr().err
    assert main(["check", str(r_nb)]) == 2
    assert "Python notebooks only" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.ipynb")]) == 2
    assert main(["graph", str(bad)]) == 2


def test_examples() -> None:
    assert main(["check", str(EXAMPLES / "iris_classifier.ipynb"), str(EXAMPLES / "sales_etl.ipynb")]) == 0
    assert main(["check", str(EXAMPLES / "hidden_state.ipynb")]) == 1


def test_hidden_state_flags_every_hazard(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "hidden_state.ipynb"
    main(["check", "--format", "json", str(path)])
    found = {d["code"] for d in json.loads(capsys.readouterr().out)["diagnostics"]}
    assert {"NBP101", "NBP201", "NBP202", "NBP203", "NBP208", "NBP206"} <= found


@pytest.mark.parametrize("fmt", ["json", "mermaid", "dot"])
def test_graph_formats(clean_nb: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"g.{fmt}"
    assert main(["graph", str(clean_nb), "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    expected = {
        "json": '"source": "load"',
        "mermaid": 's_load -->|"raw"| s_left',
        "dot": '"load" -> "left" [label="raw"]',
    }
    assert expected[fmt] in text


def test_check_as_a_process(broken_nb: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "nbpipe.cli", "check", str(broken_nb)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "NBP101 error stage 'fit'" in proc.stdout
    assert "\033[" not in proc.stdout  # not a TTY: no colour


# -- annotate ------------------------------------------------------------------------------------


def _strip_headers(nb: dict) -> dict:
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if source.startswith("%%stage"):
            cell["source"] = source.split("\n", 1)[1]
    return nb


def _plain_notebooks(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    from tests.analysis_notebooks.plain import PLAIN

    found = {
        name: (write(tmp_path / f"{name}.ipynb", notebook(*cells)), names) for name, (cells, names) in PLAIN.items()
    }
    if (EXAMPLES / "iris_classifier.ipynb").exists():
        for name, names in (("iris_classifier", ["accuracy"]), ("sales_etl", ["summary"])):
            nb = _strip_headers(json.loads((EXAMPLES / f"{name}.ipynb").read_text(encoding="utf-8")))
            found[name] = (write(tmp_path / f"{name}.ipynb", nb), names)
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / "sales.csv").write_bytes((EXAMPLES / "data" / "sales.csv").read_bytes())
    return found


def test_annotate_never_overwrites_without_in_place(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.ipynb", notebook("a = list(range(3))", "b = a + [1]", "print(b)"))
    before = path.read_text(encoding="utf-8")
    assert main(["annotate", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == before
    staged = json.loads((tmp_path / "plain.staged.ipynb").read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in staged["cells"]]  # lines split as Jupyter saves them
    assert sources[0] == "%load_ext nbpipe"
    assert any(src.startswith("%%stage ") for src in sources)  # the proposal went to plain.staged.ipynb
    assert sources[-1] == "print(b)"  # an exploration cell stays a plain cell
    assert main(["annotate", str(path), "-o", str(path)]) == 1
    assert main(["annotate", str(path), "--in-place"]) == 0
    assert path.read_text(encoding="utf-8") != before


def test_annotated_notebooks_pass_check(tmp_path: Path) -> None:
    for path, _ in _plain_notebooks(tmp_path).values():
        out = path.with_suffix(".staged.ipynb")
        assert main(["annotate", str(path), "-o", str(out)]) == 0
        assert main(["check", "--ignore", "NBP2", str(out)]) == 0, out.read_text(encoding="utf-8")


def _run_and_print(path: Path, names: list[str], cwd: Path) -> str:
    import nbclient
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("\n".join(f"print(repr({n}))" for n in names)))
    nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")


def test_annotated_notebooks_compute_the_same_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for name, (path, names) in _plain_notebooks(tmp_path).items():
        out = path.with_suffix(".staged.ipynb")
        assert main(["annotate", str(path), "-o", str(out)]) == 0
        assert _run_and_print(out, names, tmp_path) == _run_and_print(path, names, tmp_path), name
