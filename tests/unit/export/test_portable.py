"""Exports carry no path of the exporting machine; orchestrator ids stay bounded (issues 11 and 15)."""

from __future__ import annotations

import os

import pytest

from nbpipe.export.codegen import bounded_name
from nbpipe.runtime.script_api import resolve_locations


def test_bounded_names_are_short_unique_identifiers() -> None:
    long_a, long_b = "x" * 400 + "_a", "x" * 400 + "_b"
    a, b = bounded_name(long_a, 250), bounded_name(long_b, 250)
    assert len(a) == len(b) == 250 and a != b
    assert a.isidentifier() and b.isidentifier()
    assert bounded_name(long_a, 250) == a  # deterministic: the same stage gets the same id every export
    assert bounded_name("train", 250) == "train"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("NBPIPE_BASE_DIR", raising=False)
    monkeypatch.delenv("NBPIPE_STORE", raising=False)
    return monkeypatch


def test_the_default_folder_is_relative_to_the_generated_file(clean_env: pytest.MonkeyPatch) -> None:
    folder, store = resolve_locations("/srv/dags", "../notebooks", None)
    assert folder == os.path.abspath("/srv/notebooks") and store is None


def test_parameter_beats_environment_beats_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NBPIPE_BASE_DIR", "/data/env")
    clean_env.setenv("NBPIPE_STORE", "s3://bucket/env")
    assert resolve_locations("/srv", "nb", "s3://bucket/exported") == ("/data/env", "s3://bucket/env")
    got = resolve_locations("/srv", "nb", None, base_dir_param="/data/param", store_param="gs://b/param")
    assert got == ("/data/param", "gs://b/param")


def test_a_relative_store_is_relative_to_the_notebook_folder(clean_env: pytest.MonkeyPatch) -> None:
    assert resolve_locations("/srv/dags", "../nb", "shared/store") == ("/srv/nb", "/srv/nb/shared/store")
    assert resolve_locations("/srv/dags", "../nb", "/abs/store")[1] == "/abs/store"
