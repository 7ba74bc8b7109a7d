//! [`AirtableExtractor`]: every table of an Airtable base, through Airtable's
//! Web API, as Arrow batches.
//!
//! ```no_run
//! use etl_core::Extractor;
//! use etl_extractors::airtable::{AirtableConfig, AirtableExtractor};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! // AIRTABLE_TOKEN and AIRTABLE_BASE_ID from the environment:
//! let airtable = AirtableExtractor::from_env()?;
//! // or built in Rust:
//! let airtable = AirtableExtractor::new(
//!     AirtableConfig::new("patXXXXXXXXXXXXXX.0123", "appAbCdEfGhIjKlMn").with_tables(["Orders"]),
//! )?;
//! for table in airtable.tables().await? {
//!     println!("{}: {} columns", table.name(), table.schema().fields().len());
//! }
//! # Ok(()) }
//! ```
//!
//! # What it asks Airtable
//!
//! The tables and their fields come from the metadata API
//! (`GET /v0/meta/bases/{baseId}/tables`); records from
//! `GET /v0/{baseId}/{tableId}?pageSize=100&cellFormat=json&returnFieldsByFieldId=true`,
//! following `offset` from page to page. A query too long for a URL (a long
//! `filterByFormula`) goes as `POST /v0/{baseId}/{tableId}/listRecords`.
//! Every request carries `Authorization: Bearer <token>`; the token appears in
//! no error, log or `Debug` output.
//!
//! Requests to a base go through one rate limiter, shared by all its tables,
//! by every extractor of the base in the process (the first one's rate
//! applies), and by every process of the same user on the machine, through
//! a file per base (in `$ETL_RATE_LIMIT_DIR`, else
//! `$XDG_RUNTIME_DIR/etl-rate-limits`, else `~/.cache/etl/rate-limits`):
//! 5 requests per second by default, Airtable's limit, kept 5 % under. A
//! `429` holds the whole base back, in every process sharing it, for `Retry-After` (or 30 s, as Airtable asks) and
//! retries; a `5xx` or a network error retries with exponential backoff and
//! jitter, a capped number of times; `401`, `403`, `404` and `422` fail at once
//! with an [`Error::Remote`] naming the base and the table. See [`RetryPolicy`].
//!
//! Pages are decoded as they arrive, a batch per [`ExtractOptions::batch_size`]
//! rows (rounded up to whole pages), a couple of batches ahead of the
//! warehouse at most. A failure on any page ends the stream with the error,
//! so the warehouse rolls the table back.
//!
//! # Columns
//!
//! Every table has a primary key `_airtable_id` (the record id: never the
//! primary field, which can be empty or duplicated) and
//! `_airtable_created_time`, then one column per field, in the base's order,
//! named as Airtable names it (spaces, emoji, quotes and all; the warehouse
//! quotes them), or in snake_case with [`AirtableConfig::snake_case`].
//!
//! | Airtable field type | Arrow type |
//! | --- | --- |
//! | `singleLineText`, `multilineText`, `richText`, `email`, `url`, `phoneNumber`, `singleSelect` | `Utf8` |
//! | `number`, `currency` | `Float64`; `Int64` when the field's precision is 0 |
//! | `percent` | `Float64` (0.5 is 50 %, whatever the precision) |
//! | `rating`, `count`, `autoNumber` | `Int64` |
//! | `duration` | `Int64` seconds; `Float64` for formats with fractions (`h:mm:ss.S`) |
//! | `checkbox` | `Boolean`, never null: absent is `false` |
//! | `date` | `Date32` |
//! | `dateTime`, `createdTime`, `lastModifiedTime` | `Timestamp(ms, "UTC")` |
//! | `multipleSelects` | `List<Utf8>` |
//! | `multipleRecordLinks` | `List<Utf8>` of record ids |
//! | `multipleAttachments` | `List<Struct{id, url, filename, size: Int64, type, width: Int64, height: Int64}>` |
//! | `singleCollaborator`, `createdBy`, `lastModifiedBy` | `Struct{id, email, name}` |
//! | `multipleCollaborators` | `List<Struct{id, email, name}>` |
//! | `barcode` | `Struct{text, type}` |
//! | `button` | `Struct{label, url}` |
//! | `aiText` | `Struct{state, value, isStale: Boolean, errorType}` |
//! | `formula`, `rollup` | the type of `options.result`; `Utf8` JSON text without one |
//! | `multipleLookupValues` | `List` of the type of `options.result` (flattened when that is a list) |
//! | a type this version does not know | `Utf8`, the value's JSON text, with a warning in the report |
//!
//! # Incremental loads
//!
//! With [`AirtableConfig::incremental`], tables are merged on `_airtable_id`
//! and declare the cursor `LAST_MODIFIED_TIME()`: the first load reads every
//! record; each later one reads only the records modified since the previous
//! one began, with `filterByFormula=IS_AFTER(LAST_MODIFIED_TIME(), '<cursor>')`
//! (combined with a configured filter by `AND`). The cursor is the time of
//! Airtable's first answer of the load, by Airtable's clock (its `Date`
//! header), less [`CURSOR_MARGIN`] so that no edit made while a load runs is
//! missed; records read twice merge to one row. The warehouse stores the
//! cursor with the data, so a failed load leaves it where it was.
//!
//! Deleted records are not detected by an incremental load: they stay in the
//! warehouse until a full load (`drop_tables(true)`) replaces the table.
//!
//! # Empty and invalid values
//!
//! Airtable leaves empty values (`""`, `[]`, an unchecked box) out of a
//! record: they load as null (checkboxes as `false`). A value that does not
//! have its field type's shape (a formula's `{"error": "#ERROR!"}` or
//! `{"specialValue": "NaN"}`) loads as null and is counted in the
//! [`LoadReport`](etl_core::LoadReport), never an error.

