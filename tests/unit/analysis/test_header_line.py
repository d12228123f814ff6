"""The ``%%stage`` line hints propose keeps everything but what they change (``@NOTEBOOK``, resources)."""

from __future__ import annotations

from nbpipe.analysis.checks_stage import header_line
from nbpipe.header import parse_header


def test_a_hint_keeps_the_notebook_of_an_input_and_the_resources() -> None:
    header = parse_header("fit --in features@prep.py y --out model --resources cpu=2")
    assert header_line(header, add_in=("z",)) == "%%stage fit --in features@prep.py y z --out model --resources cpu=2"
    assert header_line(header, drop_in=("y",)) == "%%stage fit --in features@prep.py --out model --resources cpu=2"
    assert header_line(header, drop_in=("features",)) == "%%stage fit --in y --out model --resources cpu=2"
