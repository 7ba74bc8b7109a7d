"""The Python examples run as a user runs them, against the sample base."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("sync_airtable.py", "3 tables, 2650 rows, 0 failed"),
        ("polars_transform.py", "customers written to"),
    ],
)
def test_an_example_runs_with_no_credentials(script: str, says: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTABLE_")}
    out = tmp_path / "out.duckdb"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert says in done.stdout, done.stdout
    assert out.exists()
