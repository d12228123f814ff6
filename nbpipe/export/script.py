"""``nbpipe export --to script``: one readable Python file with a function per stage.

The default script shares the notebook's cache through :mod:`nbpipe.runtime.script_api`
(the only nbpipe module it imports); ``--standalone`` writes a script that needs no
nbpipe at all and caches nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from nbpipe.errors import ExportError
from nbpipe.export.codegen import docstring, identifier, indent_body, lint_waiver, literal, ruff_format
from nbpipe.export.files import check_writable, mark_python, write_text
from nbpipe.export.scoping import module_names, shadowed_globals
from nbpipe.export.translate import plain_python
from nbpipe.model import cell_label
from nbpipe.notebook import Notebook
from nbpipe.runtime.keys import names_read
from nbpipe.runtime.plan import Plan, StagePlan, plan_notebook
from nbpipe.source import code_lines

#: Names the generator adds to the script's module namespace (never part of a stage key).
GENERATED = (
    "annotations",
    "_argparse",
    "_json",
    "_os",
    "_sys",
    "_nbpipe",
    "PIPELINE",
    "PARAMETERS",
    "STAGES",
    "BASE_DIR",
    "_CWD",
)
GENERATED_FUNCS = ("run", "main", "_run", "_value", "GENERATED")


def export_script(
    nb: Notebook, output: str, standalone: bool = False, overwrite: bool = False, _done: dict[str, str] | None = None
) -> str:
    """Write the script for ``nb`` to ``output`` and return the path.

    A notebook that reads other notebooks (``--in NAME@NOTEBOOK``) gets one script per
    notebook, all beside ``output`` (``NOTEBOOK_STEM_pipeline.py``): running it runs (or
    restores) the upstream scripts first, in the same store.

    Args:
        nb: the notebook.
        output: the script's path.
        standalone: write a script that needs no nbpipe and caches nothing (one notebook only).
        overwrite: replace ``output`` even if nbpipe did not write it.

    Raises:
        OutputExistsError: ``output`` is a file nbpipe did not write, and ``overwrite`` is false.
        ExportError: two upstream notebooks would get the same script name.
    """
    check_writable(output, overwrite)  # before rendering: a refusal should be quick
    plan = plan_notebook(nb, imports=not standalone)
    imports = _export_upstream(plan, output, overwrite, {} if _done is None else _done)
    write_text(output, mark_python(render(plan, nb, output, standalone, imports)), overwrite)
    return output


def upstream_script(notebook: str) -> str:
    """The file name of the script exported for a notebook another notebook reads."""
    return os.path.splitext(os.path.basename(notebook))[0] + "_pipeline.py"


def _export_upstream(plan: Plan, output: str, overwrite: bool, done: dict[str, str]) -> dict[str, str]:
    """Export each notebook ``plan`` reads from beside ``output``; input name -> its script's file name."""
    from nbpipe.notebook import read
    from nbpipe.runtime.plan import refuse_errors

    found: dict[str, str] = {}
    for name, written in plan.imported.items():
        path = os.path.normpath(os.path.join(plan.base_dir, written))
        script = found[name] = upstream_script(path)
        if done.get(script) == path:
            continue
        if script in done:
            raise ExportError(
                f"notebooks {done[script]!r} and {path!r} would both be exported as {script!r}",
                hint="rename one of the notebooks: the scripts of a pipeline across notebooks sit in one folder",
            )
        done[script] = path
        upstream = read(path)
        refuse_errors(upstream)
        export_script(upstream, os.path.join(os.path.dirname(os.path.abspath(output)), script), False, overwrite, done)
    return found


def render(plan: Plan, nb: Notebook, output: str, standalone: bool, imports: dict[str, str] | None = None) -> str:
    """The formatted script text.

    Raises:
        ExportError: a setup cell binds a name the script itself defines (``run``, ``main``…).
    """
    setup_names = module_names([_without_future_imports(source) for _, source in plan.setup] + [plan.parameters_source])
    _refuse_clashes(plan, setup_names)
    parts = [
        _module_doc(plan, output, standalone),
        _imports(standalone, "Any" not in setup_names, _future_features(plan)),
        _base_dir(plan, output),
        _setup(plan),
        _parameters(plan),
        "_os.chdir(_CWD)\n",
        *(_stage_function(plan, s, standalone) for s in (plan.stages[n] for n in plan.order)),
        _data(plan, output, standalone, imports or {}),
        _run_standalone(plan) if standalone else _run_cached(plan),
        _main_standalone() if standalone else _main_cached(),
    ]
    text = ruff_format("\n\n".join(p.rstrip() + "\n" for p in parts))
    return lint_waiver(text) + text


