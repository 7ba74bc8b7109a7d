"""PostgreSQL from Python, as a warehouse and as a source, through the registry."""

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

import etl


def test_postgres_is_a_warehouse_and_a_source(
    postgres: tuple[str, str], sample: etl.SampleAirtable, tmp_path: Path
) -> None:
    url, schema = postgres
    warehouse = etl.PostgresWarehouse(url, schema=schema)
    report = etl.ETLWorkflow(sample.extractor(), warehouse).run(drop_tables=True)
    assert report.succeeded and report.total_rows == 2650
    assert sorted(warehouse.table_names()) == ["Customers", "Orders", "Products"]
    # Arrow in and out, merge on a key.
    people = pa.table({"id": [1, 2], "name": ["a", "b"]})
    warehouse.write("people", people, primary_key=["id"])
    warehouse.write("people", pa.table({"id": [2], "name": ["B"]}), mode="merge", primary_key=["id"])
    back = pa.table(warehouse.read_table("people")).sort_by("id")
    assert back.column("name").to_pylist() == ["a", "B"]
    # As a source: a table, and a named query, into SQLite.
    source = etl.PostgresExtractor(
        url,
        schema=schema,
        tables=["Orders"],
        queries={"paid": f'SELECT "Order no." FROM "{schema}"."Orders" WHERE "Paid"'},
        read_connections=2,
    )
    assert sorted(source.tables()) == ["Orders", "paid"]
    copied = etl.ETLWorkflow(source, etl.SQLiteWarehouse(tmp_path / "copy.sqlite")).run()
    orders = copied.table("Orders")
    assert orders is not None and orders.rows == 2000
    paid = pa.table(source.read("paid"))
    assert 0 < paid.num_rows < 2000


def test_a_schema_name_postgres_would_cut_short_is_refused(postgres: tuple[str, str]) -> None:
    url, _ = postgres
    with pytest.raises(etl.ConfigError, match="63"):
        etl.PostgresWarehouse(url, schema="s" * 64)
