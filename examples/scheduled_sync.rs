//! The Airtable sync as a scheduled workflow binary: the base's three
//! tables read at the same time, then loaded into SQLite; every run and step
//! recorded in a state store; `schedule` runs it every hour; `export airflow`
//! hands it to Airflow, one task per step.
//!
//! ```text
//! cargo run --example scheduled_sync -- run                  # sync once, recorded
//! cargo run --example scheduled_sync -- history              # the runs
//! cargo run --example scheduled_sync -- show RUN_ID          # one run, step by step
//! cargo run --example scheduled_sync -- resume RUN_ID        # rerun what failed
//! cargo run --example scheduled_sync -- run --from load      # load the last extracts again
//! cargo run --example scheduled_sync -- schedule --tz Europe/Paris
//! cargo run --example scheduled_sync -- graph --format mermaid
//! cargo run --example scheduled_sync -- export airflow -o dags/scheduled_sync.py
//! ```
//!
//! The base is `AIRTABLE_BASE_ID`, read with `AIRTABLE_TOKEN` (and from
//! `AIRTABLE_API_URL` when set). Without them, the built-in sample base is
//! served on 127.0.0.1 by a local Airtable-compatible server, started when a
//! step first needs it. The tables go to the SQLite file `SYNC_WAREHOUSE`
//! (default `scheduled_sync.sqlite`), written by one step. The extract steps
//! return `Batches`, which are saved with the run as Arrow IPC files
//! (`runs/<run id>/customers.arrow`, …): under Airflow, where each step is a
//! process of its own, `load` reads them from there; `resume` reuses them.
//! The runs are recorded in `etl-state.sqlite` (`--state` or `ETL_STATE`
//! elsewhere).

use std::path::PathBuf;

use etl::{
    AirtableConfig, AirtableExtractor, Batches, ExtractOptions, Extractor, SqliteWarehouse,
    StepContext, TableSpec, Warehouse, WriteOptions, WriteSummary, workflow,
};
use etl_airtable_server::{AirtableServer, Base};
use tokio::sync::OnceCell;

struct ScheduledSync {
    /// The warehouse's file.
    warehouse: PathBuf,
    /// The base, when given by the environment; else the sample base.
    airtable: Option<AirtableConfig>,
    /// One extractor for every step, made on first use (with the sample
    /// base's server, when that is what is read).
    extractor: OnceCell<(AirtableExtractor, Option<AirtableServer>)>,
}

impl ScheduledSync {
    fn from_env() -> etl::Result<Self> {
        let given = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        let airtable = if given("AIRTABLE_TOKEN") || given("AIRTABLE_BASE_ID") {
            Some(AirtableConfig::from_env()?)
        } else {
            None
        };
        let warehouse = std::env::var_os("SYNC_WAREHOUSE")
            .map(PathBuf::from)
            .unwrap_or_else(|| "scheduled_sync.sqlite".into());
        Ok(ScheduledSync {
            warehouse,
            airtable,
            extractor: OnceCell::new(),
        })
    }

    async fn extractor(&self) -> etl::Result<&AirtableExtractor> {
        let (extractor, _server) = self
            .extractor
            .get_or_try_init(|| async {
                let (config, server) = match &self.airtable {
                    Some(config) => (config.clone(), None),
                    None => {
                        let server = AirtableServer::start(Base::sample()).await.map_err(|e| {
                            etl::Error::Config(format!("starting the sample base's server: {e}"))
                        })?;
                        let config = AirtableConfig::new(server.token(), server.base_id())
                            .with_api_url(server.url());
                        (config, Some(server))
                    }
                };
                Ok::<_, etl::Error>((AirtableExtractor::new(config)?, server))
            })
            .await?;
        Ok(extractor)
    }

    /// Reads `table` whole, telling the run how far it got.
    async fn extract(&self, cx: &StepContext, table: &str) -> etl::Result<Batches> {
        let extractor = self.extractor().await?;
        let specs = extractor.tables().await?;
        let Some(spec) = specs.iter().find(|s| s.name() == table) else {
            return Err(etl::Error::UnknownTable {
                table: table.to_owned(),
                offered: specs.iter().map(|s| s.name().to_owned()).collect(),
            });
        };
        // Five pages a batch: the rows so far move about once a second at
        // Airtable's 5 requests per second.
        let mut stream = extractor
            .extract(spec, &ExtractOptions::with_batch_size(500))
            .await?;
        let schema = stream.schema().clone();
        let (mut batches, mut rows) = (Vec::new(), 0);
        while let Some(batch) = stream.next_batch().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            cx.progress(rows);
            batches.push(batch);
        }
        Batches::new(schema, batches)
    }
}

#[workflow(name = "scheduled_sync", schedule = "0 * * * *")]
impl ScheduledSync {
    #[step(retries = 2, backoff = "exponential 1s", timeout = "30m")]
    async fn customers(&self, cx: &StepContext) -> etl::Result<Batches> {
        self.extract(cx, "Customers").await
    }

    #[step(retries = 2, backoff = "exponential 1s", timeout = "30m")]
    async fn products(&self, cx: &StepContext) -> etl::Result<Batches> {
        self.extract(cx, "Products").await
    }

    #[step(retries = 2, backoff = "exponential 1s", timeout = "30m")]
    async fn orders(&self, cx: &StepContext) -> etl::Result<Batches> {
        self.extract(cx, "Orders").await
    }

    /// Replaces the three tables, each in one transaction.
    #[step(timeout = "30m")]
    async fn load(
        &self,
        customers: &Batches,
        products: &Batches,
        orders: &Batches,
    ) -> etl::Result<Vec<WriteSummary>> {
        let warehouse = SqliteWarehouse::open(&self.warehouse)?;
        let mut written = Vec::new();
        for (name, table) in [
            ("Customers", customers),
            ("Products", products),
            ("Orders", orders),
        ] {
            let spec =
                TableSpec::new(name, table.schema().clone()).with_primary_key(["_airtable_id"]);
            written.push(
                warehouse
                    .write(&spec, table.to_stream(), &WriteOptions::default())
                    .await?,
            );
        }
        Ok(written)
    }
}

etl::main!(ScheduledSync::from_env()?);
