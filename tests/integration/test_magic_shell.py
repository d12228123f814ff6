"""``%%stage`` in a real IPython shell: isolation, errors, outputs, NBP201, bundles, cache, IPython features."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.utils.capture import capture_output

from nbpipe.model import STAGE_MIME


def run(shell: Any, source: str) -> tuple[Any, Any]:
    with capture_output() as cap:
        result = shell.run_cell(source)
    return result, cap


def bundles(cap: Any) -> list[dict[str, Any]]:
    return [o.data[STAGE_MIME] for o in cap.outputs if STAGE_MIME in o.data]


def test_stage_sees_setup_and_inputs_and_publishes_outputs(shell: Any) -> None:
    run(shell, "import math\nN = 3\ndef double(v):\n    return 2 * v")
    result, cap = run(shell, "%%stage load --out xs\nxs = [double(i) for i in range(N)]\ntmp = math.pi")
    assert result.success
    assert shell.user_ns["xs"] == [0, 2, 4]
    assert shell.user_ns["tmp"] == pytest.approx(3.14159, rel=1e-4)  # locals come back for inspection
    [bundle] = bundles(cap)
    assert bundle["stage"] == "load" and bundle["status"] == "ran" and len(bundle["key"]) == 32
    assert set(bundle) == {"stage", "key", "source_hash", "status", "seconds"}
    assert "stage 'load' ran" in cap.outputs[-1].data["text/plain"]


def test_undeclared_read_fails_with_the_fix(shell: Any) -> None:
    run(shell, "%%stage load --out xs\nxs = [1, 2]")
    result, cap = run(shell, "%%stage fit --out total\ntotal = sum(xs)")
    assert not result.success
    assert isinstance(result.error_in_exec, NameError)
    message = str(result.error_in_exec)
    assert "stage 'fit' reads 'xs', which stage 'load' binds" in message
    assert "declare it: %%stage fit --in xs --out total" in message
    assert bundles(cap)[-1]["status"] == "failed"
    assert "total" not in shell.user_ns


def test_locals_of_other_stages_are_invisible_and_refused_as_inputs(shell: Any) -> None:
    run(shell, "%%stage load --out xs\nxs = [1]\nhelper_value = 5")
    result, _ = run(shell, "%%stage use --out y\ny = helper_value")
    assert "a local of stage 'load'" in str(result.error_in_exec)
    result, _ = run(shell, "%%stage use --in helper_value --out y\ny = helper_value")
    assert not result.success
    assert "add 'helper_value' to the --out of stage 'load'" in str(result.error_in_exec)


def test_missing_input_names_its_producer(shell: Any) -> None:
    result, _ = run(shell, "%%stage fit --in xs --out m\nm = xs")
    assert "needs input 'xs', which is not defined" in str(result.error_in_exec)
    run(shell, "%%stage load --out xs\nraise ValueError('boom')")
    result, _ = run(shell, "%%stage fit --in xs --out m\nm = xs")
    assert "stage 'load' outputs it but has not run successfully" in str(result.error_in_exec)


def test_missing_output_is_an_error_and_binds_nothing(shell: Any) -> None:
    result, _cap = run(shell, "%%stage s --out a b\na = 1")
    assert not result.success
    assert "declares output 'b' but its body never binds it" in str(result.error_in_exec)
    assert "a" not in shell.user_ns


@pytest.mark.parametrize(
    "line",
    ["1bad", "s --in x x", "s --in x --out x", "s --nope", "s --in 2x"],
)
def test_bad_header_runs_nothing(shell: Any, line: str) -> None:
    result, _cap = run(shell, f"%%stage {line}\nran = True")
    assert not result.success
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "ran" not in shell.user_ns


def test_in_place_mutation_of_an_input_fails_nbp201(shell: Any) -> None:
    """The same rule as every batch target: a stage that changes an input or a setup object in place fails."""
    run(shell, "%%stage load --out xs\nxs = [3, 1, 2]")
    result, _cap = run(shell, "%%stage srt --in xs --out n\nxs.sort()\nn = len(xs)")
    assert not result.success
    assert "NBP201: stage 'srt' changed its input 'xs' in place" in str(result.error_in_exec)
    assert "n" not in shell.user_ns  # a failed stage publishes nothing
    result, _cap = run(shell, "%%stage ok --in xs --out m\nm = sorted(xs)")
    assert result.success
    run(shell, "SEEN = []")
    result, _cap = run(shell, "%%stage grow --out k\nSEEN.append(1)\nk = len(SEEN)")
    assert "NBP201: stage 'grow' changed its setup object 'SEEN' in place" in str(result.error_in_exec)
    run(shell, "import numpy as np\nrng = np.random.default_rng(0)")
    result, _cap = run(shell, "%%stage draw --out d\nd = rng.integers(10)")
    assert "setup object 'rng'" in str(result.error_in_exec)  # drawing from a shared generator changes it


def test_ipython_features_work_inside_a_stage(shell: Any) -> None:
    result, cap = run(shell, "%%stage s --out a\n%time a = 41 + 1\nb = !echo shell-ok\nb[0]")
    assert result.success, result.error_in_exec
    assert shell.user_ns["a"] == 42
    assert shell.user_ns["b"][0] == "shell-ok"
    assert any("shell-ok" in str(o.data.get("text/plain", "")) for o in cap.outputs) or "shell-ok" in cap.stdout


def test_last_expression_is_displayed_and_display_works(shell: Any) -> None:
    result, cap = run(shell, "%%stage s --out a\nfrom IPython.display import display\na = 5\ndisplay('shown')\na * 2")
    assert result.success
    texts = [o.data.get("text/plain") for o in cap.outputs]
    assert "'shown'" in texts
    assert "10" in cap.stdout or "10" in texts


def test_traceback_points_at_the_cell_line(shell: Any) -> None:
    result, _cap = run(shell, "%%stage s --out a\na = 1\nb = 2\nraise KeyError('where')")
    assert isinstance(result.error_in_exec, KeyError)
    tb = result.error_in_exec.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_lineno == 4  # line 4 of the cell, header included


def test_rerun_after_edit_and_any_order(shell: Any) -> None:
    run(shell, "%%stage a --out x\nx = 1\nold_local = 1")
    run(shell, "%%stage b --in x --out y\ny = x + 1")
    result, _ = run(shell, "%%stage a --out x\nx = 10")
    assert result.success and shell.user_ns["x"] == 10
    assert "old_local" not in shell.user_ns  # a re-run drops the locals it no longer binds
    run(shell, "%%stage b --in x --out y\ny = x + 1")
    assert shell.user_ns["y"] == 11


def test_unchanged_stage_is_restored_from_the_cache(shell: Any) -> None:
    _, cap = run(shell, "%%stage a --out x\nimport time\ntime.sleep(0.2)\nx = [1, 2]")
    first = bundles(cap)[0]
    del shell.user_ns["x"]
    _, cap = run(shell, "%%stage a --out x\n# a comment changes nothing\nimport time\ntime.sleep(0.2)\nx = [1, 2]")
    second = bundles(cap)[0]
    assert second["status"] == "cached" and second["key"] == first["key"]
    assert second["seconds"] >= 0.2  # time saved
    assert "restored from cache" in cap.outputs[-1].data["text/plain"]
    assert shell.user_ns["x"] == [1, 2]
    _, cap = run(shell, "%%stage a --no-cache --out x\nx = [1, 2]")
    assert bundles(cap)[0]["status"] == "ran"


def test_parameter_change_invalidates_the_cache_with_a_reason(shell: Any) -> None:
    run(shell, "C = 1.0")
    run(shell, "%%stage fit --out m\nm = C * 2")
    run(shell, "C = 0.5")
    _, cap = run(shell, "%%stage fit --out m\nm = C * 2")
    assert "parameter 'C' 1.0 → 0.5" in cap.outputs[-1].data["text/plain"]
    assert shell.user_ns["m"] == 1.0


def test_check_gate_fails_the_stage_with_values(shell: Any) -> None:
    result, _ = run(shell, '%%stage e --out acc --check "acc > 0.8"\nacc = 0.5')
    assert not result.success
    assert "check failed for stage 'e': acc > 0.8 (acc = 0.5)" in str(result.error_in_exec)


def test_stage_help_is_shown(shell: Any) -> None:
    with capture_output() as cap:
        shell.run_cell("%%stage?")
    text = cap.stdout + "".join(str(o.data.get("text/plain", "")) for o in cap.outputs)
    assert "--in" in text and "--file-in" in text


def test_nbpipe_config_and_unknown_subcommand(shell: Any, tmp_path: Any) -> None:
    result, _ = run(shell, f"%nbpipe config store={tmp_path / 'elsewhere'}")
    assert result.success
    run(shell, "%%stage a --out x\nx = 1")
    assert (tmp_path / "elsewhere" / "entries").exists()
    result, _ = run(shell, "%nbpipe frobnicate")
    assert "unknown %nbpipe sub-command 'frobnicate'" in str(result.error_in_exec)


def test_edited_stage_reruns_saying_which_line_changed(shell: Any) -> None:
    run(shell, "%%stage s --out a\nx = 1\na = x + 1")
    _, cap = run(shell, "%%stage s --out a\nx = 1\na = x + 2")
    assert "code changed (line 3)" in cap.outputs[-1].data["text/plain"]


def test_graph_check_and_cache_subcommands(shell: Any, tmp_path: Any) -> None:
    from tests.notebooks import write_nb

    stages = ("%%stage load --out xs\nxs = [1]", "%%stage use --in xs --out n\nn = len(xs)")
    path = write_nb(tmp_path / "g.ipynb", "%load_ext nbpipe", *stages)  # without it, check warns NBP211
    view = shell.run_line_magic("nbpipe", f"graph {path}")
    assert "load -> use (xs)" in repr(view) and "<svg" in view._repr_html_()
    with capture_output() as cap:
        errors = shell.run_line_magic("nbpipe", f"check {path}")
    assert errors == 0 and "clean (2 stages)" in cap.stdout  # what `nbpipe check` prints
    run(shell, "%%stage load --out xs\nxs = [1]")
    with capture_output() as cap:
        shell.run_line_magic("nbpipe", "cache ls")
    assert "load" in cap.stdout
    with capture_output() as cap:
        shell.run_line_magic("nbpipe", "cache clear --stage load")
    assert "removed 1 entries" in cap.stdout
