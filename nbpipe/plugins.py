"""Plugins from entry points: the one loader for every registry (serializers, summarisers, exporters)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def entry_points(group: str) -> list[Any]:
    """The installed entry points of ``group`` (``importlib.metadata`` is imported only when asked: ~15 ms)."""
    from importlib import metadata

    return list(metadata.entry_points(group=group))


def load(entry: Any) -> object:
    """What an entry point names; a class is instantiated (a plugin may name its class or an instance)."""
    loaded = entry.load()
    return loaded() if isinstance(loaded, type) else loaded


def loaded(group: str, *, skip_broken: bool) -> Iterator[tuple[str, object]]:
    """``(name, plugin)`` for each entry point of ``group``.

    Args:
        skip_broken: leave out an entry point whose import or construction raises (a
            plugin that only adds information must never fail a run); else the error
            propagates to the caller, which names it.
    """
    for entry in entry_points(group):
        try:
            plugin = load(entry)
        except Exception:
            if skip_broken:
                continue
            raise
        yield entry.name, plugin
