"""What a stage showed when it ran — stdout, stderr, displays, its last expression — kept to show again.

A stage restored from the cache skips its body, so without this a warm Run All would
lose every print, table and figure of the cold one. The outputs are recorded while
the body runs (passed through as they happen), kept in the entry's folder as a JSON
document ``replay.json`` (capped in size; gc removes it with the entry), and replayed
before the line that says the stage was restored.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from nbpipe.cache.maintenance import REPLAY
from nbpipe.cache.store import Store
from nbpipe.errors import CacheError

#: The most a stage's recorded outputs keep, in bytes of JSON.
MAX_BYTES = 1 << 20

#: MIME types replayed from a store whose entries are signed (a replay document is not):
#: nothing that a browser would run.
INERT = ("text/plain", "image/png", "image/jpeg")


class Recording:
    """The outputs of one stage run, in order, within :data:`MAX_BYTES`."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.size = 0
        self.dropped = 0

    def stream(self, name: str, text: str) -> None:
        """Text written to ``stdout`` or ``stderr`` (consecutive writes are merged)."""
        if not text:
            return
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last["type"] == "stream" and last["name"] == name and self._room(len(text)):
            last["text"] += text
            self.size += len(text)
            return
        self._add({"type": "stream", "name": name, "text": text})

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        """A rich display (``display(df)``, a figure)."""
        self._add({"type": "display", "data": _jsonable(data), "metadata": _jsonable(metadata or {})})

    def _add(self, output: dict[str, Any]) -> None:
        size = len(json.dumps(output, default=str))
        if not self._room(size):
            self.dropped += 1
            return
        self.outputs.append(output)
        self.size += size

    def _room(self, size: int) -> bool:
        return self.size + size <= MAX_BYTES

    def to_data(self) -> dict[str, Any]:
        """The JSON document."""
        return {"version": 1, "outputs": self.outputs, "dropped": self.dropped}


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(value, default=str))  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        return {"text/plain": str(value.get("text/plain", ""))}


class _Tee:
    """A text stream that records what passes through it."""

    def __init__(self, target: TextIO, name: str, recording: Recording) -> None:
        self._target, self._name, self._recording = target, name, recording

    def write(self, text: str) -> int:
        self._recording.stream(self._name, text)
        return self._target.write(text)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._target, attr)


@contextlib.contextmanager
def recording_streams(recording: Recording) -> Iterator[None]:
    """Record ``sys.stdout`` and ``sys.stderr`` while still writing them through."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(out, "stdout", recording), _Tee(err, "stderr", recording)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def save(store: Store, key: str, recording: Recording) -> None:
    """Keep a recording with the entry ``key`` (nothing when the stage showed nothing; faults are ignored)."""
    if not recording.outputs:
        return
    with contextlib.suppress(CacheError):
        store.write_document(_path(key), recording.to_data())


def load(store: Store, key: str) -> list[dict[str, Any]]:
    """The outputs kept for entry ``key`` (empty if none); only :data:`INERT` ones from signed stores."""
    data = store.read_document(_path(key))
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), list):
        return []
    outputs = [o for o in data["outputs"] if isinstance(o, dict) and o.get("type") in ("stream", "display")]
    if store.key is not None:
        outputs = [_inert(o) for o in outputs]
    return [o for o in outputs if o]


def _path(key: str) -> str:
    """Inside the entry's folder: gc removes it with the entry."""
    return f"entries/{key[:2]}/{key}/{REPLAY}"


def _inert(output: dict[str, Any]) -> dict[str, Any]:
    if output["type"] == "stream":
        return output
    data = output.get("data")
    kept = {k: v for k, v in data.items() if k in INERT} if isinstance(data, dict) else {}
    return {**output, "data": kept} if kept else {}