mod client;
mod config;
mod connector;
mod schema;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use etl_core::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use etl_core::{
    BatchStream, Discovered, Error, ExtractNotes, ExtractOptions, Extractor, Result, TableSpec,
    WriteMode,
};
use serde_json::{Map, Value};

pub use config::{
    AIRTABLE_API_URL, AirtableConfig, DEFAULT_REQUESTS_PER_SECOND, Limits, RetryPolicy, Token,
};
pub use connector::register;
pub use schema::{CREATED_COLUMN, ID_COLUMN};

use client::{Client, ListRequest, PAGE_SIZE, RecordJson};

/// How far before Airtable's first answer of a load the next incremental
/// load starts reading: edits made while a load runs are read again, not lost.
pub const CURSOR_MARGIN: Duration = Duration::from_secs(60);

/// The cursor an incremental table declares.
const CURSOR: &str = "LAST_MODIFIED_TIME()";
use crate::json::decode;
use schema::{Kind, TableMeta, conform, map_field, snake_case};

/// The tables of one Airtable base; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct AirtableExtractor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: AirtableConfig,
    client: Client,
    /// The tables as last listed, by their name in the warehouse.
    tables: Mutex<HashMap<String, Arc<AirtableTable>>>,
    /// Once listed: every table's name, in order, and why each that failed
    /// did, so that asking for a table again needs no request.
    listed: Mutex<Option<ListedNames>>,
}

/// Every table's name in order, and the error of each that failed.
type ListedNames = (Vec<String>, HashMap<String, String>);

/// One table: its Airtable id and name, and how its fields become columns.
#[derive(Debug)]
struct AirtableTable {
    id: String,
    airtable_name: String,
    spec: TableSpec,
    columns: Vec<Column>,
    filter: Option<String>,
}

/// One table of the base as listed: mapped, or why it could not be (with
/// the name it would load under).
type Listed = std::result::Result<Arc<AirtableTable>, (String, Error)>;

fn listed_name(listed: &Listed) -> String {
    match listed {
        Ok(table) => table.spec.name().to_owned(),
        Err((table, _)) => table.clone(),
    }
}

