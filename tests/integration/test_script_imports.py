"""An exported script's cached run imports only what a hit needs (issue 16 §7).

Misses need the resource meter and the output summaries; ``nbpipe run`` needs git (``subprocess``)
and, with ``--jobs N``, a pool. A fully cached run of an exported script needs none of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nbpipe.cli import main
from tests.notebooks import write_nb

NOT_ON_A_HIT = (
    "subprocess",
    "multiprocessing",
    "concurrent.futures",
    "nbpipe.runtime.summaries",
    "nbpipe.runtime.resources",
)


def _run(script: Path) -> list[str]:
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}]\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(sorted(m for m in {NOT_ON_A_HIT!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=script.parent)
    return done.stdout.splitlines()


def test_a_cached_script_run_imports_no_miss_or_process_machinery(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "chain.ipynb",
        "%load_ext nbpipe",
        "%%stage a --out x\nx = 1",
        "%%stage b --in x --out y\ny = x + 1",
    )
    script = tmp_path / "chain_pipeline.py"
    assert main(["export", str(nb), "--to", "script", "-o", str(script)]) == 0
    first = _run(script)  # the misses: summaries and the resource meter are imported
    assert "nbpipe.runtime.summaries" in first[-1]
    assert _run(script)[-1] == "[]"  # every stage a hit
    assert (tmp_path / ".nbpipe" / "runs").is_dir()
