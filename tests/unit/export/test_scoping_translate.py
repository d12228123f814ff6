"""Stage bodies as functions (Python scoping) and IPython syntax as plain Python."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nbpipe.export.scoping import module_names, shadowed_globals
from nbpipe.export.translate import ExportError, plain_python

SETUP = {"threshold", "names", "helper", "np"}


def test_module_names_of_setup_cells() -> None:
    cells = ["import numpy as np\nfrom os import path", "def helper():\n    return 1\nclass K: pass", "t = 1"]
    found = module_names(cells)
    assert {"np", "path", "helper", "K", "t"} <= found


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("threshold = threshold * 2\ny = threshold", ["threshold"]),  # read, then rebound
        ("threshold += 1\ny = threshold", ["threshold"]),  # augmented assignment reads first
        ("names = [n for n in names]\ny = names", ["names"]),
        ("def f():\n    return threshold\ny = f()\nthreshold = 0", ["threshold"]),  # nested read
        ("y = threshold * 2", []),  # read only: a global is fine
        ("threshold = 5\ny = threshold", ["threshold"]),  # bound first: harmless either way
        ("y = [threshold for threshold in range(3)]", []),  # comprehension scope
        ("y = 1\nz = np.zeros(y)", []),
        ("global threshold\nthreshold = 1\ny = 1", []),  # declared global: not local
        ("x = x + 1\ny = x", []),  # not a setup name (the analyzer reports it)
    ],
)
def test_shadowed_globals(body: str, expected: list[str]) -> None:
    assert shadowed_globals(body, SETUP, set()) == expected


def test_shadowed_globals_skips_arguments() -> None:
    assert shadowed_globals("threshold = threshold + 1", SETUP, {"threshold"}) == []


def test_plain_python_keeps_python_verbatim() -> None:
    source = "x = 1  # a comment\n\n\ny = x\n"
    assert plain_python(source, 3, "stage 'a'") == source


def test_shell_escape_becomes_subprocess(tmp_path: object) -> None:
    code = plain_python("!echo hi\nlines = !printf 'a\\nb'\n", 2, "stage 'a'")
    assert "get_ipython" not in code and "subprocess.run" in code
    namespace: dict[str, object] = {}
    exec(compile(code, "<test>", "exec"), namespace)
    assert namespace["lines"] == ["a", "b"]


def test_session_magics_are_dropped() -> None:
    code = plain_python("%matplotlib inline\nx = 1\n", 1, "setup cell")
    assert "matplotlib" not in code and "x = 1" in code


def test_untranslatable_magic_names_cell_and_line() -> None:
    with pytest.raises(ExportError) as info:
        plain_python("x = 1\ny = 2\n%timeit x + y\n", 7, "stage 'bench'")
    message = str(info.value)
    assert "stage 'bench'" in message and "cell 8" in message and "line 3" in message and "%timeit" in message


def test_untranslatable_cell_magic_names_cell() -> None:
    with pytest.raises(ExportError, match=r"cell 5, line 1"):
        plain_python("%%bash\necho hi\n", 4, "setup cell")


def test_translated_code_runs_without_ipython() -> None:
    code = plain_python("out = !echo one\nresult = out[0]\nprint(result)\n", 1, "stage 's'")
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "one"
