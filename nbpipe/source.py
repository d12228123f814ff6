"""Cell source helpers shared by the kernel, the analyzer and the cache key.

IPython-only syntax (``%magic``, ``!cmd``) is turned into Python with IPython's own
input transformer, imported lazily so that ``import nbpipe`` stays light.
"""

from __future__ import annotations

import ast
import functools
import re

import xxhash

from nbpipe.header import MAGIC


def split_stage(source: str) -> tuple[str | None, str]:
    """Split a cell into (header arguments or None, body).

    The body keeps a leading blank line in place of the header so that line
    numbers in the body equal line numbers in the cell.
    """
    stripped = source.lstrip("\n")
    skipped = len(source) - len(stripped)
    first, _, rest = stripped.partition("\n")
    if first.rstrip() == MAGIC or first.startswith((MAGIC + " ", MAGIC + "\t")):
        return first[len(MAGIC) :].strip(), "\n" * (skipped + 1) + rest
    return None, source


@functools.lru_cache(maxsize=4096)
def to_python(source: str) -> str:
    """Plain Python for a cell body: unchanged if it parses, else IPython-transformed.

    The common forms (``%magic``, ``!cmd``, ``x = !cmd``, a leading ``%%magic``) are
    translated here; IPython's own transformer (slow to import) handles the rest.
    """
    try:
        ast.parse(source)
        return source
    except SyntaxError:
        pass
    fast = fast_transform(source) if has_magic(source) else None
    if fast is not None:
        try:
            ast.parse(fast)
            return fast
        except SyntaxError:
            pass
    from IPython.core.inputtransformer2 import TransformerManager

    transformed = str(TransformerManager().transform_cell(source))
    magic = automagic(source)
    if magic is None:
        return transformed
    try:
        ast.parse(transformed)
        return transformed
    except SyntaxError:
        return str(TransformerManager().transform_cell(magic))


#: IPython's built-in line magics and default shell aliases: with automagic (on by default) a line
#: ``ls data`` or ``cd ..`` runs ``%ls data`` / ``%cd ..`` (IPython's prefilter does it, after the
#: input transformer, so TransformerManager leaves such lines alone).
AUTOMAGICS = frozenset(
    "alias alias_magic autoawait autocall automagic bookmark cat cd clear colors conda config connect_info cp "
    "dhist dirs doctest_mode ed edit env gui hist history killbgscripts ldir less lf lk ll load_ext loadpy "
    "logoff logon logstart logstate logstop ls lsmagic lx man matplotlib mkdir more mv notebook pastebin pdb "
    "pdef pdoc pfile pinfo pinfo2 pip popd pprint precision prun psearch psource pushd pwd pycat pylab "
    "qtconsole quickref rehashx reload_ext rep reset reset_selective rm rmdir sc set_env sx tb timeit unalias "
    "unload_ext who who_ls whos xdel xmode".split()
)
_AUTOMAGIC = re.compile(r"^([ \t]*)([A-Za-z_]\w*)(?=[ \t]*$|[ \t]+[^\s=])", re.MULTILINE)


def automagic(source: str) -> str | None:
    """``source`` with automagic lines (``ls data``, ``cd ..``) written as ``%ls data``; None if it has none.

    Only for a cell that does not parse otherwise. ``ls = 3`` and ``ls == 3`` stay
    Python; a cell with a triple-quoted string is left alone (a line inside it is text).
    """
    if '"""' in source or "'''" in source:
        return None

    def mark(match: re.Match[str]) -> str:
        return f"{match.group(1)}%{match.group(2)}" if match.group(2) in AUTOMAGICS else match.group(0)

    rewritten = _AUTOMAGIC.sub(mark, source)
    return rewritten if rewritten != source else None


_MAGIC_LINE = re.compile(r"^[ \t]*(?:%|!)", re.MULTILINE)
_ASSIGNED = re.compile(r"^([ \t]*[A-Za-z_][\w, \t]*=[ \t]*)(%{1,2}|!{1,2})(.*)$")
_PLAIN = re.compile(r"^([ \t]*)(%{1,2}|!{1,2})(.*)$")


def has_magic(source: str) -> bool:
    """True if some line starts with ``%`` or ``!`` (so the cell is likely IPython syntax)."""
    return _MAGIC_LINE.search(source) is not None