def _module_doc(plan: Plan, output: str, standalone: bool) -> str:
    name = os.path.basename(plan.notebook)
    lines = [f"Pipeline exported by nbpipe from the notebook {name!r}.", "", "Stages, in dependency order:"]
    for stage in (plan.stages[n] for n in plan.order):
        ins = ", ".join(stage.header.inputs) or "-"
        lines.append(f"    {stage.name}: {ins} -> {', '.join(stage.header.outputs) or '-'}")
    lines += ["", "Parameters (override with -p NAME=VALUE, or run(NAME=VALUE)):"]
    lines += [f"    {n}: {type(v).__name__} = {v!r}" for n, v in plan.defaults.items()] or ["    none"]
    lines += ["", f"Run it: python {os.path.basename(output)!r} --help (or import it and call run())."]
    if standalone:
        lines.append("Standalone: needs no nbpipe and caches nothing.")
    else:
        lines.append("Stage results are cached in the notebook's nbpipe store (shared with the notebook).")
    lines.append("Generated code: edit the notebook and export again rather than editing this file.")
    return docstring("\n".join(lines) + "\n")


def _refuse_clashes(plan: Plan, setup_names: set[str]) -> None:
    reserved = {*GENERATED, *GENERATED_FUNCS, *(f"stage_{n}" for n in plan.order)}
    clashes = sorted(setup_names & reserved)
    if clashes:
        raise ExportError(
            f"the setup cells bind {', '.join(repr(c) for c in clashes)}, which the exported script defines itself",
            hint="rename it in the notebook (names reserved by the script: run, main, PIPELINE, STAGES, stage_<name>…)",
        )


def _future_features(plan: Plan) -> list[str]:
    """``from __future__`` features the setup cells ask for: they must open the file."""

    found: list[str] = []
    for _, source in plan.setup:
        for node in _future_imports(source):
            found += [a.name for a in node.names if a.name not in found and a.name != "annotations"]
    return found


def _future_imports(source: str) -> list[Any]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]


def _without_future_imports(source: str) -> str:
    """A setup cell without its ``from __future__`` lines (the script opens with them)."""
    lines = code_lines(source)
    for node in _future_imports(source):
        for number in range(node.lineno - 1, node.end_lineno or node.lineno):
            lines[number] = "\n"
    return "".join(lines)


def _imports(standalone: bool, typing_any: bool, future: Sequence[str] = ()) -> str:
    # The script's own modules get private names, so setup cells may import json, os… themselves.
    features = ", ".join(["annotations", *future])
    common = f"from __future__ import {features}\n\nimport argparse as _argparse\nimport json as _json\n"
    common += "import os as _os\nimport sys as _sys\n"
    common += "from typing import Any\n" if typing_any else ""
    if not standalone:
        common += "\nfrom nbpipe.runtime import script_api as _nbpipe\n"
    return common


def _base_dir(plan: Plan, output: str) -> str:
    folder = os.path.relpath(plan.base_dir, os.path.dirname(os.path.abspath(output)))
    return "\n".join(
        [
            "# The notebook's folder: the working directory of the setup cells and the stages, as in the kernel.",
            "BASE_DIR = _os.path.normpath(",
            f"    _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), {literal(folder)})",
            ")",
            "_CWD = _os.getcwd()",
            "_os.chdir(BASE_DIR)",
        ]
    )


def _setup(plan: Plan) -> str:
    chunks = ["# Setup cells, verbatim from the notebook.\n# fmt: off\n"]
    for index, source in plan.setup:
        text = plain_python(_without_future_imports(source), index, "setup cell")
        chunks.append(f"# {cell_label(index)}\n" + text.rstrip() + "\n")
    chunks.append("# fmt: on\n")
    return "\n".join(chunks)


def _parameters(plan: Plan) -> str:
    if not plan.parameters_source.strip():
        return "# No parameters cell."
    code = plain_python(plan.parameters_source, -1, "the parameters cell").rstrip()
    return "# Parameters (the cell tagged 'parameters'), verbatim.\n# fmt: off\n" + code + "\n# fmt: on\n"


def stage_params(plan: Plan, stage: StagePlan) -> list[str]:
    """The parameters a stage body reads (not shadowed by its inputs)."""
    read = names_read(stage.body) - set(stage.header.inputs)
    return [p for p in plan.defaults if p in read]


def setup_arguments(plan: Plan, stage: StagePlan, body: str) -> list[str]:
    """Setup names the stage reads and rebinds: passed in as arguments (see :mod:`nbpipe.export.scoping`)."""
    setup = module_names([source for _, source in plan.setup] + [plan.parameters_source]) - set(plan.defaults)
    return shadowed_globals(body, setup, {*stage.header.inputs, *stage_params(plan, stage)})


def _stage_function(plan: Plan, stage: StagePlan, standalone: bool) -> str:
    header = stage.header
    body = plain_python(stage.body, stage.cell, f"stage {stage.name!r}")
    args = [f"{identifier(i)}: Any" for i in header.inputs]
    keywords = stage_params(plan, stage) + setup_arguments(plan, stage, body)
    params = [f"{identifier(p)}: Any" for p in keywords]
    signature = ", ".join(args + (["*", *params] if params else []))
    summary = f"Stage {stage.name!r} ({cell_label(stage.cell)}): {', '.join(header.inputs) or 'no inputs'}"
    summary += f" -> {', '.join(header.outputs) or 'no outputs'}."
    lines = [f"def stage_{identifier(stage.name)}({signature}) -> dict[str, Any]:", docstring(summary, "    ")]
    lines.append(indent_body(body).rstrip("\n"))
    if standalone:
        lines += [_check_code(stage, expr) for expr in header.checks]
    pairs = ", ".join(f"{literal(o)}: {identifier(o)}" for o in header.outputs)
    lines.append(f"    return {{{pairs}}}")
    return "\n".join(lines) + "\n"


