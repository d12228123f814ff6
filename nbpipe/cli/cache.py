"""``nbpipe cache ls | show KEY | clear [--stage S] | gc --max-size SIZE | key init|show-path``.

Glue over :class:`nbpipe.cache.Store`. The store is ``--store URL`` if given, else
``$NBPIPE_STORE``, else ``.nbpipe/`` beside the notebook named on the command line (or
in the current directory). ``key`` manages the store key that signs entries
(:mod:`nbpipe.cache.trust`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from nbpipe.cache import trust
from nbpipe.cache.sizes import human_size, parse_size
from nbpipe.cache.store import GC_GRACE, STORE_ENV, Store
from nbpipe.errors import CacheError


def register(subparsers: Any) -> None:
    """Add ``nbpipe cache`` and its sub-commands."""
    parser = subparsers.add_parser("cache", help="list, inspect, clear and garbage-collect the stage cache")
    commands = parser.add_subparsers(title="cache commands", metavar="ACTION")
    parser.set_defaults(handler=lambda args: _help(parser))

    ls = _sub(commands, "ls", "list cache entries, oldest first")
    ls.add_argument("--json", action="store_true", help="print the manifests as JSON")
    ls.set_defaults(handler=_ls)

    show = _sub(commands, "show", "show one entry's manifest")
    show.add_argument("key", metavar="KEY", help="a cache key or a unique prefix of one")
    show.set_defaults(handler=_show)

    clear = _sub(commands, "clear", "delete entries (all, or one stage's)")
    clear.add_argument("--stage", metavar="S", help="only this stage's entries")
    clear.set_defaults(handler=_clear)

    gc = _sub(commands, "gc", "evict least recently used entries down to a size")
    gc.add_argument("--max-size", metavar="SIZE", type=_size, required=True, help="e.g. 500M, 2G, 1GiB, 0")
    gc.add_argument(
        "--grace",
        metavar="SECONDS",
        type=_seconds,
        default=GC_GRACE,
        help=f"keep entries used in the last SECONDS (default {GC_GRACE:.0f}); entries a running process "
        "is writing or has pinned are always kept",
    )
    gc.set_defaults(handler=_gc)

    key = commands.add_parser(
        "key",
        help="create the store key that signs cache entries, or show where it is read from",
        description="The store key signs every manifest; with one, entries not signed with it are never loaded.",
    )
    key.add_argument("key_action", choices=("init", "show-path"), metavar="init|show-path")
    key.add_argument("--force", action="store_true", help="(init) replace an existing key file")
    key.set_defaults(handler=_key, notebook=None, store=None)


def _sub(commands: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=text, description=text)
    parser.add_argument("notebook", nargs="?", help="notebook (or directory) whose .nbpipe/ store to use")
    parser.add_argument("--store", metavar="URL", help=f"store path or fsspec URL (default: ${STORE_ENV} or .nbpipe/)")
    return parser


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except CacheError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message}; {exc.hint}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}; use a number >= 0, e.g. 0 or 600")
    return value


def store_for(args: argparse.Namespace) -> Store:
    """The store the arguments designate (:meth:`Store.for_notebook`: the one location rule)."""
    return Store.for_notebook(args.notebook, args.store)


def _ls(args: argparse.Namespace) -> int:
    store = store_for(args)
    manifests = store.entries()
    if args.json:
        print(json.dumps([manifest.to_dict() for manifest in manifests], indent=1))
        return 0
    if not manifests:
        print(f"no cache entries in {store.url}")
        return 0
    rows = [("KEY", "STAGE", "OUTPUTS", "SIZE", "SECONDS", "CREATED", "LAST USED")]
    for manifest in manifests:
        used = store.last_used(manifest.key)
        rows.append(
            (
                manifest.key[:12],
                manifest.stage,
                ",".join(manifest.outputs) or "-",
                human_size(manifest.total_bytes),
                f"{manifest.seconds:.2f}",
                manifest.created[:19].replace("T", " "),
                datetime.fromtimestamp(used).strftime("%Y-%m-%d %H:%M:%S") if used else "-",
            )
        )
    _table(rows)
    total = sum(manifest.total_bytes for manifest in manifests)
    print(f"{len(manifests)} entries, {human_size(total)} in {store.url}")
    untrusted = [manifest for manifest in manifests if store.untrusted(manifest.key)]
    if untrusted:
        print(
            f"{len(untrusted)} of them are not signed with this store key: they are misses and never loaded "
            "(their stages run again and re-sign them)"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    manifest = store_for(args).find(args.key)
    print(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False))
    return 0


def _clear(args: argparse.Namespace) -> int:
    store = store_for(args)
    removed = store.clear(stage=args.stage)
    scope = f" of stage {args.stage!r}" if args.stage else ""
    print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'}{scope} from {store.url}")
    return 0


def _gc(args: argparse.Namespace) -> int:
    store = store_for(args)
    started = time.perf_counter()
    evicted = store.gc(args.max_size, grace=args.grace)
    left = [manifest.total_bytes for manifest in store.entries()]
    print(
        f"evicted {len(evicted)} entr{'y' if len(evicted) == 1 else 'ies'} (least recently used first); "
        f"{human_size(sum(left))} left in {store.url} ({time.perf_counter() - started:.2f} s)"
    )
    if sum(left) > args.max_size:
        print(
            f"kept {len(left)} entr{'y' if len(left) == 1 else 'ies'} above {human_size(args.max_size)}: "
            f"in use by a running process or used in the last {args.grace:g} s (--grace 0 to ignore recent use)"
        )
    return 0


def _key(args: argparse.Namespace) -> int:
    path = trust.key_path()
    if args.key_action == "show-path":
        print(path)
        configured = trust.configured_key()
        if os.environ.get(trust.KEY_ENV, "").strip():
            print(f"a key is set in ${trust.KEY_ENV} (id {trust.key_id(configured or b'')}); it wins over the file")
        elif configured:
            print(f"the key file holds a key (id {trust.key_id(configured)})")
        else:
            print(f"no store key: `nbpipe cache key init` creates one, or set ${trust.KEY_ENV}")
        return 0
    if path.exists() and not args.force:
        raise CacheError(f"the key file {path} exists already", hint="--force replaces it (rotation: see the README)")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text, temporary = trust.new_key(), path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    os.replace(temporary, path)
    print(f"wrote a new store key to {path} (id {trust.key_id(text.encode())}, readable only by you)")
    print("share it with whoever shares the store (copy the file, or set NBPIPE_STORE_KEY in CI secrets)")
    return 0


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
