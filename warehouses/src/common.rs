//! Pieces both warehouses share: identifier quoting, load ids and times,
//! and fitting a batch to a table's columns.

use std::sync::{Arc, Mutex, MutexGuard};

use etl_core::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use etl_core::arrow::compute::cast;
use etl_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use etl_core::stream::{BlockingBatches, consume_blocking};
use etl_core::{
    BatchStream, Error, ExtractNotes, Result, STATE_TABLE, TableSpec, WriteOptions, WriteSummary,
};

/// Quotes an identifier for SQLite and DuckDB: in double quotes, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// A comma-separated list of quoted identifiers.
pub(crate) fn quote_idents<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column of a merge's staging table that numbers the load's rows in
/// the order they came (reserved: user columns cannot start with `_etl_`).
pub(crate) const SEQUENCE_COLUMN: &str = "_etl_seq";

/// The staging table a load of `table` writes before it is swapped in.
pub(crate) fn staging_name(table: &str) -> String {
    format!("_etl_staging_{table}")
}

/// A new load id, unique within the warehouse: etl's one id generator
/// (microseconds, process, counter), as run ids are made.
pub(crate) fn new_load_id() -> String {
    etl_rules::new_id()
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A microsecond timestamp in etl's one format for its records
/// ([`etl_rules::time`]): `_etl_loads` and `_etl_state` read like the
/// state store.
pub(crate) fn rfc3339(micros: i64) -> String {
    etl_rules::time::format_micros(micros)
}

/// Locks a connection; a panic in an earlier writer rolled its transaction
/// back, so a poisoned lock still guards a usable connection.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fails with [`Error::UnknownTable`] unless `extractor` offers `table`:
/// by the list its last listing left in `offered`, else by listing now.
#[cfg(any(feature = "sqlite", feature = "duckdb", feature = "postgres"))]
pub(crate) async fn check_offered<E: etl_core::Extractor>(
    extractor: &E,
    offered: &Mutex<Option<Vec<String>>>,
    table: &str,
) -> Result<()> {
    let known = lock(offered).clone();
    let offered = match known {
        Some(offered) => offered,
        None => extractor
            .discover()
            .await?
            .iter()
            .map(|d| d.name().to_owned())
            .collect(),
    };
    if offered.iter().any(|t| t == table) {
        Ok(())
    } else {
        Err(Error::UnknownTable {
            table: table.to_owned(),
            offered,
        })
    }
}

/// Batches in flight between a stream and the thread writing it.
const IN_FLIGHT: usize = 2;

/// One load being written: its id, what it writes, when it started, and
/// where its incremental cursor goes.
pub(crate) struct Load {
    pub(crate) id: String,
    pub(crate) spec: TableSpec,
    /// Microseconds since the Unix epoch.
    pub(crate) started: i64,
    /// The source to store the stream's cursor under, if any.
    pub(crate) source: Option<String>,
    /// The stream's notes: its cursor is final once the stream has ended.
    pub(crate) notes: ExtractNotes,
}

impl Load {
    /// The `(source, cursor)` to store with this load, once its stream has ended.
    pub(crate) fn cursor(&self) -> Option<(&str, String)> {
        Some((self.source.as_deref()?, self.notes.cursor_value()?))
    }
}

/// `CREATE TABLE` of [`STATE_TABLE`], the same SQL for SQLite and DuckDB.
pub(crate) fn create_state_table_sql() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
            source VARCHAR NOT NULL,
            table_name VARCHAR NOT NULL,
            cursor VARCHAR NOT NULL,
            load_id VARCHAR NOT NULL,
            updated_at VARCHAR NOT NULL,
            PRIMARY KEY (source, table_name)
        )"
    )
}

/// The upsert of a cursor: parameters source, table, cursor, load id, time.
pub(crate) fn save_cursor_sql() -> String {
    format!(
        "INSERT INTO {STATE_TABLE} (source, table_name, cursor, load_id, updated_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, table_name) DO UPDATE SET \
         cursor = excluded.cursor, load_id = excluded.load_id, updated_at = excluded.updated_at"
    )
}

/// The query of a cursor: parameters source, table.
pub(crate) fn read_cursor_sql() -> String {
    format!("SELECT cursor FROM {STATE_TABLE} WHERE source = ? AND table_name = ?")
}

/// Writes `batches` with `write`, on tokio's blocking pool, holding the
/// connection. `write` commits or rolls back before it returns; a failure is
/// then recorded by `record_failure` (its own error is dropped: the write's
/// error is the one that says what went wrong).
pub(crate) async fn write_recorded<C, W, R>(
    conn: Arc<Mutex<C>>,
    spec: &TableSpec,
    batches: BatchStream,
    options: &WriteOptions,
    write: W,
    record_failure: R,
) -> Result<WriteSummary>
where
    C: Send + 'static,
    W: FnOnce(&mut C, &Load, &mut BlockingBatches) -> Result<WriteSummary> + Send + 'static,
    R: FnOnce(&C, &Load, &Error) -> Result<()> + Send + 'static,
{
    let table = spec.name().to_owned();
    let spec = spec.clone();
    let source = options.source.clone();
    let notes = batches.notes().clone();
    consume_blocking(&table, batches, IN_FLIGHT, move |batches| {
        let mut conn = lock(&conn);
        let load = Load {
            id: new_load_id(),
            spec,
            started: now_micros(),
            source,
            notes,
        };
        let outcome = write(&mut conn, &load, batches);
        if let Err(e) = &outcome {
            let _ = record_failure(&conn, &load, e);
        }
        outcome
    })
    .await
    .map_err(|e| e.in_table(&table))
}

