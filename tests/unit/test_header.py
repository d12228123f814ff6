"""The %%stage header grammar: every good form and every bad-header case (table-driven)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbpipe.errors import HeaderError
from nbpipe.header import header_line, help_text, parse_header
from nbpipe.model import StageHeader

GOOD = [
    ("load", StageHeader("load")),
    ("fit --in X y --out model", StageHeader("fit", ("X", "y"), ("model",))),
    ("fit --in X --in y --out model", StageHeader("fit", ("X", "y"), ("model",))),
    (
        "r --file-in data/a.csv 'my file.csv' --file-out out.csv",
        StageHeader("r", (), (), ("data/a.csv", "my file.csv"), ("out.csv",)),
    ),
    ("t --no-cache --retries 2", StageHeader("t", no_cache=True, retries=2)),
    (
        'e --out acc --check "acc > 0.8" "acc <= 1"',
        StageHeader("e", outputs=("acc",), checks=("acc > 0.8", "acc <= 1")),
    ),
    ("  spaced   --out   a  ", StageHeader("spaced", outputs=("a",))),
]

BAD = [
    ("", "has no name"),
    ("1load", "not a Python identifier"),
    ("class", "not a Python identifier"),
    ("load-data", "not a Python identifier"),
    ("a --in 1x", "'1x', not a Python identifier"),
    ("a --out x-y", "'x-y', not a Python identifier"),
    ("a --in x x", "more than once"),
    ("a --out y y", "more than once"),
    ("a --in x --out x", "in both --in and --out"),
    ("a --bogus", "unrecognized arguments: --bogus"),
    ("a b", "unrecognized arguments: b"),
    ("a --in", "expected at least one argument"),
    ("a --retries x", "invalid int value"),
    ("a --retries -1", "--retries must be >= 0"),
    ('a --check "x >"', "is not a Python expression"),
    ('a "unclosed', "No closing quotation"),
    ("a --in=x --inp y", "unrecognized arguments"),
]


@pytest.mark.parametrize(("line", "expected"), GOOD)
def test_good_headers(line: str, expected: StageHeader) -> None:
    assert parse_header(line) == expected


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_headers_raise_one_clear_error(line: str, message: str) -> None:
    with pytest.raises(HeaderError) as info:
        parse_header(line)
    assert message in str(info.value)
    assert info.value.code == "NBP002"


@pytest.mark.parametrize(("line", "_"), GOOD)
def test_canonical_round_trips(line: str, _: StageHeader) -> None:
    header = parse_header(line)
    assert parse_header(header.canonical()) == header


def test_header_line_detects_stage_cells() -> None:
    assert header_line("%%stage fit --in X\nbody") == "fit --in X"
    assert header_line("\n%%stage fit\n") == "fit"
    assert header_line("%%stagey fit") is None
    assert header_line("x = 1\n%%stage fit") is None


def test_help_lists_every_option() -> None:
    text = help_text()
    for flag in ("--in", "--out", "--file-in", "--file-out", "--no-cache", "--retries", "--check"):
        assert flag in text


@given(st.text(max_size=80))
def test_parse_header_only_raises_header_error(line: str) -> None:
    try:
        header = parse_header(line)
    except HeaderError:
        return
    assert header.name.isidentifier()


_WORDS = st.sampled_from(
    ["a", "x_1", "df", "load", "1bad", "data/x.csv", "-", "--", "-1", "--in", "--out", "--file-in", "--file-out",
     "--no-cache", "--retries", "2", "--check", "--ou", "class", "x.y", "a-b"]
)  # fmt: skip


@given(st.lists(_WORDS, max_size=9), st.sampled_from([" ", "  ", "\t"]))
def test_the_plain_reader_agrees_with_argparse(words: list[str], space: str) -> None:
    """The argparse-free path for plain lines gives argparse's header, or leaves the line to it."""
    from nbpipe import header as grammar

    line = space.join(words)
    fast = grammar._plain(line)
    if fast is None:
        return
    assert fast == grammar.parsed_header(grammar.split_header(line))
