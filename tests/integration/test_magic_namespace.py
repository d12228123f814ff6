"""A stage's namespace in a real IPython shell holds only what the body names (issue 16 §5).

Whatever the body reaches — statically, from a class body, from a function it defines,
dynamically through ``eval`` or ``globals()`` — it sees the same setup names, builtins
and isolation as a namespace holding every setup name; a large namespace costs nothing.
"""

from __future__ import annotations

from typing import Any

from IPython.utils.capture import capture_output


def run(shell: Any, source: str) -> Any:
    with capture_output():
        result = shell.run_cell(source)
    assert result.success, result.error_in_exec or result.error_before_exec
    return result


def fail(shell: Any, source: str) -> BaseException:
    with capture_output():
        result = shell.run_cell(source)
    assert not result.success
    return result.error_in_exec


def test_dynamic_lookups_see_setup_names(shell: Any) -> None:
    run(shell, "ALPHA = 2\nBETA = 3")
    run(
        shell,
        "%%stage dyn --out found\n"
        "found = (eval('ALPHA'), globals()['BETA'], globals().get('ALPHA'), 'BETA' in globals(), "
        "globals().get('nope', -1))",
    )
    assert shell.user_ns["found"] == (2, 3, 2, True, -1)


def test_class_bodies_functions_and_comprehensions_see_setup_names(shell: Any) -> None:
    run(shell, "SCALE = 10\ndef helper(v):\n    return v + 1")
    run(
        shell,
        "%%stage shapes --out out\n"
        "class Box:\n"
        "    size = SCALE * 2\n"
        "def grow(v):\n"
        "    global SCALE\n"
        "    return helper(v) * SCALE\n"
        "out = (Box.size, grow(1), [SCALE + i for i in range(2)], (lambda: len([1, 2]))())",
    )
    assert shell.user_ns["out"] == (20, 20, [10, 11], 2)
    run(shell, "later = grow(2)")  # a function the stage defined still sees its setup names
    assert shell.user_ns["later"] == 30


def test_setup_names_shadow_builtins_and_stage_bindings_stay_local(shell: Any) -> None:
    run(shell, "max = lambda *a: 'setup max'")
    run(shell, "%%stage shadow --out got\ngot = (max(1, 2), min(1, 2))\nsum = 'mine'")
    assert shell.user_ns["got"] == ("setup max", 1)
    assert shell.user_ns["sum"] == "mine"  # a binding of a builtin's name is the stage's local
    run(shell, "del max, sum")


def test_builtins_copied_in_are_not_published(shell: Any) -> None:
    run(shell, "%%stage plain --out n\nn = len(range(3))")
    assert shell.user_ns["n"] == 3
    assert "len" not in shell.user_ns and "range" not in shell.user_ns


def test_isolation_holds_for_dynamic_lookups(shell: Any) -> None:
    run(shell, "%%stage load --out xs\nxs = [1, 2]")
    error = fail(shell, "%%stage peek --out y\ny = eval('xs')")
    assert isinstance(error, NameError)
    assert "stage 'peek' reads 'xs', which stage 'load' binds" in str(error)
    run(shell, "%%stage peek2 --out y\ny = globals().get('xs', 'hidden')")
    assert shell.user_ns["y"] == "hidden"


def test_check_expressions_see_setup_names(shell: Any) -> None:
    run(shell, "LIMIT = 5")
    run(shell, "%%stage gated --out v --check 'v < LIMIT'\nv = 1")
    error = fail(shell, "%%stage gated2 --out v2 --check 'v2 < LIMIT'\nv2 = 9")
    assert "check failed" in str(error) and "LIMIT = 5" in str(error)


def test_a_large_namespace_gives_the_same_key_and_values(shell: Any) -> None:
    run(shell, "K = 4")
    run(shell, "%%stage keyed --out r\nr = K * 2")
    key = shell.magics_manager.registry["NbpipeMagics"].session.runs["keyed"].key
    shell.user_ns.update({f"filler_{i}": i for i in range(10_000)})
    run(shell, "%%stage keyed --out r\nr = K * 2")
    again = shell.magics_manager.registry["NbpipeMagics"].session.runs["keyed"]
    assert again.status == "cached" and again.key == key
    assert shell.user_ns["r"] == 8


def test_the_header_is_read_as_written(shell: Any) -> None:
    """No ``{name}``/``$name`` expansion: the analyzer and every export read the header as written."""
    run(shell, "N = 3")
    run(shell, "%%stage literal --out y --check \"y == '{N}'\"\ny = '{N}'")
    assert shell.user_ns["y"] == "{N}"


def test_classes_and_functions_a_stage_defines_belong_to_main(shell: Any) -> None:
    run(shell, "%%stage defs --out kinds\nclass Box:\n    pass\ndef make():\n    return Box()\nkinds = None")
    assert shell.user_ns["Box"].__module__ == "__main__"
    assert shell.user_ns["make"].__module__ == "__main__"
