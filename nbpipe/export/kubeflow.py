"""``nbpipe export --to kubeflow``: a Kubeflow Pipelines (KFP v2) pipeline file, one component per stage.

Each component runs its stage through :func:`nbpipe.runtime.script_api.run_component` (the
batch Runner with ``--only STAGE``, the one cache protocol), so a stage the notebook or
another target computed is a cache hit here and the other way round. Artifacts travel
through the shared nbpipe store; components pass each other only small JSON strings
(keys and fingerprints), which also express the dependencies. The notebook's parameters
are typed pipeline parameters with their defaults. ``--resources`` become CPU and memory
limits and accelerators. The generated file is its own command line (``--compile``,
``--local``, see :func:`pipeline_main`); kfp is imported only there, never at export.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from nbpipe.errors import ExportError
from nbpipe.export.airflow import location_doc, refuse_reserved, relative_base_dir, store_default
from nbpipe.export.codegen import bounded_name, docstring, identifier, lint_waiver, literal, ruff_format
from nbpipe.export.files import check_writable, mark_python, write_text
from nbpipe.notebook import Notebook
from nbpipe.runtime.plan import Plan, plan_notebook

#: Names nbpipe gives to pipeline parameters and component inputs beside the notebook's parameters.
RESERVED = ("nbpipe_base_dir", "nbpipe_store", "nbpipe_plan", "nbpipe_default_base_dir", "nbpipe_default_store")
#: Python types of parameter defaults KFP can type, and the annotation each gets.
KFP_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
KFP_MISSING = "kfp is not installed: pip install 'jupyter-nbpipe[kubeflow]'"
#: Component names become Kubernetes-style names: keep them short.
NAME_LIMIT = 48
DISTRIBUTION = "jupyter-nbpipe"


def export_kubeflow(
    nb: Notebook,
    output: str,
    standalone: bool = False,
    store: str | None = None,
    image: str | None = None,
    packages: Sequence[str] | None = None,
    compile_to: str | None = None,
    overwrite: bool = False,
) -> str:
    """Write the pipeline file for ``nb`` to ``output`` (and compile it to ``compile_to``); return the path.

    Args:
        nb: the notebook.
        output: the pipeline file (Python).
        standalone: not supported for Kubeflow.
        store: the store URL components share (default: ``.nbpipe/`` in the notebook folder, found
            when a component runs; ``NBPIPE_STORE`` and the parameter ``nbpipe_store`` override it).
        image: the base image of every component (default: ``python:`` plus this Python's major.minor,
            the version stage keys are computed with).
        packages: pip requirements of every component (default: nbpipe and the distributions of the
            modules the notebook imports, pinned to their installed versions).
        compile_to: also compile the pipeline to this YAML file (needs kfp).
        overwrite: replace files nbpipe did not write.

    Raises:
        ExportError: ``--standalone``, a parameter KFP cannot type, or kfp missing for ``compile_to``.
        OutputExistsError: an output is a file nbpipe did not write, and ``overwrite`` is false.
    """
    if standalone:
        raise ExportError("--standalone applies to --to script only", hint="drop --standalone")
    plan = plan_notebook(nb, imports=True)
    data, plans = None, [plan]
    if plan.imported:  # --in NAME@NOTEBOOK: one pipeline, a component per stage of every notebook involved
        from nbpipe.export.project import project_tasks_plan

        plan, data, plans = project_tasks_plan(nb)
    refuse_reserved(plan, RESERVED)
    check_writable(output, overwrite)
    if compile_to is not None:
        check_writable(compile_to, overwrite)
    reqs = list(packages) if packages else sorted({r for p in plans for r in default_packages(p)}, key=str.lower)
    if not any(DISTRIBUTION in req or "nbpipe" in req for req in reqs):
        reqs.insert(0, _nbpipe_requirement())
    text = render(plan, output, store_default(plan, store), image or default_image(), reqs, data)
    write_text(output, mark_python(text), overwrite)
    if compile_to is not None:
        compile_pipeline(_load(output).build(reqs, True), compile_to, overwrite)
    return output


def default_image() -> str:
    """``python:MAJOR.MINOR`` of this interpreter (stage keys include Python's major.minor)."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}"


def _nbpipe_requirement() -> str:
    from nbpipe._version import __version__

    return f"{DISTRIBUTION}=={__version__}"


def imported_modules(plan: Plan) -> set[str]:
    """Top-level modules the notebook's setup cells, parameters and stages import."""
    import ast

    from nbpipe.source import to_python

    sources = [src for _, src in plan.setup] + [plan.parameters_source] + [s.body for s in plan.stages.values()]
    found: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(to_python(source))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"nbpipe"}


