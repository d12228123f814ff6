"""nbpipe: turn a Jupyter notebook into a pipeline without leaving the notebook.

The public API mirrors nbformat's shape: :func:`read`, :func:`analyze`, :func:`run`
and :func:`export`. ``%load_ext nbpipe`` registers the ``%%stage`` and ``%nbpipe``
magics. Everything heavy is imported on first use, so ``import nbpipe`` is cheap.
"""

from __future__ import annotations

from typing import Any

from nbpipe._version import __version__

__all__ = ["__version__", "analyze", "export", "load_ipython_extension", "read", "run"]


def read(path: Any, content: Any = None) -> Any:
    """Read a notebook; see :func:`nbpipe.notebook.read`."""
    from nbpipe.notebook import read as _read

    return _read(path, content)


def analyze(notebook: Any, content: Any = None) -> Any:
    """Analyse a notebook into a stage graph with diagnostics; see :mod:`nbpipe.analysis`."""
    from nbpipe.analysis import analyze as _analyze

    return _analyze(notebook, content)


def run(notebook: Any, **kwargs: Any) -> Any:
    """Run a notebook's pipeline with the cache; see :func:`nbpipe.runtime.runner.run_notebook`."""
    from nbpipe.runtime.runner import run_notebook

    return run_notebook(notebook, **kwargs)


def export(notebook: Any, to: str, output: Any = None, **kwargs: Any) -> Any:
    """Export a notebook to a target (script, papermill, airflow); see :mod:`nbpipe.export`."""
    from nbpipe.export import export_notebook

    return export_notebook(notebook, to=to, output=output, **kwargs)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Jupyter Server: the extension's loader lives in :mod:`nbpipe.server`."""
    return [{"module": "nbpipe.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """JupyterLab: where the prebuilt labextension lives (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "jupyter-nbpipe"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbpipe``: register the magics."""
    from nbpipe.magics import NbpipeMagics

    ipython.register_magics(NbpipeMagics(ipython))