#[derive(Debug)]
struct Column {
    field_id: String,
    name: String,
    kind: Kind,
    /// The Airtable type, when it is one this version does not know.
    unknown_type: Option<String>,
}

impl AirtableExtractor {
    /// An extractor for the base `config` names; the config is checked here,
    /// the base when tables are listed.
    pub fn new(config: AirtableConfig) -> Result<Self> {
        config.validate()?;
        let client = Client::new(&config)?;
        Ok(AirtableExtractor {
            inner: Arc::new(Inner {
                config,
                client,
                tables: Mutex::new(HashMap::new()),
                listed: Mutex::new(None),
            }),
        })
    }

    /// An extractor for `AIRTABLE_BASE_ID` read with `AIRTABLE_TOKEN`.
    pub fn from_env() -> Result<Self> {
        Self::new(AirtableConfig::from_env()?)
    }

    /// The config it was built from.
    pub fn config(&self) -> &AirtableConfig {
        &self.inner.config
    }

    /// Lists the base's tables and maps their fields to columns; a table
    /// whose fields cannot be columns (an empty name, two names that
    /// snake_case to one) is an error of its own, naming it.
    async fn list(&self) -> Result<Vec<Listed>> {
        let config = &self.inner.config;
        let schema = self.inner.client.base_schema().await?;
        let chosen: Vec<&TableMeta> = match &config.tables {
            None => schema.tables.iter().collect(),
            Some(wanted) => wanted
                .iter()
                .map(|w| {
                    schema
                        .tables
                        .iter()
                        .find(|t| &t.name == w || &t.id == w)
                        .ok_or_else(|| Error::UnknownTable {
                            table: w.clone(),
                            offered: schema.tables.iter().map(|t| t.name.clone()).collect(),
                        })
                })
                .collect::<Result<_>>()?,
        };
        let listed: Vec<Listed> = chosen
            .into_iter()
            .map(|meta| match self.map_table(meta) {
                Ok(table) => Ok(Arc::new(table)),
                Err(error) => Err((self.table_name(meta), error)),
            })
            .collect();
        let mut known = self.inner.tables.lock().unwrap_or_else(|e| e.into_inner());
        *known = listed
            .iter()
            .filter_map(|t| t.as_ref().ok())
            .map(|t| (t.spec.name().to_owned(), t.clone()))
            .collect();
        *self.inner.listed.lock().unwrap_or_else(|e| e.into_inner()) = Some((
            listed.iter().map(listed_name).collect(),
            listed
                .iter()
                .filter_map(|t| t.as_ref().err())
                .map(|(table, error)| (table.clone(), error.to_string()))
                .collect(),
        ));
        Ok(listed)
    }

    /// The name a table loads under.
    fn table_name(&self, meta: &TableMeta) -> String {
        self.rename(&meta.name, &meta.id)
    }

    /// A table's or field's name as a warehouse name: as it is, or in
    /// snake_case (its id when nothing is left).
    fn rename(&self, name: &str, fallback: &str) -> String {
        if self.inner.config.snake_case {
            let snake = snake_case(name);
            if snake.is_empty() {
                fallback.to_owned()
            } else {
                snake
            }
        } else {
            name.to_owned()
        }
    }