def fast_transform(source: str) -> str | None:
    """The common IPython forms turned into Python without IPython's tokenizer (it is ~10× slower).

    Handles a leading ``%%magic`` and lines ``%magic …``, ``!cmd``, ``x = %magic …``,
    ``x = !cmd``, as IPython does. Returns None for anything else (continuation
    lines, ``?`` help, a ``%%`` that is not first) so the caller falls back to IPython.
    """
    stripped = source.lstrip("\n")
    if stripped.startswith("%%"):
        first, _, body = stripped.partition("\n")
        name, _, line = first[2:].partition(" ")
        lead = "\n" * (len(source) - len(stripped))
        return f"{lead}get_ipython().run_cell_magic({name!r}, {line.strip()!r}, {body!r})\n"
    lines = source.split("\n")
    for number, text in enumerate(lines):
        match = _ASSIGNED.match(text) or _PLAIN.match(text)
        if match is None or not _MAGIC_LINE.match(match.group(2)):
            continue
        prefix, kind, rest = match.groups()
        if kind == "%%" or text.rstrip().endswith("\\") or rest.rstrip().endswith("?"):
            return None
        lines[number] = prefix + _call(kind, rest, assigned=not prefix.isspace() and prefix != "")
    return "\n".join(lines)


def _call(kind: str, rest: str, *, assigned: bool) -> str:
    if kind == "%":
        name, _, arg = rest.partition(" ")
        return f"get_ipython().run_line_magic({name!r}, {arg.strip()!r})"
    method = "getoutput" if assigned or kind == "!!" else "system"
    return f"get_ipython().{method}({rest.strip()!r})"


_LINE_BREAK = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


def code_lines(text: str) -> list[str]:
    """``text`` split into lines as Python splits source code (``\n``, ``\r\n``, ``\r``), ends kept.

    ``str.splitlines`` also breaks at ``\x0b``, ``\x0c``, ``\x1c``–``\x1e``, ``\x85``,
    U+2028 and U+2029, which may sit inside a string literal: re-indenting such pieces would
    change the string.
    """
    return [line for line in _LINE_BREAK.split(text) if line]


@functools.lru_cache(maxsize=4096)
def python_tree(source: str) -> ast.Module:
    """The AST of a cell body in plain Python (IPython syntax transformed), parsed once.

    Shared by the stage key's parts (:func:`normalize`, the names a body reads): treat it
    as read-only.

    Raises:
        SyntaxError: the body is not Python even after IPython's transforms.
    """
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    return ast.parse(to_python(source))


@functools.lru_cache(maxsize=4096)
def normalize(source: str) -> str:
    """A form of the code that ignores comments, spacing and blank lines.

    Unparsable code falls back to its stripped lines, so it still hashes stably.
    """
    try:
        tree = python_tree(source)
    except (SyntaxError, ValueError):
        return "\n".join(line.rstrip() for line in source.strip().splitlines())
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def digest(*parts: str) -> str:
    """A 128-bit hex digest of text parts (separated unambiguously)."""
    h = xxhash.xxh3_128()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def source_hash(header_canonical: str, body: str) -> str:
    """The hash recorded in stage bundles and compared by the analyzer (NBP204)."""
    return digest("nbpipe-source-v1", header_canonical, normalize(body))


#: Line magics that only configure the interactive session: dropped in batch runs.
SESSION_MAGICS = frozenset({"load_ext", "reload_ext", "matplotlib", "config", "autoreload", "aimport", "precision"})


def session_magic(node: ast.stmt) -> bool:
    """True for ``get_ipython().run_line_magic('load_ext', ...)`` and similar no-ops."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    call = node.value
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "run_line_magic"):
        return False
    owner = func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "get_ipython"):
        return False
    first = call.args[0] if call.args else None
    return isinstance(first, ast.Constant) and first.value in SESSION_MAGICS


def batch_tree(source: str, filename: str = "<cell>") -> ast.Module:
    """The AST of a cell for batch execution: IPython syntax transformed, session magics dropped.

    Raises:
        SyntaxError: the cell is not Python even after IPython's transforms.
    """
    tree = ast.parse(to_python(source), filename=filename)
    tree.body = [node for node in tree.body if not session_magic(node)]
    return tree


def names_bound(source: str) -> set[str]:
    """Names a cell binds at its top level (assignments, imports, defs, classes)."""
    try:
        tree = batch_tree(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                found.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return found