/// The SQL type both warehouses declare for an Arrow scalar type that both
/// store alike (numbers, booleans, binary, dates, times); `None` for the
/// others, whose names differ.
pub(crate) fn scalar_type_name(data_type: &DataType) -> Option<&'static str> {
    use DataType::*;
    Some(match data_type {
        Boolean => "BOOLEAN",
        Int8 => "TINYINT",
        Int16 => "SMALLINT",
        Int32 => "INTEGER",
        Int64 => "BIGINT",
        UInt8 => "UTINYINT",
        UInt16 => "USMALLINT",
        UInt32 => "UINTEGER",
        UInt64 => "UBIGINT",
        Float16 | Float32 => "FLOAT",
        Float64 => "DOUBLE",
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "BLOB",
        Date32 | Date64 => "DATE",
        Time32(_) | Time64(_) => "TIME",
        _ => return None,
    })
}

/// A merge needs the table's primary key to be the load's (in any order):
/// an error naming both when it is not.
pub(crate) fn check_merge_key(table: &str, existing: &[&str], wanted: &[String]) -> Result<()> {
    let mut existing: Vec<&str> = existing.to_vec();
    let mut wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    existing.sort_unstable();
    wanted.sort_unstable();
    if existing == wanted {
        return Ok(());
    }
    Err(Error::Schema {
        table: table.to_owned(),
        message: format!(
            "merge on ({}) needs that primary key, but the table's is ({}); \
             load once with drop_tables(true) to rebuild it",
            wanted.join(", "),
            existing.join(", ")
        ),
    })
}

/// Checks what every warehouse refuses before it touches the database
/// ([`TableSpec::validate`]: reserved names, names that differ only in case).
pub(crate) fn check_spec(spec: &TableSpec) -> Result<()> {
    spec.validate()?;
    if spec.schema().fields().is_empty() {
        return Err(Error::Schema {
            table: spec.name().to_owned(),
            message: "the load has no columns; a warehouse table needs at least one".into(),
        });
    }
    Ok(())
}

/// Whether a float column can hold every value of an integer column of
/// `incoming` exactly only when each value is checked (64-bit integers: a
/// double holds integers exactly up to 2^53).
pub(crate) fn needs_exact_float_check(incoming: &DataType) -> bool {
    matches!(incoming, DataType::Int64 | DataType::UInt64)
}

/// Checks that every value of an integer column is a whole number a double
/// holds exactly, so that loading it into a `DOUBLE` column changes nothing;
/// the first that is not is an [`Error::Value`] naming table, column and row
/// (counted from `first_row`, the batch's first row within the load).
pub(crate) fn check_exact_in_double(
    table: &str,
    column: &str,
    array: &ArrayRef,
    first_row: u64,
) -> Result<()> {
    use etl_core::arrow::array::{Array, Int64Array, UInt64Array};
    /// 2^63 as a double: every double below it in magnitude converts back to i64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let inexact = |row: usize, value: String| Error::Value {
        table: table.to_owned(),
        column: column.to_owned(),
        row: first_row + row as u64,
        message: format!(
            "the integer {value} has no exact DOUBLE, the type of the table's column; \
             nothing was written (load it with drop_tables(true) to make the column an integer)"
        ),
    };
    if let Some(ints) = array.as_any().downcast_ref::<Int64Array>() {
        for (row, value) in ints.iter().enumerate() {
            if let Some(v) = value {
                let f = v as f64;
                if !(f < TWO_63 && f as i64 == v) {
                    return Err(inexact(row, v.to_string()));
                }
            }
        }
    } else if let Some(ints) = array.as_any().downcast_ref::<UInt64Array>() {
        for (row, value) in ints.iter().enumerate() {
            if let Some(v) = value {
                let f = v as f64;
                if !(f < 2.0 * TWO_63 && f as u64 == v) {
                    return Err(inexact(row, v.to_string()));
                }
            }
        }
    }
    Ok(())
}

/// Checks that a column whose type was a guess (no value where it was
/// inferred) still holds only nulls; the first value is an [`Error::Value`]
/// naming table, column and row, since the table's column has another type.
pub(crate) fn check_nulls_only(
    table: &str,
    column: &str,
    array: &ArrayRef,
    first_row: u64,
) -> Result<()> {
    use etl_core::arrow::array::Array;
    if array.null_count() == array.len() {
        return Ok(());
    }
    let row = (0..array.len()).find(|i| array.is_valid(*i)).unwrap_or(0);
    Err(Error::Value {
        table: table.to_owned(),
        column: column.to_owned(),
        row: first_row + row as u64,
        message: format!(
            "a {} value came in a column that had none in the records its type was \
             inferred from, and the table's column has another type; nothing was written \
             (load with drop_tables(true), or infer from more records)",
            array.data_type()
        ),
    })
}