    fn map_table(&self, meta: &TableMeta) -> Result<AirtableTable> {
        let config = &self.inner.config;
        let rename = |name: &str, fallback: &str| self.rename(name, fallback);
        let table_name = self.table_name(meta);
        let mut fields = vec![
            Field::new(ID_COLUMN, DataType::Utf8, false),
            Field::new(
                CREATED_COLUMN,
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ];
        let mut columns = Vec::with_capacity(meta.fields.len());
        for field in &meta.fields {
            let mapped = map_field(&field.kind, field.options.as_ref());
            let name = rename(&field.name, &field.id);
            let nullable = mapped.kind != Kind::Checkbox;
            fields.push(Field::new(&name, mapped.kind.data_type(), nullable));
            columns.push(Column {
                field_id: field.id.clone(),
                name,
                kind: mapped.kind,
                unknown_type: mapped.unknown.then(|| field.kind.clone()),
            });
        }
        let mut spec = TableSpec::new(&table_name, Schema::new(fields))
            .with_primary_key([ID_COLUMN])
            .with_mode(WriteMode::Replace);
        if config.incremental {
            spec = spec.with_mode(WriteMode::Merge).with_cursor_field(CURSOR);
        }
        spec.validate().map_err(|e| match e {
            Error::InvalidName { message, .. } => Error::InvalidName {
                what: self.inner.client.what(Some(&meta.name)),
                message,
            },
            other => other,
        })?;
        let filter = config
            .filters
            .get(&meta.name)
            .or_else(|| config.filters.get(&meta.id))
            .cloned();
        Ok(AirtableTable {
            id: meta.id.clone(),
            airtable_name: meta.name.clone(),
            spec,
            columns,
            filter,
        })
    }

    async fn table(&self, name: &str) -> Result<Arc<AirtableTable>> {
        let known = |inner: &Inner| {
            inner
                .tables
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
                .cloned()
        };
        if let Some(table) = known(&self.inner) {
            return Ok(table);
        }
        // Listed before: the answer is known without asking the base again
        // (a table added since shows once the tables are listed anew).
        let cached = self
            .inner
            .listed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (offered, failed) = match cached {
            Some(listed) => listed,
            None => {
                self.list().await?;
                if let Some(table) = known(&self.inner) {
                    return Ok(table);
                }
                self.inner
                    .listed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .unwrap_or_default()
            }
        };
        if let Some(error) = failed.get(name) {
            return Err(Error::Schema {
                table: name.to_owned(),
                message: error.clone(),
            });
        }
        Err(Error::UnknownTable {
            table: name.to_owned(),
            offered,
        })
    }
}

impl Extractor for AirtableExtractor {
    fn source(&self) -> String {
        format!("airtable:{}", self.inner.config.base_id)
    }

    async fn tables(&self) -> Result<Vec<TableSpec>> {
        let tables = Discovered::all(self.discover().await?)?;
        let mut names = std::collections::HashSet::new();
        for table in &tables {
            if !names.insert(table.name()) {
                return Err(Error::InvalidName {
                    what: self.inner.client.what(None),
                    message: format!(
                        "two tables are both named {:?} in the warehouse",
                        table.name()
                    ),
                });
            }
        }
        Ok(tables)
    }

