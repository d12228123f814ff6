"""Shared fixtures: the repository root, copies of the example notebooks, a real IPython shell."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "example_notebooks"


@pytest.fixture
def repo_root() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A private copy of example_notebooks/ (outputs and caches land there, not in the repo)."""
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".nbpipe", "output", ".ipynb_checkpoints"))
    return target


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the in-repo nbpipe importable by kernels and subprocesses started by the test."""
    current = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO), current) if p))
    monkeypatch.delenv("NBPIPE_STORE", raising=False)


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real IPython InteractiveShell with nbpipe loaded, a clean namespace, cwd in tmp_path."""
    from IPython.testing.globalipapp import get_ipython

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    ip = get_ipython()
    ip.reset(new_session=False)
    ip.extension_manager.loaded.discard("nbpipe")
    ip.run_line_magic("load_ext", "nbpipe")
    yield ip
    ip.reset(new_session=False)
