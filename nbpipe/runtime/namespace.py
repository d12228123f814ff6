"""Stage namespaces: what a stage body may see (DESIGN §4 step 3).

A stage sees builtins, setup names, parameters and its declared inputs. A name
bound by another stage is invisible unless declared, and reading it fails with a
``NameError`` that names the stage that binds it and the corrected header, the
same failure the exported script would give.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nbpipe.model import StageHeader

#: IPython bookkeeping names that never count as user data.
_IPYTHON_NAMES = frozenset({"In", "Out", "_", "__", "___", "_ih", "_oh", "_dh", "exit", "quit", "_exit_code"})


def is_internal(name: str) -> bool:
    """True for IPython's history and output-cache names (``_i3``, ``_5``, ``Out``…)."""
    if name in _IPYTHON_NAMES:
        return True
    if name.startswith("_i") and (name[2:].isdigit() or name in ("_i", "_ii", "_iii")):
        return True
    return name.startswith("_") and name[1:].isdigit()


@dataclass
class Ownership:
    """Which stage bound which name in this session: outputs and mere locals."""

    outputs: dict[str, str] = field(default_factory=dict)  # name -> stage that outputs it
    locals: dict[str, str] = field(default_factory=dict)  # name -> stage it is a local of
    headers: dict[str, StageHeader] = field(default_factory=dict)  # stage -> last header run

    def owner(self, name: str) -> tuple[str, str] | None:
        """(stage, "output" | "local") for a stage-bound name, else None."""
        if name in self.outputs:
            return self.outputs[name], "output"
        if name in self.locals:
            return self.locals[name], "local"
        return None

    def producer(self, name: str) -> str | None:
        """The stage whose header declares ``name`` in ``--out``, if one ran."""
        for stage, header in self.headers.items():
            if name in header.outputs:
                return stage
        return None

    def claim(self, stage: str, outputs: set[str], local_names: set[str]) -> set[str]:
        """Record what ``stage`` bound; returns names it bound before but not now."""
        before = {n for n, s in self.outputs.items() if s == stage} | {n for n, s in self.locals.items() if s == stage}
        for name in outputs:
            self.locals.pop(name, None)
            self.outputs[name] = stage
        for name in local_names:
            if self.outputs.get(name) not in (None, stage):
                continue  # another stage's output wins over a local of the same name
            self.outputs.pop(name, None)
            self.locals[name] = stage
        gone = before - outputs - local_names
        for name in gone:
            self.outputs.pop(name, None)
            self.locals.pop(name, None)
        return gone


def with_input(header: StageHeader, name: str) -> str:
    """The header line of ``header`` with ``name`` added to its ``--in``."""
    fixed = StageHeader(**{**header.__dict__, "inputs": (*header.inputs, name)})
    return "%%stage " + fixed.canonical()


class StageNamespace(dict[str, Any]):
    """The globals of a stage body: a dict whose misses explain stage isolation."""

    def __init__(
        self, initial: Mapping[str, Any], header: StageHeader, ownership: Ownership | Callable[[], Ownership]
    ) -> None:
        """Args: ``ownership``, or a function giving it, called only when a NameError needs explaining."""
        super().__init__(initial)
        self._header = header
        self._ownership = ownership

    def explain(self, exc: NameError) -> None:
        """Rewrite a NameError for a name another stage binds, in place (keeps the traceback).

        The interpreter raises the NameError in the user's own frame, so the
        traceback ends at the cell line that read the name.
        """
        name = getattr(exc, "name", None)
        if not name or name in self or hasattr(builtins, name):
            return
        ownership = self._ownership if isinstance(self._ownership, Ownership) else self._ownership()
        found = ownership.owner(name)
        if found is not None:
            exc.args = (isolation_message(self._header, name, *found),)


def isolation_message(header: StageHeader, name: str, owner: str, kind: str) -> str:
    """The message for a stage reading a name another stage binds."""
    fix = with_input(header, name)
    if kind == "output":
        return (
            f"stage {header.name!r} reads {name!r}, which stage {owner!r} binds; stages see only "
            f"what they declare. declare it: {fix}"
        )
    return (
        f"stage {header.name!r} reads {name!r}, a local of stage {owner!r} (not in its --out); "
        f"add {name!r} to the --out of stage {owner!r}, then declare it: {fix}"
    )


def visible_names(
    user_ns: Mapping[str, Any], ownership: Ownership, hidden: set[str] | frozenset[str]
) -> dict[str, Any]:
    """Setup names and parameters: everything in ``user_ns`` that no stage bound."""
    view = SetupView(user_ns, ownership, hidden)
    return {k: v for k, v in user_ns.items() if view.visible(k)}


class SetupView(Mapping[str, Any]):
    """What :func:`visible_names` copies, looked up one name at a time in the live ``user_ns``.

    A stage touches a few names of a namespace that may hold thousands; a lookup costs
    what the stage touches, not what the namespace holds (iterating costs the whole).
    """

    def __init__(self, user_ns: Mapping[str, Any], ownership: Ownership, hidden: set[str] | frozenset[str]) -> None:
        self._user_ns = user_ns
        self._ownership = ownership
        self._hidden = hidden

    def visible(self, name: str) -> bool:
        """The one rule: a setup name is one no stage bound, not IPython's own, not hidden."""
        own = self._ownership
        return name not in own.outputs and name not in own.locals and not is_internal(name) and name not in self._hidden

    def __getitem__(self, name: str) -> Any:
        if not self.visible(name):
            raise KeyError(name)
        return self._user_ns[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._user_ns and self.visible(name)

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._user_ns if self.visible(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class LiveStageNamespace(StageNamespace):
    """A stage namespace holding what the body names, backed by a :class:`SetupView` for the rest.

    The kernel copies in only the names the body mentions (all a compiled body looks up);
    a name looked up dynamically (``eval``, ``globals()[...]``) comes from the live view,
    so it sees the same setup names as a namespace holding them all.
    """

    def __init__(
        self, initial: Mapping[str, Any], header: StageHeader, ownership: Ownership, setup: Mapping[str, Any]
    ) -> None:
        super().__init__(initial, header, ownership)
        self._setup = setup

    def __missing__(self, name: str) -> Any:
        return self._setup[name]  # a KeyError sends the interpreter on to builtins, then NameError

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or name in self._setup

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """Like ``dict.get``, falling back on the setup view."""
        return self[name] if name in self else default


def bound_names(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """Names the body bound or rebound: new keys and keys whose object changed."""
    return {k for k, v in after.items() if not is_internal(k) and (k not in before or before[k] is not v)}
