"""The one stage graph (nbpipe.dag): order, parents, children, cycles."""

from __future__ import annotations

import graphlib
import heapq
import itertools

from hypothesis import given
from hypothesis import strategies as st

from nbpipe.dag import build_dag, declared_edges
from nbpipe.header import parse_header


def _reference_order(names: list[str], edges: set[tuple[str, str]]) -> list[str] | None:
    """graphlib with the highest ready stage first (the definition of the one order), None on a cycle."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name in names:
        sorter.add(name, *(s for s, t in edges if t == name))
    try:
        sorter.prepare()
    except graphlib.CycleError:
        return None
    position = {n: i for i, n in enumerate(names)}
    ready: list[tuple[int, str]] = []
    order = []
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, (position[name], name))
        _pos, name = heapq.heappop(ready)
        order.append(name)
        sorter.done(name)
    return order


@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))))
    )
)
def test_order_and_cycles_match_graphlib(case: tuple[int, set[tuple[int, int]]]) -> None:
    n, pairs = case
    names = [f"s{i}" for i in range(n)]
    edges = {(names[a], names[b]) for a, b in pairs if a != b}
    dag = build_dag(names, edges)
    expected = _reference_order(names, edges)
    if expected is None:
        assert dag.order == () and dag.cycle
        cycle = list(dag.cycle)
        assert cycle[0] == cycle[-1] and (
            all((a, b) in edges for a, b in itertools.pairwise(cycle))
            or all((b, a) in edges for a, b in itertools.pairwise(cycle))
        )
    else:
        assert list(dag.order) == expected and dag.cycle is None
        for child in names:
            assert set(dag.parents[child]) == {s for s, t in edges if t == child}


def test_a_to_b_and_independent_c_is_a_b_c() -> None:
    headers = [parse_header("a --out x"), parse_header("b --in x --out y"), parse_header("c --out z")]
    dag = build_dag([h.name for h in headers], declared_edges(headers))
    assert dag.order == ("a", "b", "c")
    assert dag.upstream(["b"]) == ["a", "b"] and dag.downstream("a") == ["b"]
    assert dag.children["a"] == ("b",) and dag.parents["c"] == ()


def test_a_cycle_reads_in_the_direction_data_flows() -> None:
    headers = [parse_header("s1 --in z --out x"), parse_header("s2 --in x --out y"), parse_header("s3 --in y --out z")]
    assert build_dag([h.name for h in headers], declared_edges(headers)).cycle == ("s1", "s2", "s3", "s1")
