"""The Kubeflow export (issue 15 §1–§3): kfp compiles it, the YAML loads back with resources as
limits and accelerators, the file is its own command line, and kfp's local subprocess runner
runs it through the one cache shared with ``nbpipe run``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbpipe.cache.store import Store
from nbpipe.cli import main
from nbpipe.errors import ExportError, OutputExistsError
from nbpipe.export import export_notebook
from nbpipe.runtime.runner import run_notebook
from tests.notebooks import write_nb

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: A parameter value and a stage string that would break naive interpolation into generated code.
NASTY = '"""\\\'; import os; os.system("touch PWNED") #{x}\n'


def small_notebook(folder: Path) -> Path:
    """Two stages with resources, a parameter with a hostile default, a relative --file-in."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.txt").write_text("3\n")
    return write_nb(
        folder / "small.ipynb",
        "%load_ext nbpipe",
        (f"n = 2\nlabel = {NASTY!r}", "parameters"),
        "%%stage load --out base --file-in data.txt --resources cpu=2 memory=4Gi gpu=1 accelerator=nvidia.com/gpu\n"
        "base = int(open('data.txt').read()) * n",
        f"%%stage report --in base --out text --resources cpu=500m\ntext = {NASTY!r} + label + str(base)",
    )


def run_pipeline(path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The generated file as a process, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NBPIPE_STORE", None)
    env.pop("NBPIPE_BASE_DIR", None)
    return subprocess.run(
        [sys.executable, str(path), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def executors(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Component name -> its container spec in a compiled pipeline."""
    found = spec["deploymentSpec"]["executors"]
    return {name.removeprefix("exec-"): body["container"] for name, body in found.items()}


def test_export_compiles_with_resources_as_limits_and_the_yaml_loads_back(tmp_path: Path) -> None:
    from kfp import components

    notebook = small_notebook(tmp_path / "nb")
    out = tmp_path / "kf" / "pipeline.py"
    assert (
        main(["export", str(notebook), "--to", "kubeflow", "-o", str(out), "--compile", str(tmp_path / "p.yaml")]) == 0
    )
    text = out.read_text()
    assert str(tmp_path) not in text  # portable: no path of this machine
    compile(text, str(out), "exec")
    spec = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert components.load_component_from_file(str(tmp_path / "p.yaml")).name == "nbpipe-small"
    containers = executors(spec)
    load = containers["stage-load"]["resources"]
    assert load["cpuLimit"] == 2.0 and load["memoryLimit"] == pytest.approx(4 * 2**30 / 1e9)
    assert load["accelerator"]["count"] == "1" and load["accelerator"]["type"] == "nvidia.com/gpu"
    assert containers["stage-report"]["resources"]["cpuLimit"] == 0.5
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["n"]["defaultValue"] == 2 and inputs["n"]["parameterType"] == "NUMBER_INTEGER"
    assert inputs["label"]["defaultValue"] == NASTY
    assert "jupyter-nbpipe==" in " ".join(containers["stage-load"]["command"])


