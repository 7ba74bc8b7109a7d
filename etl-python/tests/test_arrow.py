"""Arrow both ways through the PyCapsule interface: pyarrow, polars and duckdb
read etl's streams, and a warehouse writes what they hand over."""

from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pytest

import etl


def test_a_table_read_is_a_stream_pyarrow_polars_and_duckdb_read(
    sample: etl.SampleAirtable,
) -> None:
    source = sample.extractor()
    stream = source.read("Orders", batch_size=300)
    assert stream.table == "Orders"
    assert "_airtable_id" in stream.columns
    table = pa.table(stream)
    assert table.num_rows == 2000
    assert table.column_names == stream.columns
    # Read once: a second reader is told, not handed nothing.
    with pytest.raises(etl.SourceError, match="read already"):
        pa.table(stream)
    assert "read" in repr(stream)
    frame = pl.DataFrame(source.read("Customers"))
    assert frame.height == 400
    orders = source.read("Orders")
    counted = duckdb.sql("SELECT count(*) FROM orders")
    assert counted is not None
    [(count,)] = counted.fetchall()
    assert count == 2000
    with pytest.raises(etl.ConfigError, match="not offered") as unknown:
        source.read("Nope")
    assert unknown.value.table == "Nope"


def test_a_warehouse_writes_pyarrow_and_polars_data_and_reads_it_back(tmp_path: Path) -> None:
    warehouse = etl.SQLiteWarehouse(tmp_path / "w.sqlite")
    data = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    assert warehouse.write("people", data, primary_key=["id"]) == 3
    # A merge on the key: updated and added rows; the last row of a key wins.
    update = pl.DataFrame({"id": [2, 4, 4], "name": ["B", "d", "D"]})
    warehouse.write("people", update, mode="merge", primary_key=["id"])
    back = pa.table(warehouse.read_table("people")).sort_by("id")
    assert back.column("id").to_pylist() == [1, 2, 3, 4]
    assert back.column("name").to_pylist() == ["a", "B", "c", "D"]
    # Append adds the columns the data brings.
    warehouse.write("people", pa.table({"id": [5], "age": [41]}), mode="append")
    assert "age" in pa.table(warehouse.read_table("people")).column_names
    with pytest.raises(etl.SchemaError) as missing:
        warehouse.read_table("nobody")
    assert missing.value.table == "nobody"
    with pytest.raises(etl.ConfigError, match="mode"):
        warehouse.write("people", data, mode="upsert")  # type: ignore[arg-type]


def test_rows_go_from_one_connector_to_another_through_python_untouched(
    sample: etl.SampleAirtable, tmp_path: Path
) -> None:
    duck = etl.DuckDBWarehouse(tmp_path / "w.duckdb")
    # The stream's batches are pulled by the warehouse's own reader thread.
    assert duck.write("orders", sample.extractor().read("Orders")) == 2000
    copied = pa.table(duck.read_table("orders"))
    assert copied.num_rows == 2000


def test_a_stream_that_fails_half_way_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    warehouse = etl.DuckDBWarehouse(tmp_path / "w.duckdb")
    warehouse.write("t", pa.table({"id": [1, 2]}))
    schema = pa.schema([("id", pa.int64())])

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"id": [10, 11, 12]}, schema=schema)
        raise RuntimeError("the source broke")

    with pytest.raises(etl.Error, match="the source broke") as broken:
        warehouse.write("t", pa.RecordBatchReader.from_batches(schema, batches()))
    assert "table \"t\"" in str(broken.value)
    assert pa.table(warehouse.read_table("t")).column("id").to_pylist() == [1, 2]


def test_what_is_not_arrow_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    warehouse = etl.SQLiteWarehouse(tmp_path / "w.sqlite")
    for not_arrow in ([{"id": 1}], {"id": [1]}, None, "id\n1\n"):
        with pytest.raises((TypeError, ValueError, AttributeError)):
            warehouse.write("t", not_arrow)  # type: ignore[arg-type]
    assert warehouse.table_names() == []
    # No columns at all: the warehouse names the table.
    with pytest.raises(etl.Error, match="t"):
        warehouse.write("t", pa.table({}))


def test_a_stream_calling_into_the_warehouse_writing_it_is_told_not_hung(tmp_path: Path) -> None:
    warehouse = etl.SQLiteWarehouse(tmp_path / "w.sqlite")
    other = etl.SQLiteWarehouse(tmp_path / "other.sqlite")
    warehouse.write("old", pa.table({"id": [1]}))
    schema = pa.schema([("id", pa.int64())])
    seen: list[str] = []

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"id": [1, 2]}, schema=schema)
        seen.extend(other.table_names())  # another warehouse: fine
        warehouse.table_names()  # the one writing: would wait for ever
        yield pa.record_batch({"id": [3]}, schema=schema)

    with pytest.raises(etl.Error, match="would wait for ever"):
        warehouse.write("t", pa.RecordBatchReader.from_batches(schema, batches()))
    assert seen == []
    assert warehouse.table_names() == ["old"], "nothing of the failed write is left"