/// Where each column of a fitted batch comes from in an incoming batch.
#[derive(Debug, Clone)]
pub(crate) enum ColumnSource {
    /// Column `index` of the batch, cast to the table's type when `Some`.
    Batch(usize, Option<DataType>),
    /// Column `index` of the batch, converted by a function of the warehouse's.
    Convert(usize, fn(&ArrayRef) -> Result<ArrayRef>),
    /// Each row's place in the load, from 0: the load's order, for a merge.
    RowNumber,
    /// Column `index` of the batch, which must hold only nulls (a column
    /// whose type was a guess, see `etl_core::SAMPLED_NULLS_ONLY`): nulls of
    /// the table's type.
    NullsOnly(usize, DataType),
}

/// Fits batches of the incoming schema to the types a table takes.
#[derive(Debug, Clone)]
pub(crate) struct BatchFitter {
    table: String,
    incoming: SchemaRef,
    sources: Vec<ColumnSource>,
    schema: SchemaRef,
}

impl BatchFitter {
    /// `sources[i]` says where the table's column `i` (of `fields`) comes from.
    pub(crate) fn new(
        table: &str,
        incoming: SchemaRef,
        fields: Vec<Field>,
        sources: Vec<ColumnSource>,
    ) -> Self {
        let fields = fields
            .into_iter()
            .map(|f| f.with_nullable(true))
            .collect::<Vec<_>>();
        BatchFitter {
            table: table.to_owned(),
            incoming,
            sources,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// The same, with one more column, [`ColumnSource::RowNumber`], named
    /// `_etl_seq`: each row's place in the load.
    pub(crate) fn numbered(mut self) -> Self {
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(SEQUENCE_COLUMN, DataType::UInt64, false));
        self.schema = Arc::new(Schema::new(fields));
        self.sources.push(ColumnSource::RowNumber);
        self
    }

    /// The schema of the batches [`BatchFitter::fit`] returns.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The batch with the table's columns, in the table's order and types;
    /// `first_row` is its first row's place in the load, for errors. A
    /// 64-bit integer cast to a float column must keep its value exactly.
    pub(crate) fn fit(&self, batch: &RecordBatch, first_row: u64) -> Result<RecordBatch> {
        check_batch_schema(&self.table, &self.incoming, batch)?;
        let rows = batch.num_rows();
        let columns = self
            .sources
            .iter()
            .zip(self.schema.fields())
            .map(|(source, field)| -> Result<ArrayRef> {
                match source {
                    ColumnSource::Batch(i, None) => Ok(batch.column(*i).clone()),
                    ColumnSource::NullsOnly(i, to) => {
                        check_nulls_only(&self.table, field.name(), batch.column(*i), first_row)?;
                        Ok(etl_core::arrow::array::new_null_array(to, rows))
                    }
                    ColumnSource::RowNumber => Ok(Arc::new(
                        etl_core::arrow::array::UInt64Array::from_iter_values(
                            first_row..first_row + rows as u64,
                        ),
                    )),
                    ColumnSource::Convert(i, convert) => {
                        convert(batch.column(*i)).map_err(|e| e.in_table(&self.table))
                    }
                    ColumnSource::Batch(i, Some(to)) => {
                        let from = batch.column(*i);
                        if to.is_floating() && needs_exact_float_check(from.data_type()) {
                            check_exact_in_double(&self.table, field.name(), from, first_row)?;
                        }
                        cast(from, to).map_err(|e| {
                            Error::arrow(
                                format!(
                                    "table {:?}, column {:?}: converting {} to {to}",
                                    self.table,
                                    field.name(),
                                    from.data_type()
                                ),
                                e,
                            )
                        })
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| Error::arrow(format!("table {:?}: fitting a batch", self.table), e))
    }
}

/// A batch must carry the columns of the stream it came in, by name and type.
pub(crate) fn check_batch_schema(
    table: &str,
    expected: &SchemaRef,
    batch: &RecordBatch,
) -> Result<()> {
    let got = batch.schema();
    if Arc::ptr_eq(expected, &got) {
        return Ok(());
    }
    let same = got.fields().len() == expected.fields().len()
        && got
            .fields()
            .iter()
            .zip(expected.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if same {
        Ok(())
    } else {
        Err(Error::Schema {
            table: table.to_owned(),
            message: format!(
                "a batch's columns ({}) differ from the stream's schema ({})",
                describe(&got),
                describe(expected)
            ),
        })
    }
}

fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_inner_quotes_doubled() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("with \"quote\""), "\"with \"\"quote\"\"\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_idents(["a", "b c"]), "\"a\", \"b c\"");
    }

    #[test]
    fn load_ids_are_unique() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_load_id()).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(
            rfc3339(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
