"""Fixtures of the integration tests that need more than the top-level conftest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def airflow_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated AIRFLOW_HOME per test process (airflow reads it once, at import); its dags folder."""
    home = os.environ.get("AIRFLOW_HOME", "")
    if not home or not (Path(home) / ".nbpipe-test-migrated").exists():
        home = str(tmp_path_factory.mktemp("airflow_home"))
        (Path(home) / "dags").mkdir()
        os.environ["AIRFLOW_HOME"] = home
        os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(home) / "dags")
        os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=300)
        (Path(home) / ".nbpipe-test-migrated").touch()
    return Path(home) / "dags"
