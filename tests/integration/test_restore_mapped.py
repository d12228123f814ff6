"""Memory-mapped restores in a real IPython shell and in ``nbpipe run`` (issue 16 §6).

With ``NBPIPE_MMAP_MIN=0`` every array and frame payload is mapped copy-on-write: what a
hit restores is the stage's value, stays writable, and changing it never changes the entry;
a stage that changes a mapped input in place still fails with NBP201.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from IPython.utils.capture import capture_output

from nbpipe.cli import main
from tests.notebooks import write_nb


def run(shell: Any, source: str) -> Any:
    with capture_output():
        result = shell.run_cell(source)
    return result


def status(shell: Any, stage: str) -> str:
    return str(shell.magics_manager.registry["NbpipeMagics"].session.runs[stage].status)


def test_a_restored_array_is_the_value_and_changing_it_leaves_the_entry(
    shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBPIPE_MMAP_MIN", "0")
    run(shell, "import numpy as np")
    stage = "%%stage make --out arr\narr = np.arange(100_000.0)"
    assert run(shell, stage).success
    assert run(shell, stage).success and status(shell, "make") == "cached"
    restored = shell.user_ns["arr"]
    assert restored.flags.writeable
    np.testing.assert_array_equal(restored, np.arange(100_000.0))
    assert run(shell, "arr[:10] = -1").success  # an exploration cell may change its copy
    assert run(shell, stage).success and status(shell, "make") == "cached"
    np.testing.assert_array_equal(shell.user_ns["arr"], np.arange(100_000.0))


def test_changing_a_mapped_input_in_place_is_still_nbp201(shell: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBPIPE_MMAP_MIN", "0")
    run(shell, "import numpy as np")
    stage = "%%stage make --out arr\narr = np.ones(50_000)"
    run(shell, stage)
    run(shell, stage)
    assert status(shell, "make") == "cached"
    result = run(shell, "%%stage scale --in arr --out total\narr *= 2\ntotal = arr.sum()")
    assert not result.success and "NBP201" in str(result.error_in_exec)


def test_nbpipe_run_restores_mapped_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBPIPE_MMAP_MIN", "0")
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    notebook = write_nb(
        tmp_path / "big.ipynb",
        "%load_ext nbpipe",
        "import json\nimport numpy as np\nimport pandas as pd",
        "%%stage make --out arr frame\narr = np.arange(200_000.0)\nframe = pd.DataFrame({'a': arr, 'b': arr * 2})",
        "%%stage total --in arr frame --out result --file-out result.json\n"
        "result = float(arr.sum() + frame['b'].sum())\n"
        "with open('result.json', 'w') as f:\n    json.dump(result, f)",
    )
    expected = float(np.arange(200_000.0).sum() * 3)
    assert main(["run", str(notebook)]) == 0
    assert main(["run", str(notebook), "--force", "total"]) == 0  # loads both inputs from the store
    assert json.loads((tmp_path / "result.json").read_text()) == expected
