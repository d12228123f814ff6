"""What users see names and points at (issue 11 §4): ``%%stage`` names are NFKC-normalised as Python
normalises identifiers, and nbpipe's warnings about a stage point at the stage's cell, not at nbpipe."""

from __future__ import annotations

import linecache
import warnings
from pathlib import Path
from typing import Any

from IPython.utils.capture import capture_output

from nbpipe.analysis import analyze
from nbpipe.header import parse_header
from nbpipe.notebook import read
from tests.notebooks import write_nb


def test_header_names_are_nfkc_as_python_reads_identifiers() -> None:
    header = parse_header("ﬁt --in ａ@prep.ipynb ｂ --out ｘ x¹")
    assert (header.name, header.inputs, header.outputs) == ("fit", ("a", "b"), ("x", "x1"))
    assert header.notebook_inputs == (("a", "prep.ipynb"),)
    assert header.canonical() == "fit --in a@prep.ipynb b --out x x1"
    assert parse_header("fit --out x") == parse_header("fit --out x")  # ASCII: unchanged, by the fast path


def test_analyzer_matches_nfkc_names_with_the_body(tmp_path: Path) -> None:
    nb = write_nb(tmp_path / "nb.ipynb", "%%stage ﬁt --out ｘ\nｘ = 1", "%%stage use --in x --out y\ny = x + 1")
    graph = analyze(read(nb))
    assert [s.name for s in graph.stages] == ["fit", "use"]
    assert [d.code for d in graph.diagnostics if d.severity == "error"] == []


def test_nfkc_stage_runs_in_a_real_shell(shell: Any) -> None:
    with capture_output():
        result = shell.run_cell("%%stage ﬁt --out ｘ\nｘ = 41")
        assert result.success
        result = shell.run_cell("%%stage use --in x --out y\ny = x + 1")
    assert result.success and shell.user_ns["y"] == 42


def test_a_stage_warning_points_at_the_stage_cell(shell: Any, tmp_path: Path) -> None:
    (tmp_path / ".nbpipe").mkdir()
    (tmp_path / ".nbpipe" / "entries").write_text("")  # a file where a folder should be: nothing can be saved
    with warnings.catch_warnings(record=True) as caught, capture_output():
        warnings.simplefilter("always")
        assert shell.run_cell("%%stage make --out v\nv = list(range(5))").success
    [warning] = [w for w in caught if "stage 'make'" in str(w.message)]
    assert "results not cached" in str(warning.message)
    assert "nbpipe" not in Path(warning.filename).parts and warning.filename.startswith("<ipython-input-")
    assert warning.lineno == 1  # the header line of the stage's cell, as IPython names the cell
    assert linecache.getline(warning.filename, 1) == "%%stage make --out v\n"


def test_a_corrupt_entry_found_on_restore_is_reported_with_the_stage(shell: Any, tmp_path: Path) -> None:
    cell = "%%stage make --out v\nv = list(range(5))"
    with capture_output():
        assert shell.run_cell(cell).success
    [payload] = [p for p in (tmp_path / ".nbpipe" / "entries").rglob("*") if p.suffix == ".pkl5"]
    payload.write_bytes(b"\x00" + payload.read_bytes()[1:])  # a flipped byte: the entry is corrupt
    with warnings.catch_warnings(record=True) as caught, capture_output() as out:
        warnings.simplefilter("always")
        assert shell.run_cell(cell).success
    shown = out.stdout + out.stderr + " ".join(str(w.message) for w in caught)
    assert "corrupt" in shown  # the fault is reported, then the stage ran again
    assert shell.user_ns["v"] == [0, 1, 2, 3, 4]