def test_local_run_shares_the_cache_with_nbpipe_run_both_ways(tmp_path: Path) -> None:
    notebook = small_notebook(tmp_path / "nb")
    pipeline = tmp_path / "kf" / "pipeline.py"
    export_notebook(notebook, "kubeflow", pipeline)
    store = tmp_path / "store"

    done = run_pipeline(pipeline, "--local", "-p", "n=5", "--store", str(store), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "kf" / "PWNED").exists()
    local = Store(str(store)).records()[0]
    assert local["target"] == "kubeflow" and local["params"]["n"] == 5

    again = run_notebook(notebook, params={"n": 5}, store=str(store))  # the notebook's batch run: all hits
    assert {r.status for r in again.stages} == {"cached"}
    manifest = Store(str(store)).lookup(again.stages[-1].key)
    assert (
        manifest is not None and manifest.outputs["text"].fingerprint == again.stages[-1].outputs["text"]["fingerprint"]
    )

    fresh = tmp_path / "fresh_store"
    run_notebook(notebook, store=str(fresh))  # and the other way: the pipeline finds nbpipe run's entries
    done = run_pipeline(pipeline, "--local", "--store", str(fresh), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    stages = [s for r in Store(str(fresh)).records() if r["target"] == "kubeflow" for s in r["stages"]]
    assert stages and {s["status"] for s in stages} == {"cached"}


def test_the_generated_file_is_its_own_command_line(tmp_path: Path) -> None:
    notebook = small_notebook(tmp_path / "nb")
    pipeline = tmp_path / "kf" / "pipeline.py"
    export_notebook(notebook, "kubeflow", pipeline)

    done = run_pipeline(pipeline, "--compile", str(tmp_path / "out.yaml"))
    assert done.returncode == 0 and (tmp_path / "out.yaml").read_text().startswith("# @generated by nbpipe")
    (tmp_path / "mine.yaml").write_text("my: own\n")
    done = run_pipeline(pipeline, "--compile", str(tmp_path / "mine.yaml"))
    assert done.returncode == 1 and "was not written by nbpipe" in done.stderr
    assert (tmp_path / "mine.yaml").read_text() == "my: own\n"

    done = run_pipeline(pipeline, "--local", "-p", "n=two")
    assert done.returncode == 2 and "parameter 'n' expects int" in done.stderr and "Traceback" not in done.stderr
    done = run_pipeline(pipeline, "--help")
    assert done.returncode == 0 and "n: int = 2" in done.stdout


def test_missing_kfp_is_one_clear_message(tmp_path: Path) -> None:
    notebook = small_notebook(tmp_path / "nb")
    pipeline = tmp_path / "kf" / "pipeline.py"
    export_notebook(notebook, "kubeflow", pipeline)  # exporting needs no kfp
    blocked = (
        "import runpy, sys; sys.modules['kfp'] = None; sys.argv = [sys.argv[1], '--compile', sys.argv[2]]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", blocked, str(pipeline), str(tmp_path / "x.yaml")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "pip install 'jupyter-nbpipe[kubeflow]'" in done.stderr and "Traceback" not in done.stderr


def test_export_refuses_what_kubeflow_cannot_carry(tmp_path: Path) -> None:
    notebook = write_nb(
        tmp_path / "none.ipynb",
        "%load_ext nbpipe",
        ("depth = None", "parameters"),
        "%%stage fit --out m\nm = depth",
    )
    with pytest.raises(ExportError, match="parameter 'depth' has the default None"):
        export_notebook(notebook, "kubeflow", tmp_path / "p.py")
    (tmp_path / "user.py").write_text("print('mine')\n")
    with pytest.raises(OutputExistsError):
        export_notebook(small_notebook(tmp_path / "nb"), "kubeflow", tmp_path / "user.py")
    assert (tmp_path / "user.py").read_text() == "print('mine')\n"


def test_hostile_names_paths_and_values_stay_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The injection notebook of test_injection (hostile folder, file names, default, override, store)."""
    from nbpipe.export.kubeflow import run_local
    from tests.integration.test_injection import DEFAULT, OVERRIDE, assert_parses, echoed, expect, hostile_notebook

    monkeypatch.chdir(tmp_path)  # a PWNED written to the cwd lands here
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    hostile = hostile_notebook(tmp_path)
    pipeline = tmp_path / "kf" / "pipeline.py"
    store = tmp_path / "st'ore {}\n$x"
    export_notebook(hostile, "kubeflow", pipeline, store=str(store), compile_to=str(tmp_path / "p.yaml"))
    assert_parses(pipeline)
    spec = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert spec["root"]["inputDefinitions"]["parameters"]["label"]["defaultValue"] == DEFAULT
    module = _import(pipeline)
    assert module.PARAMETERS == {"label": DEFAULT} and module.STORE == str(store)
    assert run_local(module, {"label": OVERRIDE}, "", None) == 0
    assert echoed(hostile) == expect(OVERRIDE)
    assert not list(tmp_path.rglob("*PWNED*"))
    assert Store(str(store)).records()[0]["params"] == {"label": OVERRIDE}


def _import(path: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("hostile_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
