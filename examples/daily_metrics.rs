//! A typed workflow of steps: revenue per day and country, from two sources
//! read at the same time, reshaped with Arrow, Polars and SQL, loaded into
//! DuckDB.
//!
//! ```text
//! cargo run --example daily_metrics --features polars,datafusion   # writes ./daily_metrics.duckdb
//! cargo run --example daily_metrics --features polars,datafusion -- out.duckdb
//! ```
//!
//! ```text
//! orders (files) ───┬─> daily_revenue (Arrow) ─┬─> by_country (Polars) ─┐
//!                   │                          └────────────────────────┤
//! customers (HTTP) ─┴─> top_customers (SQL) ────────────────────────────┴─> load (DuckDB)
//! ```
//!
//! `orders` reads `examples/data/orders.jsonl`; `customers` reads the CRM's
//! REST API, which the example serves itself on 127.0.0.1 so that it needs no
//! network. The two extract steps run at the same time; the steps after them
//! start when their inputs have succeeded and receive them by reference,
//! typed: change a parameter's type and rustc points at it.
//!
//! - `daily_revenue` groups orders by day and country by hand, in Arrow.
//! - `by_country` takes that table into Polars (the columns are shared, not
//!   copied) and returns a `DataFrame`.
//! - `top_customers` joins the two extracts in SQL (DataFusion): each input
//!   is a table named after its step.
//!
//! Then `load` writes the three tables into DuckDB, each in its own
//! transaction, and the example prints the `RunReport` and the tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use etl::arrow::array::{
    ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use etl::arrow::compute::cast;
use etl::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type, TimeUnit};
use etl::extractors::http::Resource;
use etl::polars::prelude::{DataFrame, IntoLazy as _, SortMultipleOptions, col};
use etl::{
    Batches, BatchesPolars as _, DuckDbWarehouse, FilesExtractor, HttpConfig, HttpExtractor,
    StepContext, StepSql as _, TableSpec, Warehouse, Workflow as _, WriteFrame as _, WriteMode,
    WriteOptions, WriteSummary, workflow,
};
use serde_json::json;

/// The workflow's resources: its steps are the methods below.
pub(crate) struct DailyMetrics {
    files: FilesExtractor,
    crm: HttpExtractor,
    warehouse: DuckDbWarehouse,
}

impl DailyMetrics {
    /// Orders from `data/orders.jsonl`, customers from the CRM at `crm_url`,
    /// the result into the DuckDB file at `target`.
    pub(crate) fn new(data: &Path, crm_url: &str, target: &Path) -> etl::Result<Self> {
        let crm = HttpConfig::new(crm_url).with_resource(
            Resource::new("customers", "customers")
                .with_records("data")
                .with_primary_key(["id"]),
        );
        Ok(DailyMetrics {
            files: FilesExtractor::open(data.join("orders.jsonl"))?,
            crm: HttpExtractor::new(crm)?,
            warehouse: DuckDbWarehouse::open(target)?,
        })
    }

    /// A loaded table, as the warehouse holds it.
    pub(crate) async fn loaded(&self, table: &str) -> etl::Result<Vec<RecordBatch>> {
        self.warehouse.read_table(table).await
    }
}

#[workflow(name = "daily_metrics", schedule = "0 6 * * *")]
impl DailyMetrics {
    /// The shop's orders, from a JSON Lines export.
    #[step]
    async fn orders(&self) -> etl::Result<Batches> {
        Batches::extract(&self.files, "orders").await
    }

    /// The customers, from the CRM's API: a network call, so retried with
    /// backoff and bounded in time.
    #[step(retries = 3, backoff = "exponential 500ms", timeout = "30s")]
    async fn customers(&self, cx: &StepContext) -> etl::Result<Batches> {
        if cx.attempt() > 1 {
            println!("customers: attempt {}", cx.attempt());
        }
        Batches::extract(&self.crm, "customers").await
    }

    /// Orders and revenue per day and customer country.
    #[step]
    async fn daily_revenue(
        &self,
        orders: &Batches,
        customers: &Batches,
    ) -> anyhow::Result<Batches> {
        daily_revenue(orders, customers)
    }

    /// Per country over all days, in Polars: the table crosses into a
    /// `DataFrame` without a copy, and the step returns the frame (its rows
    /// count in the run report).
    #[step]
    async fn by_country(&self, daily_revenue: &Batches) -> anyhow::Result<DataFrame> {
        let frame = daily_revenue
            .to_polars()?
            .lazy()
            .group_by([col("country")])
            .agg([col("orders").sum(), col("revenue").sum()])
            .with_column((col("revenue") / col("orders")).alias("per_order"))
            .sort(
                ["revenue", "country"],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )
            .collect()?;
        Ok(frame)
    }

    /// The customers who spent most, in SQL over the two extracts: each is a
    /// table named after its step. The inputs are not used by name, hence
    /// the underscores; they still say what this step reads, and when it runs.
    #[step]
    async fn top_customers(
        &self,
        cx: &StepContext,
        _orders: &Batches,
        _customers: &Batches,
    ) -> etl::Result<Batches> {
        cx.sql(
            "SELECT c.name, count(*) AS orders, sum(o.total) AS spent
             FROM orders o JOIN customers c ON o.customer_id = c.id
             GROUP BY c.name
             ORDER BY spent DESC, c.name",
        )
        .await
    }