def default_packages(plan: Plan) -> list[str]:
    """nbpipe plus the distributions of the modules the notebook imports, pinned to their installed versions."""
    from importlib import metadata

    owners = metadata.packages_distributions()
    pins = {_nbpipe_requirement()}
    for module in imported_modules(plan):
        for dist in owners.get(module, []):
            try:
                pins.add(f"{dist}=={metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                continue
    return sorted(pins, key=str.lower)


def kfp_type(name: str, value: Any) -> str:
    """The annotation of a pipeline parameter from its default; refuse types KFP cannot carry."""
    for kind, annotation in KFP_TYPES.items():
        if type(value) is kind:
            return annotation
    raise ExportError(
        f"parameter {name!r} has the default {value!r} ({type(value).__name__}); "
        "Kubeflow pipeline parameters are str, int, float, bool, list or dict",
        hint=f"give {name!r} a default of one of those types in the parameters cell",
    )


def component_names(plan: Plan) -> dict[str, str]:
    """Stage -> its component function's name: short, and distinct after KFP lower-cases it."""
    names: dict[str, str] = {}
    seen: set[str] = set()
    for index, stage in enumerate(plan.order):
        name = bounded_name("stage_" + identifier(stage), NAME_LIMIT)
        if _kfp_name(name) in seen:
            name = f"{name}_{index}"
        seen.add(_kfp_name(name))
        names[stage] = name
    return names


def _kfp_name(name: str) -> str:
    return re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", name.lower()))


def limits(plan: Plan, stage: str) -> list[str]:
    """The task calls that set ``stage``'s ``--resources`` (CPU and memory limits, accelerator)."""
    found = dict(plan.stages[stage].header.resources)
    calls = [f".set_cpu_limit({literal(found['cpu'])})"] if "cpu" in found else []
    if "memory" in found:
        calls.append(f".set_memory_limit({literal(found['memory'])})")
    if "gpu" in found:
        calls.append(f".set_accelerator_type({literal(found.get('accelerator', 'nvidia.com/gpu'))})")
        calls.append(f".set_accelerator_limit({int(found['gpu'])})")
    return calls


def render(
    plan: Plan, output: str, store: str | None, image: str, packages: list[str], data: dict[str, Any] | None = None
) -> str:
    """The formatted pipeline file text (``data``: what it embeds instead of ``plan``'s data, see
    :func:`nbpipe.export.project.project_tasks_plan`)."""
    from nbpipe.runtime.script_api import plan_to_data

    params = {identifier(name): kfp_type(name, value) for name, value in plan.defaults.items()}
    names = component_names(plan)
    base_dir = relative_base_dir(plan, output)
    pieces = [
        docstring(_doc(plan, base_dir, store) + "\n"),
        _HEAD.format(
            name=literal(_pipeline_name(plan)),
            plan=literal(data if data is not None else plan_to_data(plan, base_dir=".")),
            params=literal(dict(plan.defaults)),
            image=literal(image),
            packages=literal(packages),
            base_dir=literal(base_dir),
            store=literal(store or ""),
        ),
        *(_component(plan, stage, names[stage], params) for stage in plan.order),
        _build(plan, names, params),
        _TAIL,
    ]
    text = ruff_format("\n".join(pieces))
    return lint_waiver(text) + text


def _pipeline_name(plan: Plan) -> str:
    stem = os.path.splitext(os.path.basename(plan.notebook))[0]
    return ("nbpipe-" + _kfp_name(stem).strip("-"))[:100].rstrip("-")


def _doc(plan: Plan, base_dir: str, store: str | None) -> str:
    lines = [
        f"Kubeflow pipeline (KFP v2) exported by nbpipe from the notebook {os.path.basename(plan.notebook)!r}.",
        "",
        "One component per stage: " + ", ".join(plan.order) + ". Each runs its stage through nbpipe's",
        "stage cache: artifacts travel through the nbpipe store, so stages already computed by the",
        "notebook or another target are cache hits; components pass only keys and fingerprints.",
        "",
        "    python THIS_FILE --compile pipeline.yaml        # compile for a cluster (needs kfp)",
        "    python THIS_FILE --local [-p name=value ...]    # run here with kfp's subprocess runner",
        "",
        *location_doc(base_dir, store, "pipeline parameter"),
        "In a cluster a relative notebook folder is relative to the component's working directory:",
        "mount or copy the notebook folder there, or set nbpipe_base_dir; use a shared store (s3://, gs://).",
    ]
    resources = [
        f"{name}: " + " ".join(f"{key}={value}" for key, value in stage.header.resources)
        for name, stage in plan.stages.items()
        if stage.header.resources
    ]
    if resources:
        lines += ["", "--resources (CPU and memory limits, accelerators): " + "; ".join(resources) + "."]
    return "\n".join(lines)


_HEAD = """
import json as _json
import os
import sys
from typing import Any

PIPELINE_NAME = {name}
PIPELINE: dict[str, Any] = {plan}
PIPELINE_JSON = _json.dumps(PIPELINE)
PARAMETERS: dict[str, Any] = {params}
IMAGE = {image}
PACKAGES: list[str] = {packages}
BASE_DIR = {base_dir}  # the notebook folder, relative to this file (--local) or the working directory
STORE = {store}  # "": .nbpipe/ in the notebook folder
"""


def _component(plan: Plan, stage: str, function: str, params: dict[str, str]) -> str:
    after = [f"nbpipe_after_{names}: str" for names in _parent_inputs(plan, stage)]
    args = [
        "nbpipe_plan: str",
        "nbpipe_base_dir: str",
        "nbpipe_store: str",
        "nbpipe_default_base_dir: str",
        "nbpipe_default_store: str",
        *(f"{name}: {kind}" for name, kind in params.items()),
        *after,
    ]
    values = "{" + ", ".join(f"{literal(name)}: {name}" for name in params) + "}"
    return f"""
def {function}({", ".join(args)}) -> str:
{docstring(f"Stage {stage!r}: its outputs' keys and fingerprints as JSON (the outputs are in the store).", "    ")}
    from nbpipe.runtime import script_api

    return script_api.run_component(
        nbpipe_plan,
        {literal(stage)},
        {values},
        (nbpipe_base_dir, nbpipe_default_base_dir),
        (nbpipe_store, nbpipe_default_store),
    )
"""


def _parent_inputs(plan: Plan, stage: str) -> list[str]:
    names = component_names(plan)
    return [names[parent].removeprefix("stage_") for parent in plan.parents(stage)]


def _build(plan: Plan, names: dict[str, str], params: dict[str, str]) -> str:
    signature = ", ".join(
        [f"{name}: {kind} = {literal(plan.defaults[name])}" for name, kind in params.items()]
        + ['nbpipe_base_dir: str = ""', 'nbpipe_store: str = ""']
    )
    common = ", ".join(
        [
            '"nbpipe_plan": PIPELINE_JSON',
            '"nbpipe_base_dir": nbpipe_base_dir',
            '"nbpipe_store": nbpipe_store',
            '"nbpipe_default_base_dir": BASE_DIR',
            '"nbpipe_default_store": STORE',
        ]
        + [f"{literal(name)}: {name}" for name in params]
    )
    tasks = []
    for index, stage in enumerate(plan.order):
        parents = plan.parents(stage)
        upstream = "".join(
            f", nbpipe_after_{names[p].removeprefix('stage_')}=tasks[{plan.order.index(p)}].output" for p in parents
        )
        calls = "".join([f".set_display_name({literal(bounded_name(stage, 250))})", *limits(plan, stage)])
        tasks.append(f"        tasks.append(components[{index}](**common{upstream}){calls})")
    components = ", ".join(names[stage] for stage in plan.order)
    return f'''
def build(packages: list[str], install_kfp: bool) -> Any:
    """The pipeline function (kfp imported here only); ``packages`` are pip-installed in each component."""
    try:
        from kfp import dsl
    except ImportError:
        raise SystemExit({literal(KFP_MISSING)}) from None

    components = [
        dsl.component(function, base_image=IMAGE, packages_to_install=packages, install_kfp_package=install_kfp)
        for function in ({components},)
    ]

    @dsl.pipeline(name=PIPELINE_NAME, description={literal("nbpipe export of " + os.path.basename(plan.notebook))})
    def pipeline({signature}) -> None:
        common: dict[str, Any] = {{{common}}}
        tasks: list[Any] = []
{chr(10).join(tasks)}

    return pipeline
'''


_TAIL = """
if __name__ == "__main__":
    from nbpipe.export.kubeflow import pipeline_main

    sys.exit(pipeline_main(sys.modules[__name__], sys.argv[1:]))
"""


def _load(path: str) -> Any:
    """Import a generated pipeline file as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nbpipe_kubeflow_pipeline", path)
    if spec is None or spec.loader is None:
        raise ExportError(f"cannot import the generated pipeline {path!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_pipeline(pipeline: Any, path: str, overwrite: bool = False) -> str:
    """Compile a pipeline function to YAML at ``path`` (atomically, with nbpipe's marker).

    The documents are kfp's own (the pipeline spec, and the platform spec when there is one),
    dumped as ``kfp.compiler`` dumps them, without the comment header kfp writes above them:
    kfp copies string parameter defaults into that comment unescaped, so a default holding a
    line break would end the comment and inject YAML.

    Raises:
        ExportError: kfp is missing.
        OutputExistsError: ``path`` is a file nbpipe did not write, and ``overwrite`` is false.
    """
    try:
        import yaml
        from google.protobuf import json_format
        from kfp import dsl  # noqa: F401  (the pipeline's own import; here for the message)
    except ImportError as exc:
        raise ExportError(KFP_MISSING, hint="install the kubeflow extra, then compile again") from exc
    check_writable(path, overwrite)
    documents = [json_format.MessageToDict(pipeline.pipeline_spec)]
    if pipeline.platform_spec.platforms:
        documents.append(json_format.MessageToDict(pipeline.platform_spec))
    text = yaml.safe_dump_all(documents, sort_keys=True)
    header = "# Kubeflow pipeline compiled by nbpipe (kfp's pipeline spec); submit it with the kfp client\n"
    write_text(path, mark_python(header + text), overwrite)  # "# …" lines are YAML comments
    return path


def pipeline_main(module: Any, argv: Sequence[str]) -> int:
    """The command line of a generated pipeline file: ``--compile YAML`` or ``--local [-p …]``; the exit code."""
    from nbpipe.errors import NbpipeError, ParameterError
    from nbpipe.runtime.params import parse_overrides, validate

    args = _parser(module).parse_args(list(argv))
    try:
        if args.compile:
            compile_pipeline(module.build(module.PACKAGES, True), args.compile, args.force)
            print(f"wrote {args.compile}")
            return 0
        params = validate(parse_overrides(args.parameter), module.PARAMETERS, module.PIPELINE["notebook"])
        return run_local(module, params, args.store or "", args.root)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NbpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser(module: Any) -> Any:
    import argparse

    from nbpipe.runtime.params import add_parameter_option

    listing = "\n".join(f"  {n}: {type(v).__name__} = {v!r}" for n, v in module.PARAMETERS.items()) or "  none"
    parser = argparse.ArgumentParser(
        description=(module.__doc__ or "").strip().split("\n")[0],
        epilog="parameters:\n" + listing + "\n\nstages: " + " ".join(module.PIPELINE["order"]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--compile", metavar="YAML", help="compile the pipeline to YAML for a cluster")
    mode.add_argument("--local", action="store_true", help="run it here with kfp's local subprocess runner")
    add_parameter_option(parser)
    parser.add_argument("--store", metavar="URL", help="(--local) the store (default: the notebook's .nbpipe/)")
    parser.add_argument("--root", metavar="DIR", help="(--local) kfp's pipeline root (default: a temporary folder)")
    parser.add_argument("--force", action="store_true", help="(--compile) overwrite a file nbpipe did not write")
    return parser


def run_local(module: Any, params: dict[str, Any], store: str, root: str | None) -> int:
    """Run the pipeline with kfp's local subprocess runner in this environment; the exit code."""
    import tempfile

    try:
        from kfp import local
    except ImportError:
        print(f"error: {KFP_MISSING}", file=sys.stderr)
        return 1
    from nbpipe.runtime.script_api import BASE_DIR_ENV

    here = os.path.dirname(os.path.abspath(module.__file__))
    folder = os.environ.get(BASE_DIR_ENV) or os.path.join(here, module.BASE_DIR)
    with tempfile.TemporaryDirectory() as scratch:
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root or scratch)
        pipeline = module.build([], False)  # this environment already has every package
        try:
            pipeline(**params, nbpipe_base_dir=os.path.abspath(folder), nbpipe_store=store)
        except RuntimeError as exc:  # kfp: a task failed (its log above holds the stage's traceback)
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"done: {len(module.PIPELINE['order'])} stages")
    return 0
