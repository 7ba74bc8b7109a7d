//! SQL over tables in memory and over streams, with DataFusion.
//!
//! An [`Sql`] session holds named tables: [`Batches`] (the batches are
//! shared with the session, not copied) and streams read once as the query
//! runs ([`Sql::stream_table`]). A query's result streams back as batches
//! ([`Sql::stream`]) or is collected ([`Sql::collect`]). Inside a step,
//! [`StepSql::sql`] (`cx.sql(…)`, with [`StepSql`] in scope) is a session in
//! which each input of the step that is a table is named after the step that
//! produced it.
//!
//! ```
//! use etl_core::Batches;
//! use etl_core::arrow::array::{Float64Array, RecordBatch, StringArray};
//! use etl_datafusion::Sql;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! let orders = Batches::from_batch(RecordBatch::try_from_iter([
//!     ("city", Arc::new(StringArray::from(vec!["Oslo", "Lima", "Oslo"])) as _),
//!     ("amount", Arc::new(Float64Array::from(vec![10.0, 5.5, 2.5])) as _),
//! ]).unwrap());
//! let totals = Sql::new()
//!     .table("orders", &orders)?
//!     .collect("SELECT city, sum(amount) AS total FROM orders GROUP BY city ORDER BY city")
//!     .await?;
//! assert_eq!(totals.num_rows(), 2);
//! # Ok(()) }
//! ```
//!
//! A query that fails (a syntax error, an unknown table or column, a type
//! mismatch) is an [`Error::Sql`] naming where it ran (the step, or the
//! table being transformed) with DataFusion's message for each problem it
//! found, and the line and column of each where DataFusion knows them (a
//! syntax error, an unknown table or column).

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt as _;

use etl_dag::StepContext;

pub use datafusion;

use etl_core::{BatchStream, Batches, ETLWorkflow, Error, Extractor, Result, TableSpec, Warehouse};

/// SQL over a step's inputs: `cx.sql(…)` in a step, with this trait in scope
/// (`use etl::sql::StepSql as _`, or `etl::prelude::*`).
pub trait StepSql {
    /// A SQL session in which each input of this step that is a table
    /// ([`Batches`], `RecordBatch`, `Vec<RecordBatch>`, a Polars `DataFrame`,
    /// any type with the table trait [`ArrowData`](etl_core::ArrowData)) is a
    /// table named after the step that produced it. The inputs' batches are
    /// shared, not copied. Errors name this step.
    fn sql_session(&self) -> Result<Sql>;

    /// Runs `query` over this step's inputs ([`StepSql::sql_session`]); its
    /// whole result.
    fn sql(&self, query: &str) -> impl Future<Output = Result<Batches>> + Send;

    /// Runs `query` over this step's inputs; its result as a stream.
    fn sql_stream(&self, query: &str) -> impl Future<Output = Result<BatchStream>> + Send;
}

impl StepSql for StepContext {
    fn sql_session(&self) -> Result<Sql> {
        let mut session = Sql::named(format!("step {:?}", self.step()));
        for (name, table) in self.input_tables() {
            let table = table.map_err(|e| Error::Sql {
                context: format!("step {:?}", self.step()),
                message: format!("input {name:?} cannot be read as a table: {e}"),
            })?;
            let Some(batches) = table.downcast_ref::<Batches>() else {
                return Err(Error::Internal(format!(
                    "step {:?}: input {name:?} is a table of another engine than etl's Batches",
                    self.step()
                )));
            };
            session = session.table(name, batches)?;
        }
        Ok(session)
    }

    async fn sql(&self, query: &str) -> Result<Batches> {
        self.sql_session()?.collect(query).await
    }

    async fn sql_stream(&self, query: &str) -> Result<BatchStream> {
        self.sql_session()?.stream(query).await
    }
}

/// SQL transforms in an `ETLWorkflow`: `.transform_sql(table, "SELECT …")`,
/// with this trait in scope.
pub trait SqlTransform: Sized {
    /// Transforms table `table` with a DataFusion SQL query between extract
    /// and load; the query reads the table under its own name (quote names
    /// that are not lower case: `SELECT * FROM "Orders"`). A query that
    /// filters and computes row by row streams the table through; one that
    /// aggregates or sorts holds what it must. A bad query fails the table
    /// (its old rows stay) with DataFusion's message.
    fn transform_sql(self, table: impl Into<String>, query: impl Into<String>) -> Self;
}

impl<E: Extractor, W: Warehouse> SqlTransform for ETLWorkflow<E, W> {
    fn transform_sql(self, table: impl Into<String>, query: impl Into<String>) -> Self {
        self.transform_with(table, Query(query.into()))
    }
}

