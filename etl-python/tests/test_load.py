"""ETLWorkflow: the one-line load, its report, and what it does on failure."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import etl

SAMPLE_TABLES = {"Customers", "Orders", "Products"}


def entry(report: "etl.Report | None", table: str) -> etl.TableReport:
    """The report's entry of `table`, which must be there."""
    assert report is not None
    found = report.table(table)
    assert found is not None, f"{table} is not in the report"
    return found


def test_the_one_line_loads_every_table_and_reports_it(
    sample: etl.SampleAirtable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRTABLE_API_URL", sample.url)
    monkeypatch.setenv("AIRTABLE_BASE_ID", sample.base_id)
    monkeypatch.setenv("AIRTABLE_TOKEN", sample.token)
    report = etl.ETLWorkflow(
        etl.AirtableExtractor(), etl.DuckDBWarehouse(tmp_path / "dwh.duckdb")
    ).run(drop_tables=True)
    assert isinstance(report, etl.Report)
    assert {t.table for t in report.tables} == SAMPLE_TABLES
    assert report.succeeded
    assert report.total_rows == sum(t.rows for t in report.tables) > 0
    assert all(t.status == "ok" and t.error is None for t in report.tables)
    # print shows the Rust report's table.
    text = str(report)
    assert text.splitlines()[0].split() == ["table", "mode", "rows", "columns", "seconds", "status"]
    for t in report.tables:
        assert t.table in text
    assert len(report) == 3
    assert entry(report, "Orders").rows == next(t.rows for t in report.tables if t.table == "Orders")
    assert report.table("nope") is None
    assert set(etl.DuckDBWarehouse(tmp_path / "dwh.duckdb").table_names()) >= SAMPLE_TABLES


def test_sqlite_holds_what_was_loaded_and_a_second_source_reads_it(
    sample: etl.SampleAirtable, tmp_path: Path
) -> None:
    db = tmp_path / "dwh.sqlite"
    report = etl.ETLWorkflow(sample.extractor(), etl.SQLiteWarehouse(str(db))).run()
    with sqlite3.connect(db) as conn:
        (orders,) = conn.execute('SELECT count(*) FROM "Orders"').fetchone()
    assert orders == entry(report, "Orders").rows
    # SQLite -> DuckDB through the SQLite source, only the tables asked for.
    source = etl.SQLiteExtractor(db, tables=["Orders"])
    assert source.kind == "sqlite"
    assert source.tables() == ["Orders"]
    copied = etl.ETLWorkflow(source, etl.DuckDBWarehouse(tmp_path / "copy.duckdb")).run()
    assert [(t.table, t.rows) for t in copied.tables] == [("Orders", orders)]
    back = etl.ETLWorkflow(
        etl.DuckDBExtractor(tmp_path / "copy.duckdb"), etl.SQLiteWarehouse(tmp_path / "back.sqlite")
    ).run(mode="merge", primary_key=["_airtable_id"])
    assert entry(back, "Orders").mode == "merge"


def test_a_failed_table_raises_with_the_report_and_the_others_load(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.csv").write_text("id,name\n1,a\n2,b\n")
    (data / "bad.jsonl").write_text('{"id": 1}\n{"id": \n')
    warehouse = etl.DuckDBWarehouse(tmp_path / "w.duckdb")
    with pytest.raises(etl.LoadError) as raised:
        etl.ETLWorkflow(etl.FilesExtractor(data), warehouse).run()
    report = raised.value.report
    assert entry(report, "good").rows == 2
    bad = entry(report, "bad")
    assert bad.rows == 0 and bad.error and "bad.jsonl" in bad.error
    assert "bad" in str(raised.value)
    # Or the report, without raising.
    report = etl.ETLWorkflow(etl.FilesExtractor(data), warehouse).run(raise_on_failure=False)
    assert not report.succeeded
    assert entry(report, "bad").status != "ok"


def test_mistakes_are_named_and_no_secret_is_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("AIRTABLE_BASE_ID", "AIRTABLE_TOKEN", "AIRTABLE_API_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(etl.ConfigError, match="AIRTABLE_BASE_ID") as missing:
        etl.AirtableExtractor()
    assert missing.value.field == "base"
    assert missing.value.table is None
    with pytest.raises(etl.ConfigError, match="AIRTABLE_TOKEN"):
        etl.AirtableExtractor("appAAAAAAAAAAAAAA")
    # A value JSON has no form for, in an HTTP API's configuration.
    with pytest.raises(etl.ConfigError, match="HttpExtractor.config"):
        etl.HttpExtractor({"base_url": "http://127.0.0.1:9/", "resources": {1, 2}})
    with pytest.raises(etl.ConfigError, match="HttpExtractor.config: give a dict"):
        etl.HttpExtractor(7)  # type: ignore[arg-type]
    # The registry's own errors name the field.
    with pytest.raises(etl.ConfigError, match="read_connections") as raised:
        etl.PostgresExtractor("postgres://etl@127.0.0.1:9/shop", read_connections=0)
    assert isinstance(raised.value, etl.Error)
    assert raised.value.field == "read_connections"
    (tmp_path / "t.csv").write_text("id\n1\n")
    with pytest.raises(etl.ConfigError, match="mode") as bad_mode:
        etl.ETLWorkflow(
            etl.FilesExtractor(tmp_path), etl.SQLiteWarehouse(tmp_path / "w.sqlite")
        ).run(mode="upsert")  # type: ignore[arg-type]
    assert bad_mode.value.field == "mode"
    with pytest.raises(etl.SourceError) as missing_folder:
        etl.FilesExtractor(tmp_path / "missing")
    assert missing_folder.value.file == str(tmp_path / "missing")
    # A password given is never repeated: not by a bad URL, not by a
    # server that is not there.
    with pytest.raises(etl.ConfigError) as raised:
        etl.PostgresWarehouse("postgres://etl:hunter2@db:notaport/shop")
    assert "hunter2" not in str(raised.value)
    warehouse = etl.PostgresWarehouse("postgres://etl:hunter2@127.0.0.1:9/shop")
    assert "hunter2" not in repr(warehouse)
    data = tmp_path / "d"
    data.mkdir()
    (data / "t.csv").write_text("id\n1\n")
    with pytest.raises(etl.Error) as unreachable:
        etl.ETLWorkflow(etl.FilesExtractor(data), warehouse).run()
    assert "hunter2" not in str(unreachable.value)
    assert "hunter2" not in str(getattr(unreachable.value, "report", ""))


def test_the_gil_is_released_while_data_moves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = "\n".join(f"{i},{'x' * 50}" for i in range(300_000))
    (data / "big.csv").write_text("id,pad\n" + rows + "\n")
    ticks = 0
    done = threading.Event()

    def load() -> None:
        etl.ETLWorkflow(etl.FilesExtractor(data), etl.SQLiteWarehouse(tmp_path / "w.sqlite")).run()
        done.set()

    loader = threading.Thread(target=load)
    loader.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    loader.join()
    assert ticks > 20, f"the main thread ran {ticks} times while the load ran"


def test_ctrl_c_stops_a_load_and_the_table_keeps_its_rows(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        import etl
        path = sys.argv[1]
        fast = etl.SampleAirtable(rate_limit=None)
        etl.ETLWorkflow(fast.extractor(), etl.SQLiteWarehouse(path)).run()
        # Five requests a second: the second load takes seconds.
        slow = etl.SampleAirtable(rate_limit=5)
        print("loading", flush=True)
        started = time.monotonic()
        try:
            etl.ETLWorkflow(slow.extractor(), etl.SQLiteWarehouse(path)).run(batch_size=100)
        except KeyboardInterrupt:
            print(f"interrupted {time.monotonic() - started:.1f}", flush=True)
            sys.exit(3)
        print("finished", flush=True)
        """
    )
    db = tmp_path / "w.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "loading"
    def counts() -> tuple[int, int]:
        with sqlite3.connect(db) as conn:
            (rows,) = conn.execute('SELECT count(*) FROM "Orders"').fetchone()
            (loads,) = conn.execute("SELECT count(*) FROM _etl_loads").fetchone()
        return rows, loads

    rows, loads = counts()
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 3, (out, err)
    # Heard at once, not when the load (six seconds at five requests a
    # second) would have ended.
    seconds = float(out.split()[1])
    assert seconds < 3.0, out
    # The table being written kept its rows; the load was not recorded.
    rows_after, loads_after = counts()
    assert rows_after == rows > 0
    assert loads_after < loads + 3, (loads, loads_after)


def test_an_http_api_configured_by_a_dict_or_a_file_loads(tmp_path: Path) -> None:
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = json.dumps({"data": [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]})
            self.send_response(200 if self.path.startswith("/users") else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = {
            "base_url": f"http://127.0.0.1:{server.server_address[1]}/",
            "resources": [{"name": "users", "path": "users", "records": "data", "primary_key": ["id"]}],
        }
        report = etl.ETLWorkflow(etl.HttpExtractor(config), etl.SQLiteWarehouse(tmp_path / "w.sqlite")).run()
        assert entry(report, "users").rows == 2
        toml = tmp_path / "api.toml"
        toml.write_text(
            f'base_url = "{config["base_url"]}"\n'
            '[[resources]]\nname = "users"\npath = "users"\nrecords = "data"\n'
        )
        source = etl.HttpExtractor(toml)
        assert source.kind == "http"
        assert pa_rows(source.read("users")) == 2
    finally:
        server.shutdown()


def pa_rows(stream: etl.Stream) -> int:
    import pyarrow as pa  # type: ignore[import-untyped]

    return int(pa.table(stream).num_rows)