    /// Replaces the three tables in DuckDB, each in one transaction.
    #[step]
    async fn load(
        &self,
        daily_revenue: &Batches,
        by_country: &DataFrame,
        top_customers: &Batches,
    ) -> etl::Result<Vec<WriteSummary>> {
        let spec = TableSpec::new("daily_revenue", daily_revenue.schema().clone())
            .with_primary_key(["day", "country"]);
        let daily = self
            .warehouse
            .write(&spec, daily_revenue.to_stream(), &WriteOptions::default())
            .await?;
        let countries = self
            .warehouse
            .write_frame("by_country", by_country, WriteMode::Replace)
            .await?;
        let spec = TableSpec::new("top_customers", top_customers.schema().clone());
        let customers = self
            .warehouse
            .write(&spec, top_customers.to_stream(), &WriteOptions::default())
            .await?;
        Ok(vec![daily, countries, customers])
    }
}

/// Groups the orders by the day they were placed and their customer's
/// country (`unknown` when the CRM does not know the customer): the number of
/// orders and their total, sorted by day and country.
fn daily_revenue(orders: &Batches, customers: &Batches) -> anyhow::Result<Batches> {
    let mut country_of = std::collections::HashMap::new();
    for batch in customers.batches() {
        let ids = column(batch, "customers", "id", &DataType::Int64)?;
        let countries = column(batch, "customers", "country", &DataType::Utf8)?;
        for (id, country) in ids
            .as_primitive::<Int64Type>()
            .iter()
            .zip(countries.as_string::<i32>())
        {
            if let (Some(id), Some(country)) = (id, country) {
                country_of.insert(id, country.to_owned());
            }
        }
    }

    let utc_ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let mut groups = std::collections::BTreeMap::<(i32, String), (i64, f64)>::new();
    for batch in orders.batches() {
        let day = cast(
            &column(batch, "orders", "ordered_at", &utc_ms)?,
            &DataType::Date32,
        )?;
        let customer = column(batch, "orders", "customer_id", &DataType::Int64)?;
        let total = column(batch, "orders", "total", &DataType::Float64)?;
        let rows = day
            .as_primitive::<Date32Type>()
            .iter()
            .zip(customer.as_primitive::<Int64Type>())
            .zip(total.as_primitive::<Float64Type>());
        for (row, ((day, customer), total)) in rows.enumerate() {
            let day = day.with_context(|| format!("orders, row {row}: no ordered_at"))?;
            let country = customer
                .and_then(|c| country_of.get(&c).cloned())
                .unwrap_or_else(|| "unknown".to_owned());
            let group = groups.entry((day, country)).or_default();
            group.0 += 1;
            group.1 += total.unwrap_or(0.0);
        }
    }

    let batch = RecordBatch::try_from_iter([
        (
            "day",
            Arc::new(Date32Array::from_iter_values(groups.keys().map(|k| k.0))) as ArrayRef,
        ),
        (
            "country",
            Arc::new(StringArray::from_iter_values(
                groups.keys().map(|k| k.1.as_str()),
            )),
        ),
        (
            "orders",
            Arc::new(Int64Array::from_iter_values(groups.values().map(|v| v.0))),
        ),
        (
            "revenue",
            Arc::new(Float64Array::from_iter_values(groups.values().map(|v| v.1))),
        ),
    ])?;
    Ok(Batches::from_batch(batch))
}

/// Column `name` of `table`'s batch, cast to `to`; an error names both.
fn column(batch: &RecordBatch, table: &str, name: &str, to: &DataType) -> anyhow::Result<ArrayRef> {
    let column = batch
        .column_by_name(name)
        .with_context(|| format!("table {table:?} has no column {name:?}"))?;
    cast(column, to).with_context(|| {
        format!(
            "table {table:?}, column {name:?}: a {} cannot be read as {to}",
            column.data_type()
        )
    })
}

/// Serves the CRM's customers API (`GET /customers` → `{"data": [...]}`) on
/// 127.0.0.1 and returns its base URL.
pub(crate) async fn serve_crm() -> anyhow::Result<String> {
    let customers = json!({"data": [
        {"id": 1, "name": "Ada Lovelace", "country": "GB"},
        {"id": 2, "name": "Grace Hopper", "country": "US"},
        {"id": 3, "name": "Alan Turing", "country": "GB"},
        {"id": 4, "name": "Katherine Johnson", "country": "US"},
    ]});
    let app = Router::new().route(
        "/customers",
        get(move || async move { axum::Json(customers) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// `examples/data`: `cargo run` sets CARGO_MANIFEST_DIR; a binary run on its
/// own falls back to the checkout it was built from.
pub(crate) fn example_data() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
        .join("examples/data")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let target = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "daily_metrics.duckdb".to_owned()),
    );
    let crm = serve_crm().await?;
    println!("Serving the CRM's customers API at {crm}.");

    let metrics = Arc::new(DailyMetrics::new(&example_data(), &crm, &target)?);
    let dag = Arc::clone(&metrics).into_dag();
    for step in dag.steps() {
        let after: Vec<&str> = step.depends_on().collect();
        println!("  step {:<14} after: {}", step.name, after.join(", "));
    }
    println!();

    // Ctrl-C cancels the running steps; nothing half-loaded stays behind.
    let report = dag.runner().cancel_on_ctrl_c().run().await;
    println!("{report}\n");
    // A failed run is an error naming each step that did not succeed.
    report.into_result()?;

    for table in ["daily_revenue", "by_country", "top_customers"] {
        let batches = metrics.loaded(table).await?;
        println!(
            "{table} in {}:\n{}\n",
            target.display(),
            etl::arrow::util::pretty::pretty_format_batches(&batches)?
        );
    }
    Ok(())
}