struct Query(String);

impl etl_core::TableTransform for Query {
    fn apply(
        &self,
        table: &TableSpec,
        stream: BatchStream,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<BatchStream>> + Send + 'static>> {
        let (query, name) = (self.0.clone(), table.name().to_owned());
        Box::pin(async move {
            let sql = Sql::named(format!("table {name:?}")).stream_table(&name, stream)?;
            sql.stream(&query).await
        })
    }
}

/// A DataFusion session with named tables; see the [module docs](self).
pub struct Sql {
    ctx: SessionContext,
    /// Where the query runs, for errors: `step "revenue"`, `table "orders"`.
    context: String,
}

impl std::fmt::Debug for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Default for Sql {
    fn default() -> Self {
        Sql::new()
    }
}

impl Sql {
    /// A session without tables.
    pub fn new() -> Sql {
        Sql::named("a query")
    }

    /// A session whose errors say they come from `context`
    /// (`step "revenue"`).
    pub fn named(context: impl Into<String>) -> Sql {
        // No round-robin repartitioning: a query that filters and projects
        // one table keeps its rows in their order (the order they load in),
        // and an aggregation still runs its final phase in parallel.
        let mut config = SessionConfig::new().with_round_robin_repartition(false);
        // Where in the query each name stands, so that an unknown column or
        // table is reported with its line and column, as a syntax error is.
        config.options_mut().sql_parser.collect_spans = true;
        Sql {
            ctx: SessionContext::new_with_config(config),
            context: context.into(),
        }
    }

    fn error(&self, e: &DataFusionError) -> Error {
        sql_error(&self.context, e)
    }

    /// Registers `table` under `name`, exactly as written.
    fn register(self, name: &str, table: Arc<dyn TableProvider>) -> Result<Sql> {
        self.ctx
            .register_table(TableReference::bare(name), table)
            .map_err(|e| Error::Sql {
                context: self.context.clone(),
                message: format!("registering table {name:?}: {}", describe(&e)),
            })?;
        Ok(self)
    }

    /// Adds `table` under `name`, exactly as written: a query names a table
    /// that is not all lower case in double quotes (`SELECT * FROM "Orders"`).
    /// Its batches are shared, not copied.
    pub fn table(self, name: &str, table: &Batches) -> Result<Sql> {
        self.table_of(name, table.schema().clone(), table.batches().to_vec())
    }

    fn table_of(
        self,
        name: &str,
        schema: SchemaRef,
        batches: Vec<arrow::array::RecordBatch>,
    ) -> Result<Sql> {
        let table = MemTable::try_new(schema, vec![batches]).map_err(|e| self.error(&e))?;
        self.register(name, Arc::new(table))
    }

    /// Adds `stream` under `name` (exactly as written, as for
    /// [`Sql::table`]), read as the query runs: a query that only filters
    /// and projects streams it through in order, holding at most one output
    /// batch (8,192 rows) before passing it on; one that aggregates or
    /// sorts holds what it must. The stream can be read
    /// once: a second query over it is an error.
    pub fn stream_table(self, name: &str, stream: BatchStream) -> Result<Sql> {
        let schema = stream.schema().clone();
        let partition = Arc::new(OnceStream {
            name: name.to_owned(),
            schema: schema.clone(),
            stream: Mutex::new(Some(stream)),
        });
        let table = StreamingTable::try_new(schema, vec![partition]).map_err(|e| self.error(&e))?;
        self.register(name, Arc::new(table))
    }

    /// Runs `query`; its result as a stream of batches.
    pub async fn stream(&self, query: &str) -> Result<BatchStream> {
        let frame = self.ctx.sql(query).await.map_err(|e| self.error(&e))?;
        let stream = frame.execute_stream().await.map_err(|e| self.error(&e))?;
        let schema = stream.schema();
        let context = self.context.clone();
        Ok(BatchStream::new(
            schema,
            stream.map(move |batch| batch.map_err(|e| sql_error(&context, &e))),
        ))
    }

    /// Runs `query`; its whole result.
    pub async fn collect(&self, query: &str) -> Result<Batches> {
        Batches::collect(self.stream(query).await?).await
    }
}

/// An [`Error::Sql`] from DataFusion's error, with every problem it
/// collected and where each stands in the query.
fn sql_error(context: &str, e: &DataFusionError) -> Error {
    Error::Sql {
        context: context.to_owned(),
        message: describe(e),
    }
}