    /// The base's tables, each on its own: one whose fields cannot be
    /// columns fails alone, naming it; the others are offered.
    async fn discover(&self) -> Result<Vec<Discovered>> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .map(|t| match t {
                Ok(table) => Discovered::Ready(table.spec.clone()),
                Err((table, error)) => Discovered::Failed { table, error },
            })
            .collect())
    }

    async fn extract(&self, spec: &TableSpec, options: &ExtractOptions) -> Result<BatchStream> {
        let table = self.table(spec.name()).await?;
        let schema = table.spec.schema().clone();
        if spec.schema().fields() != schema.fields() {
            return Err(Error::Schema {
                table: spec.name().to_owned(),
                message: "the schema asked for is not the one the Airtable table has now; list the tables again".into(),
            });
        }
        let notes = ExtractNotes::default();
        for column in &table.columns {
            if let Some(kind) = &column.unknown_type {
                notes.warn(format!(
                    "field {:?} has type {kind:?}, which this version does not know; loaded as JSON text",
                    column.name
                ));
            }
        }
        let filter = match (&options.since, spec.cursor_field().is_some()) {
            (Some(since), true) => {
                let since = since.replace('\'', "");
                let changed = format!("IS_AFTER({CURSOR}, '{since}')");
                Some(match &table.filter {
                    Some(user) => format!("AND({user}, {changed})"),
                    None => changed,
                })
            }
            _ => table.filter.clone(),
        };
        let incremental = spec.cursor_field().is_some();
        // Whole pages per batch: Airtable sends 100 records a page.
        let pages_per_batch = options.batch_size.div_ceil(PAGE_SIZE).max(1);
        let inner = self.inner.clone();
        let producer_notes = notes.clone();
        let stream = BatchStream::from_async(schema.clone(), 2, move |tx| async move {
            let what = inner.client.what(Some(&table.airtable_name));
            let mut offset: Option<String> = None;
            let mut rows: Vec<Value> = Vec::with_capacity(pages_per_batch * PAGE_SIZE);
            let mut pages_in_batch = 0;
            let mut cursor = None;
            // Every offset Airtable gave: one given again is a loop.
            let mut offsets = std::collections::HashSet::new();
            let limits = inner.client.limits().clone();
            for page_number in 1.. {
                if page_number > limits.max_pages {
                    return Err(limits.too_many_pages(&what));
                }
                let request = ListRequest {
                    offset: offset.as_deref(),
                    filter_by_formula: filter.as_deref(),
                };
                let page = inner
                    .client
                    .list_records(&table.id, &what, page_number, &request)
                    .await?;
                if cursor.is_none() {
                    // By Airtable's clock when it has one, by ours otherwise.
                    let answered = page.answered.unwrap_or_else(Utc::now);
                    cursor = Some(answered - CURSOR_MARGIN);
                }
                if page.offset.is_none()
                    && incremental
                    && let Some(cursor) = cursor
                {
                    // Before the last batch goes: the warehouse reads it at the end.
                    producer_notes
                        .set_cursor_value(cursor.to_rfc3339_opts(SecondsFormat::Millis, true));
                }
                rows.extend(
                    page.records
                        .into_iter()
                        .map(|record| row(record, &table.columns, &producer_notes)),
                );
                pages_in_batch += 1;
                let last = page.offset.is_none();
                if (pages_in_batch == pages_per_batch || last) && !rows.is_empty() {
                    let batch = decode(&schema, &rows).map_err(|e| Error::Remote {
                        what: what.clone(),
                        status: None,
                        message: format!("page {page_number}: {e}"),
                        retryable: false,
                    })?;
                    rows.clear();
                    pages_in_batch = 0;
                    if !tx.send(batch).await {
                        return Ok(());
                    }
                }
                match page.offset {
                    Some(next) if !offsets.insert(next.clone()) => {
                        return Err(Error::Remote {
                            what: what.clone(),
                            status: None,
                            message: format!(
                                "page {page_number}: the offset to the next page was given \
                                 before; the pages would never end"
                            ),
                            retryable: false,
                        });
                    }
                    Some(next) => offset = Some(next),
                    None => break,
                }
            }
            Ok(())
        });
        Ok(stream.with_notes(notes))
    }
}

/// One record as a JSON object keyed by column name, each value in the shape
/// the Arrow decoder reads for its column; values that do not fit are left
/// out (null) and counted.
fn row(record: RecordJson, columns: &[Column], notes: &ExtractNotes) -> Value {
    let mut out = Map::with_capacity(columns.len() + 2);
    out.insert(ID_COLUMN.to_owned(), Value::String(record.id));
    match conform(&Kind::DateTime, &Value::String(record.created_time)) {
        Some(created) => {
            out.insert(CREATED_COLUMN.to_owned(), created);
        }
        // A record without a readable creation time: the decoder names the column.
        None => notes.count_invalid(1),
    }
    for column in columns {
        match record.fields.get(&column.field_id) {
            None if column.kind == Kind::Checkbox => {
                out.insert(column.name.clone(), Value::Bool(false));
            }
            None => {}
            Some(value) => match conform(&column.kind, value) {
                Some(value) => {
                    out.insert(column.name.clone(), value);
                }
                None => {
                    notes.count_invalid(1);
                    if column.kind == Kind::Checkbox {
                        out.insert(column.name.clone(), Value::Bool(false));
                    }
                }
            },
        }
    }
    Value::Object(out)
}
