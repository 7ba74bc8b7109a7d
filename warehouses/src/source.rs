//! SQLite and DuckDB files as sources: [`SqlExtractor`] reads the tables of a
//! database file of dialect `C` as Arrow batches, with the types its
//! warehouse reads back (each module's type table), streamed from a
//! blocking thread a batch at a time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use etl_core::connectors::Connectors;
use etl_core::stream::BatchStream;
use etl_core::{Discovered, Error, ExtractOptions, Extractor, Result, TableSpec};

use crate::common::lock;
use crate::sql::{Dialect, SqlWarehouse};

/// A database file as a source of the registry: `path` (relative to the
/// configuration's folder; it must exist) and `tables` (every one when
/// left out).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceConfig {
    path: String,
    tables: Option<Vec<String>>,
}

/// Registers source kind `kind`, files of dialect `C` opened by `open`.
#[allow(private_bounds)]
pub(crate) fn register_source<C: Dialect>(
    connectors: Connectors,
    kind: &'static str,
    open: fn(PathBuf) -> Result<SqlExtractor<C>>,
) -> Connectors {
    connectors.source(kind, move |c| {
        let config: SourceConfig = c.parse()?;
        let mut extractor = open(c.path(config.path))?;
        if let Some(tables) = config.tables {
            extractor = extractor.with_tables(tables);
        }
        Ok(Box::new(extractor))
    })
}

/// Batches in flight between the reading thread and the load, at most.
const IN_FLIGHT: usize = 2;

/// The tables of one SQLite or DuckDB file, as a source: every table (etl's
/// own `_etl_` tables left out) or a chosen list, each with its primary
/// key. Not incremental: each load reads the whole table.
///
/// Cheap to clone: clones share one connection.
pub struct SqlExtractor<C> {
    conn: Arc<Mutex<C>>,
    path: PathBuf,
    tables: Option<Vec<String>>,
    offered: Arc<Mutex<Option<Vec<String>>>>,
}

impl<C> Clone for SqlExtractor<C> {
    fn clone(&self) -> Self {
        SqlExtractor {
            conn: self.conn.clone(),
            path: self.path.clone(),
            tables: self.tables.clone(),
            offered: self.offered.clone(),
        }
    }
}

#[allow(private_bounds)]
impl<C: Dialect> std::fmt::Debug for SqlExtractor<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlExtractor")
            .field("kind", &C::WAREHOUSE)
            .field("path", &self.path)
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

#[allow(private_bounds)]
impl<C: Dialect> SqlExtractor<C> {
    pub(crate) fn from_connection(conn: Arc<Mutex<C>>, path: PathBuf) -> Self {
        SqlExtractor {
            conn,
            path,
            tables: None,
            offered: Arc::default(),
        }
    }

    /// The tables of a warehouse this process has open, read through its
    /// connection.
    pub fn of_warehouse(warehouse: &SqlWarehouse<C>) -> Self {
        let path = warehouse
            .path()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from(":memory:"));
        Self::from_connection(warehouse.conn.clone(), path)
    }

    /// Only these tables.
    pub fn with_tables<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&C) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&lock(&conn)))
            .await
            .map_err(|e| Error::Internal(format!("a {} task panicked: {e}", C::WAREHOUSE)))?
    }
}

#[allow(private_bounds)]
impl<C: Dialect> Extractor for SqlExtractor<C> {
    fn source(&self) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!("{}:{}", C::WAREHOUSE, path.display())
    }

    async fn tables(&self) -> Result<Vec<TableSpec>> {
        Discovered::all(self.discover().await?)
    }

    async fn discover(&self) -> Result<Vec<Discovered>> {
        let chosen = self.tables.clone();
        let path = self.path.clone();
        let (names, found) = self
            .blocking(move |conn| {
                let names: Vec<String> = match chosen {
                    Some(names) => names,
                    None => conn
                        .query_text(C::LIST_TABLES, &[], 1)?
                        .into_iter()
                        .filter_map(|mut row| row.pop().flatten())
                        .collect(),
                };
                let found = names
                    .iter()
                    .map(|name| {
                        let failed = |error| Discovered::Failed {
                            table: name.clone(),
                            error,
                        };
                        let schema = match conn.read_schema(name) {
                            Ok(Some(schema)) => schema,
                            Ok(None) => {
                                return failed(Error::Extract {
                                    table: name.clone(),
                                    source: format!("no table {name:?} in {}", path.display())
                                        .into(),
                                    retryable: false,
                                });
                            }
                            Err(e) => return failed(e.in_table(name)),
                        };
                        match conn.primary_key_of(name) {
                            Ok(key) => Discovered::Ready(
                                TableSpec::new(name, schema).with_primary_key(key),
                            ),
                            Err(e) => failed(e.in_table(name)),
                        }
                    })
                    .collect::<Vec<_>>();
                Ok((names, found))
            })
            .await?;
        *lock(&self.offered) = Some(names);
        Ok(found)
    }

    async fn extract(&self, table: &TableSpec, options: &ExtractOptions) -> Result<BatchStream> {
        let name = table.name().to_owned();
        crate::common::check_offered(self, &self.offered, &name).await?;
        let schema = table.schema().clone();
        let conn = self.conn.clone();
        let rows = options.batch_size.max(1);
        let expected = schema.clone();
        Ok(BatchStream::from_blocking(
            schema,
            IN_FLIGHT,
            move |sender| {
                let conn = lock(&conn);
                let mut failed = None;
                conn.scan(&name, rows, &mut |batch| {
                    if batch.schema().fields() != expected.fields() {
                        failed = Some(Error::Schema {
                            table: name.clone(),
                            message: format!(
                                "the table's columns changed since it was listed: now {:?}",
                                batch
                                    .schema()
                                    .fields()
                                    .iter()
                                    .map(|f| format!("{} {}", f.name(), f.data_type()))
                                    .collect::<Vec<_>>()
                            ),
                        });
                        return false;
                    }
                    let batch = batch
                        .with_schema(expected.clone())
                        .unwrap_or_else(|_| unreachable!("the fields were compared just above"));
                    sender.send(batch)
                })
                .map_err(|e| e.in_table(&name))?;
                failed.map_or(Ok(()), Err)
            },
        ))
    }
}