/// DataFusion's message for each problem it found (it can collect several,
/// one per bad expression, and shows only the first), each followed by its
/// place in the query where DataFusion knows it and the message does not
/// already say it (a syntax error's message does).
fn describe(e: &DataFusionError) -> String {
    e.iter()
        .map(|e| {
            let message = e.to_string();
            let place = e
                .diagnostic()
                .and_then(|d| d.span)
                .filter(|span| span.start.line > 0);
            match place {
                Some(span) if !message.contains("Line: ") => format!(
                    "{message} (at line {}, column {})",
                    span.start.line, span.start.column
                ),
                _ => message,
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A [`BatchStream`] as a DataFusion partition, readable once.
struct OnceStream {
    name: String,
    schema: SchemaRef,
    stream: Mutex<Option<BatchStream>>,
}

impl std::fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnceStream")
            .field("name", &self.name)
            .finish()
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().unwrap_or_else(|e| e.into_inner()).take();
        let stream: futures::stream::BoxStream<'static, datafusion::error::Result<_>> = match taken
        {
            Some(stream) => stream
                .map(|batch| batch.map_err(|e| DataFusionError::External(Box::new(e))))
                .boxed(),
            None => {
                let name = self.name.clone();
                futures::stream::once(async move {
                    Err(DataFusionError::Execution(format!(
                        "the stream of table {name:?} was read already"
                    )))
                })
                .boxed()
            }
        };
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use etl_dag::{Dag, Step, StepInputs};
    use std::time::Duration;

    fn orders() -> Batches {
        Batches::from_batch(
            RecordBatch::try_from_iter([
                (
                    "id",
                    Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
                ),
                (
                    "city",
                    Arc::new(StringArray::from(vec!["Oslo", "Lima", "Oslo", "Rome"])) as ArrayRef,
                ),
                (
                    "amount",
                    Arc::new(Float64Array::from(vec![10.0, 5.5, 2.5, 1.0])) as ArrayRef,
                ),
            ])
            .unwrap(),
        )
    }

    fn text(table: &Batches) -> String {
        arrow::util::pretty::pretty_format_batches(table.batches())
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_query_over_tables_in_memory() {
        let totals = Sql::new()
            .table("orders", &orders())
            .unwrap()
            .collect("SELECT city, sum(amount) AS total FROM orders WHERE id < 4 GROUP BY city ORDER BY city")
            .await
            .unwrap();
        assert_eq!(
            text(&totals),
            "+------+-------+\n| city | total |\n+------+-------+\n| Lima | 5.5   |\n| Oslo | 12.5  |\n+------+-------+"
        );
    }

    #[tokio::test]
    async fn errors_say_where_the_query_ran_and_where_it_is_wrong() {
        let sql = Sql::named("step \"revenue\"")
            .table("orders", &orders())
            .unwrap();
        let error = async |query: &str| sql.collect(query).await.unwrap_err().to_string();
        let err = error("SELEC city FROM orders").await;
        assert!(err.starts_with("step \"revenue\": SQL: "), "{err}");
        assert!(
            err.contains("SELEC") && err.contains("Line: 1, Column: 1"),
            "{err}"
        );
        // Names that are not there: where they stand, too, and every one of
        // them (DataFusion's own message shows the first only).
        let err = error("SELECT town, village FROM orders").await;
        let problems: Vec<&str> = err.split("; ").collect();
        assert_eq!(problems.len(), 2, "{err}");
        assert!(
            problems[0].contains("No field named town")
                && problems[0].ends_with("(at line 1, column 8)"),
            "{err}"
        );
        assert!(
            problems[1].contains("No field named village")
                && problems[1].ends_with("(at line 1, column 14)"),
            "{err}"
        );
        let err = error("SELECT city,\n       town\nFROM orders").await;
        assert!(
            err.contains("town") && err.ends_with("(at line 2, column 8)"),
            "{err}"
        );
        let err = error("SELECT * FROM customers").await;
        assert!(
            err.contains("customers")
                && err.contains("not found")
                && err.ends_with("(at line 1, column 15)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn tables_are_named_exactly_as_given() {
        let sql = Sql::new()
            .table("Order lines", &orders())
            .unwrap()
            .table("orders", &orders())
            .unwrap();
        let quoted = sql
            .collect(r#"SELECT count(*) AS n FROM "Order lines""#)
            .await
            .unwrap();
        assert_eq!(quoted.num_rows(), 1);
        sql.collect("SELECT * FROM Orders").await.unwrap();
        let err = sql
            .collect(r#"SELECT * FROM "Orders""#)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("Orders") && err.contains("not found"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_row_wise_query_keeps_the_order_of_its_rows() {
        // Many small batches, as an extractor sends them: nothing shuffles
        // them across threads.
        let batches: Vec<RecordBatch> = (0..200_i64)
            .map(|b| {
                RecordBatch::try_from_iter([(
                    "id",
                    Arc::new(Int64Array::from_iter_values(b * 10..b * 10 + 10)) as ArrayRef,
                )])
                .unwrap()
            })
            .collect();
        let schema = batches[0].schema();
        let source = BatchStream::from_async(schema, 4, move |tx| async move {
            for batch in batches {
                tx.send(batch).await;
            }
            Ok(())
        });
        let out = Sql::new()
            .stream_table("ids", source)
            .unwrap()
            .stream("SELECT id * 2 AS doubled FROM ids WHERE id % 3 <> 0")
            .await
            .unwrap();
        let out = Batches::collect(out).await.unwrap();
        let got: Vec<i64> = out
            .batches()
            .iter()
            .flat_map(|b| {
                let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                ids.values().to_vec()
            })
            .collect();
        let expected: Vec<i64> = (0..2000).filter(|i| i % 3 != 0).map(|i| i * 2).collect();
        assert_eq!(got, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn row_wise_queries_stream_and_a_stream_table_is_read_once() {
        // The source sends one batch of 10,000 rows, then waits until the
        // test has seen a result: a query that did not stream would wait for
        // ever. (A filter holds at most one batch, 8,192 rows, before
        // passing it on.)
        let n = 10_000;
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64))) as ArrayRef,
            ),
        ])
        .unwrap();
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel::<()>();
        let source = BatchStream::from_async(batch.schema(), 1, move |tx| async move {
            tx.send(batch.clone()).await;
            let _ = seen_rx.await;
            tx.send(batch).await;
            Ok(())
        });
        let sql = Sql::named("table \"orders\"")
            .stream_table("orders", source)
            .unwrap();
        let mut out = sql
            .stream("SELECT id, amount * 2 AS doubled FROM orders WHERE amount >= 0")
            .await
            .unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), out.next_batch())
            .await
            .expect("the first result arrives while the source still waits")
            .unwrap()
            .unwrap();
        assert!(first.num_rows() > 0);
        seen_tx.send(()).unwrap();
        let rest = Batches::collect(out).await.unwrap();
        assert_eq!(first.num_rows() + rest.num_rows(), 2 * n as usize);

        let err = sql
            .collect("SELECT * FROM orders")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the stream of table \"orders\" was read already"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_step_queries_its_inputs_by_the_names_of_their_steps() {
        let cities = Batches::from_batch(
            RecordBatch::try_from_iter([
                (
                    "city",
                    Arc::new(StringArray::from(vec!["Oslo", "Lima"])) as ArrayRef,
                ),
                (
                    "country",
                    Arc::new(StringArray::from(vec!["NO", "PE"])) as ArrayRef,
                ),
            ])
            .unwrap(),
        );
        let dag = Dag::builder("sql")
            .step(
                Step::new("orders", |_: StepContext, _: StepInputs| async {
                    Ok::<_, Error>(orders())
                })
                .output(etl_core::table_output::<Batches>()),
            )
            .step(
                Step::new("cities", move |_: StepContext, _: StepInputs| {
                    let cities = cities.clone();
                    async move { Ok::<_, Error>(cities) }
                })
                .output(etl_core::table_output::<Batches>()),
            )
            .step(Step::new("label", |_: StepContext, _: StepInputs| async {
                Ok::<_, Error>(7_u8)
            }))
            .step(
                Step::new("by_country", |cx: StepContext, _: StepInputs| async move {
                    cx.sql(
                        "SELECT c.country, sum(o.amount) AS total
                         FROM orders o JOIN cities c ON o.city = c.city
                         GROUP BY c.country ORDER BY c.country",
                    )
                    .await
                })
                .inputs(["orders", "cities", "label"]),
            )
            .step(
                Step::new("broken", |cx: StepContext, _: StepInputs| async move {
                    // `label` is not a table: it is not registered.
                    cx.sql("SELECT * FROM label").await
                })
                .inputs(["label"]),
            )
            .build()
            .unwrap();
        let report = dag.run().await;
        let by_country = report.output::<Batches>("by_country").unwrap();
        assert_eq!(
            text(by_country),
            "+---------+-------+\n| country | total |\n+---------+-------+\n| NO      | 12.5  |\n| PE      | 5.5   |\n+---------+-------+"
        );
        let error = report.step("broken").unwrap().error.clone().unwrap();
        assert!(
            error.starts_with("step \"broken\": SQL: ") && error.contains("label"),
            "{error}"
        );
    }
}
