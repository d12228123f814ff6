"""``%%stage fit --in features@prep.py`` in a real IPython shell and a real kernel: restored from the one store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from nbpipe.model import STAGE_MIME
from nbpipe.runtime.runner import run_notebook
from tests.projects import prep as _prep
from tests.projects import train as _train
from tests.projects import write as _write

FIT = ("fit --in features@prep.py --out model", "model = sum(features)")  # as train.ipynb has it


def test_the_kernel_restores_an_output_of_another_notebook(shell: Any, tmp_path: Path) -> None:
    _prep(tmp_path)
    run_notebook(tmp_path / "prep.py")
    shell.run_cell_magic("stage", *FIT)
    assert shell.user_ns["model"] == 90
    assert "features" not in shell.user_ns  # read by the stage, not bound in the kernel
    batch = run_notebook(_train(tmp_path))  # the kernel's key is the batch key: fit comes from the cache
    assert {r.name: r.status for r in batch.stages}["fit"] == "cached"


def test_the_kernel_says_how_to_produce_an_output_that_is_not_cached(shell: Any, tmp_path: Path) -> None:
    _prep(tmp_path)
    result = shell.run_cell(f"%%stage {FIT[0]}\n{FIT[1]}")
    message = str(result.error_in_exec)
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "stage 'fit' reads 'features' from prep.py" in message
    assert "stage 'featurize' of prep.py has not run" in message
    assert "run nbpipe run prep.py (or run stage 'featurize' in prep.py with its upstream" in message
    run_notebook(tmp_path / "prep.py")
    _prep(tmp_path, factor="3")  # edited since: the cached features are not those of prep.py as it is now
    message = str(shell.run_cell(f"%%stage {FIT[0]}\n{FIT[1]}").error_in_exec)
    assert "stage 'featurize' of prep.py is stale (code changed (line 2))" in message
    run_notebook(tmp_path / "prep.py")
    shell.run_cell_magic("stage", *FIT)
    assert shell.user_ns["model"] == 135


def test_a_notebook_in_another_folder_names_the_store_to_use(shell: Any, tmp_path: Path) -> None:
    (tmp_path / "prep").mkdir()
    _prep(tmp_path / "prep")
    result = shell.run_cell("%%stage fit --in features@prep/prep.py --out model\nmodel = sum(features)")
    assert f"nbpipe run prep/prep.py --store {tmp_path / '.nbpipe'}" in str(result.error_in_exec)


@pytest.mark.kernel
@pytest.mark.usefixtures("kernel_env")
def test_a_real_kernel_reads_the_upstream_notebook_from_the_store(tmp_path: Path) -> None:
    _prep(tmp_path)
    train = _train(tmp_path)
    run_notebook(train)  # prep's stages and train's, in the one store
    nb = nbformat.read(str(train), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print(model, text)"))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    bundles = [o["data"][STAGE_MIME] for c in nb.cells for o in c.get("outputs", []) if STAGE_MIME in o.get("data", {})]
    assert [b["status"] for b in bundles] == ["cached", "cached"]
    assert nb.cells[-1].outputs[0]["text"] == "90 model 90\n"


def test_a_percent_notebook_is_the_kernels_notebook(shell: Any, tmp_path: Path) -> None:
    _write(tmp_path / "steps.py", "%%stage load --out raw\nraw = [1, 2]")
    shell.user_ns["__session__"] = str(tmp_path / "steps.py")
    session = shell.magics_manager.registry["NbpipeMagics"].session
    assert session.notebook_path() == str(tmp_path / "steps.py")


def test_nbpipe_run_in_the_kernel_restores_what_it_reads_from_another_notebook(
    shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _prep(tmp_path)
    _train(tmp_path)
    run_notebook(tmp_path / "prep.py")
    shell.run_line_magic("nbpipe", "run report --nb train.ipynb")
    assert shell.user_ns["text"] == "model 90"
    shell.run_line_magic("nbpipe", "status train.ipynb")
    shown = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in shown.splitlines() if line.startswith(("fit ", "report "))}
    assert rows == {"fit": "fresh", "report": "fresh"}  # not unknown: features comes from prep.py


def test_the_kernel_names_a_missing_notebook_or_output(shell: Any, tmp_path: Path) -> None:
    _prep(tmp_path)
    message = str(shell.run_cell("%%stage fit --in features@nope.ipynb --out model\nmodel = 1").error_in_exec)
    assert "stage 'fit' reads 'features' from nope.ipynb" in message
    assert "notebook 'nope.ipynb' cannot be read" in message and "no such file" in message
    assert "fix --in features@nope.ipynb" in message
    message = str(shell.run_cell("%%stage fit --in feature@prep.py --out model\nmodel = 1").error_in_exec)
    assert "; no stage of prep.py outputs 'feature'" in message
