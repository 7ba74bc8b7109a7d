"""Pipeline files from Python: read, check, plan and run, as `etl` does."""

import sqlite3
from pathlib import Path

import pytest

import etl

PIPELINE = """
name = "files_to_sqlite"

[params.folder]
type = "string"
default = "data"

[params.db]
type = "string"
default = "shop.sqlite"

[sources.data]
files = { path = "${params.folder}" }

[warehouses.shop]
sqlite = { path = "${params.db}" }

[[steps]]
name = "load"
source = "data"
warehouse = "shop"
retries = 1
backoff = "fixed 10ms"
"""


def write_pipeline(dir: Path) -> Path:
    (dir / "data").mkdir()
    (dir / "data" / "orders.csv").write_text("id,total\n1,9.5\n2,20\n")
    (dir / "other").mkdir()
    (dir / "other" / "orders.csv").write_text("id,total\n7,1\n")
    path = dir / "pipeline.toml"
    path.write_text(PIPELINE)
    return path


def orders(dir: Path) -> list[tuple[int, float]]:
    with sqlite3.connect(dir / "shop.sqlite") as conn:
        return conn.execute('SELECT id, total FROM "orders" ORDER BY id').fetchall()


def test_a_pipeline_file_is_read_checked_planned_and_run(tmp_path: Path) -> None:
    pipeline = etl.Pipeline.read(write_pipeline(tmp_path))
    assert pipeline.name == "files_to_sqlite"
    assert pipeline.steps == ["load"]
    assert isinstance(pipeline.check(), list)
    assert "load" in pipeline.plan()
    report = pipeline.run()
    assert report.succeeded
    step = report.step("load")
    assert step is not None and step.status == "SUCCEEDED" and step.attempts == 1
    assert "load" in str(report) and "SUCCEEDED" in str(report)
    assert orders(tmp_path) == [(1, 9.5), (2, 20.0)]
    # A run's parameters, as `--param folder=other`.
    pipeline.run(params={"folder": "other"})
    assert orders(tmp_path) == [(7, 1.0)]


def test_every_problem_of_a_file_is_named_at_its_line(tmp_path: Path) -> None:
    broken = PIPELINE.replace('source = "data"', 'source = "nowhere"').replace(
        "retries = 1", "retries = -4"
    )
    with pytest.raises(etl.ConfigError) as raised:
        etl.Pipeline.parse(broken, tmp_path / "broken.toml")
    problems = raised.value.problems  # type: ignore[attr-defined]
    assert len(problems) == 2, problems
    lines = [line for line, _, _ in problems]
    assert lines == sorted(lines)
    assert f"{tmp_path / 'broken.toml'}:{lines[0]}:" in str(raised.value)
    assert any("nowhere" in message for _, _, message in problems)
    assert raised.value.line == lines[0]
    with pytest.raises(etl.ConfigError):
        etl.Pipeline.read(tmp_path / "missing.toml")


def test_a_failed_step_raises_with_the_report(tmp_path: Path) -> None:
    pipeline = etl.Pipeline.read(write_pipeline(tmp_path))
    # A warehouse file that is not a database: found when the step runs.
    (tmp_path / "garbage.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(etl.RunError) as raised:
        pipeline.run(params={"db": "garbage.sqlite"})
    report = raised.value.report
    assert report is not None and not report.succeeded
    step = report.step("load")
    assert step is not None and step.status == "FAILED"
    assert step.attempts == 2, "one retry, as the file says"
    assert step.error and "garbage.sqlite" in step.error
    quiet = pipeline.run(params={"db": "garbage.sqlite"}, raise_on_failure=False)
    assert not quiet.succeeded
    # What the offline check finds stops the run before any data moves.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "orders.jsonl").write_text('{"id": 1}\n{"id": \n')
    with pytest.raises(etl.ConfigError, match="orders.jsonl, line 2"):
        pipeline.run(params={"folder": "bad"})
    # Parameters are text, numbers or booleans; a list is named.
    with pytest.raises(etl.ConfigError, match="params.folder") as bad_param:
        pipeline.run(params={"folder": ["a", "b"]})  # type: ignore[dict-item]
    assert bad_param.value.field == "params.folder"
    with pytest.raises(etl.ConfigError, match='unknown parameter "folders": it declares db, folder'):
        pipeline.run(params={"folders": "x"})
    # A value of the wrong type for its declaration is refused by the run.
    typed = etl.Pipeline.parse(
        PIPELINE.replace('type = "string"\ndefault = "data"', 'type = "int"\ndefault = 3'),
        tmp_path / "typed.toml",
    )
    with pytest.raises(etl.Error, match="folder"):
        typed.run(params={"folder": "three"})
