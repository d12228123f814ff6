"""Exporters: the same notebook as a script, a papermill pipeline, an Airflow DAG or a Kubeflow pipeline (DESIGN §7).

Targets are found through the ``nbpipe.exporters`` entry-point group (loaded lazily), with
the built-in ones always available. An exporter is a callable
``(notebook: Notebook, output: str, standalone: bool) -> str`` returning the written path;
the built-in ones also take ``overwrite`` and never replace a file nbpipe did not write
(:mod:`nbpipe.export.files`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from nbpipe.errors import ExportError, OutputExistsError, PipelineError
from nbpipe.export.files import check_writable
from nbpipe.notebook import Notebook, read

Exporter = Callable[..., str]

#: target -> (module, function, default output suffix)
BUILTIN: dict[str, tuple[str, str, str]] = {
    "script": ("nbpipe.export.script", "export_script", ".py"),
    "papermill": ("nbpipe.export.papermill", "export_papermill", "_papermill"),
    "airflow": ("nbpipe.export.airflow", "export_airflow", "_dag.py"),
    "kubeflow": ("nbpipe.export.kubeflow", "export_kubeflow", "_kubeflow.py"),
}

__all__ = ["BUILTIN", "ExportError", "OutputExistsError", "export_notebook", "targets"]


def targets() -> list[str]:
    """Every export target: the built-in ones and those registered under ``nbpipe.exporters``."""
    return sorted({*BUILTIN, *(ep.name for ep in _entry_points())})


def _entry_points() -> list[Any]:
    from nbpipe.plugins import entry_points

    return entry_points("nbpipe.exporters")


def _exporter(to: str) -> Exporter:
    if to in BUILTIN:
        module, name, _ = BUILTIN[to]
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    for ep in _entry_points():
        if ep.name == to:
            return ep.load()  # type: ignore[no-any-return]
    raise ExportError(f"unknown export target {to!r}", hint="targets: " + ", ".join(targets()))


def default_output(notebook: str, to: str) -> str:
    """Where an export goes without ``-o``: beside the notebook, named after it."""
    stem = os.path.splitext(notebook)[0]
    suffix = BUILTIN[to][2] if to in BUILTIN else f"_{to}"
    if stem + suffix == notebook:  # a percent script exported --to script: never its own source
        suffix = "_pipeline" + suffix
    return stem + suffix


def export_notebook(
    notebook: str | os.PathLike[str] | Notebook,
    to: str,
    output: str | os.PathLike[str] | None = None,
    force: bool = False,
    standalone: bool = False,
    overwrite: bool | None = None,
    **options: Any,
) -> str:
    """Export a notebook and return the written path.

    Export never replaces a file nbpipe did not write (each generated file carries a
    marker, see :mod:`nbpipe.export.files`) unless ``overwrite``; it never replaces the
    notebook itself.

    Args:
        notebook: a path, or a notebook already read with :func:`nbpipe.notebook.read`.
        to: the target (``script``, ``papermill``, ``airflow``, ``kubeflow`` or a plug-in's name).
        output: where to write (default: beside the notebook, see :func:`default_output`).
        force: export even if the analyzer reports errors, and overwrite files nbpipe did not write.
        standalone: (script) write code that needs no nbpipe and caches nothing.
        overwrite: overwrite files nbpipe did not write (default: ``force``).
        **options: target-specific options, e.g. ``retries`` and ``store`` for ``airflow``; ``store``,
            ``image``, ``packages`` and ``compile_to`` for ``kubeflow``.

    Raises:
        ExportError: unknown target, output is the notebook itself, or untranslatable syntax.
        OutputExistsError: the output holds a file nbpipe did not write and ``overwrite`` is false.
        PipelineError: the notebook has analyzer errors and ``force`` is false.
    """
    from nbpipe.runtime.plan import refuse_errors

    exporter = _exporter(to)
    nb = notebook if isinstance(notebook, Notebook) else read(notebook)
    path = os.fspath(output) if output is not None else default_output(nb.path, to)
    if _same_file(path, nb.path):
        raise ExportError(
            f"the output {path!r} is the notebook itself; export never replaces its source",
            hint="choose another output path with -o",
        )
    replace = force if overwrite is None else overwrite
    if not force:
        try:
            refuse_errors(nb)
        except PipelineError as exc:
            _reword(exc)
            raise
    if to in BUILTIN:
        return str(exporter(nb, path, standalone=standalone, overwrite=replace, **options))
    if not os.path.isdir(path):  # plug-ins write what they like; at least the named file is protected
        check_writable(path, replace)
    return str(exporter(nb, path, standalone=standalone, **options))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _reword(exc: PipelineError) -> None:
    """Point the hint of an analyzer refusal at ``--force`` (the export flag)."""
    if "--no-check" in exc.hint:
        exc.hint = exc.hint.replace("--no-check to run anyway", "--force to export anyway")