def _check_code(stage: StagePlan, expr: str) -> str:
    import ast

    code = ast.unparse(ast.parse(expr, mode="eval"))  # one expression, nothing else
    message = literal(f"check failed for stage {stage.name!r}: {expr}")
    return f"    if not ({code}):\n        raise AssertionError({message})"


def _data(plan: Plan, output: str, standalone: bool, imports: dict[str, str]) -> str:
    from nbpipe.runtime.script_api import plan_to_data

    lines = [
        "STAGES = {" + ", ".join(f"{literal(n)}: stage_{n}" for n in plan.order) + "}",
    ]
    if standalone:
        lines.append(f"PARAMETERS: dict[str, Any] = {literal(dict(plan.defaults))}")
    else:
        data: dict[str, Any] = plan_to_data(plan, base_dir=".", imports=imports)
        lines += [
            "# The plan as nbpipe sees it: stage keys are computed from this, exactly as in the notebook.",
            f"PIPELINE: dict[str, Any] = {literal(data)}",
        ]
    return "\n".join(lines) + "\n"


def _run_cached(plan: Plan) -> str:
    generated = literal([*GENERATED, *GENERATED_FUNCS, *(f"stage_{n}" for n in plan.order)])
    return f'''# Names this generator added to the module: never part of a stage key.
GENERATED = {generated}


def run(**params: Any) -> dict[str, Any]:
    """Run the pipeline (cached stages are restored) and return every stage output by name."""
    return _run(params)


def _run(params: dict[str, Any], only: Any = (), force: Any = (), store: str | None = None) -> dict[str, Any]:
    return _nbpipe.run_script(
        PIPELINE, STAGES, globals(), params,
        generated=GENERATED, only=only, force=force, store=store, base_dir=BASE_DIR,
    )
'''


def _run_standalone(plan: Plan) -> str:
    lines = [
        "def run(**params: Any) -> dict[str, Any]:",
        '    """Run every stage in dependency order and return every stage output by name."""',
        "    unknown = sorted(set(params) - set(PARAMETERS))",
        "    if unknown:",
        '        raise TypeError(f"unknown parameter(s) {unknown}; parameters: {sorted(PARAMETERS)}")',
        "    p = {**PARAMETERS, **params}",
        "    globals().update(p)  # setup helpers read parameters as globals, as in the notebook",
        "    out: dict[str, Any] = {}",
        "    cwd = _os.getcwd()",
        "    _os.chdir(BASE_DIR)",
        "    try:",
    ]
    for stage in (plan.stages[n] for n in plan.order):
        args = [f"out[{literal(i)}]" if i in plan.producers else identifier(i) for i in stage.header.inputs]
        args += [f"{p}=p[{literal(p)}]" for p in stage_params(plan, stage)]
        body = plain_python(stage.body, stage.cell, f"stage {stage.name!r}")
        args += [f"{n}=globals()[{literal(n)}]" for n in setup_arguments(plan, stage, body)]
        lines.append(f"        out.update(stage_{stage.name}({', '.join(args)}))")
    lines += ["    finally:", "        _os.chdir(cwd)", "    return out"]
    return "\n".join(lines) + "\n"


def _main_cached() -> str:
    return '''def main(argv: list[str] | None = None) -> int:
    """The command line: python THIS_FILE [-p NAME=VALUE ...] [--only STAGE ...] [--force STAGE ...] [--store URL]."""
    parser = _nbpipe.script_parser(__doc__, PIPELINE)
    args = parser.parse_args(argv)
    return _nbpipe.script_main(args, _run)


if __name__ == "__main__":
    _sys.exit(main())
'''


def _main_standalone() -> str:
    return '''def _value(text: str) -> Any:
    try:
        return _json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    """The command line: python THIS_FILE [-p NAME=VALUE ...]."""
    listing = "\\n".join(f"  {n}: {type(v).__name__} = {v!r}" for n, v in PARAMETERS.items())
    parser = _argparse.ArgumentParser(
        description=(__doc__ or "").split("\\n")[0],
        epilog="parameters:\\n" + (listing or "  none"),
        formatter_class=_argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help="a parameter")
    args = parser.parse_args(argv)
    params = {}
    for pair in args.parameter:
        name, sep, text = pair.partition("=")
        if not sep:
            parser.error(f"-p {pair}: expected NAME=VALUE")
        params[name] = _value(text)
    outputs = run(**params)
    print(f"done: {len(outputs)} outputs ({', '.join(outputs)})")
    return 0


if __name__ == "__main__":
    _sys.exit(main())
'''
