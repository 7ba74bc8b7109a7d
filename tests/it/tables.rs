//! A type of the user's own that implements the table trait is, as a step's
//! output, counted, saved, read back by a resumed run, and a table for SQL:
//! the runtime knows it through the hooks `#[workflow]` picks, not a list.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use etl::arrow::array::{Float64Array, RecordBatch, StringArray};
use etl::arrow::datatypes::SchemaRef;
use etl::{ArrowData, Batches, StepContext, StepSql as _, Workflow, workflow};

/// Prices of the day: one batch, and the day they are for.
struct Prices {
    batch: RecordBatch,
}

impl ArrowData for Prices {
    fn to_batches(&self) -> etl::Result<(SchemaRef, Vec<RecordBatch>)> {
        Ok((self.batch.schema(), vec![self.batch.clone()]))
    }
    fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> etl::Result<Self> {
        let batch = etl::arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| etl::Error::arrow("joining prices", e))?;
        Ok(Prices { batch })
    }
}

struct Market {
    priced: Arc<AtomicU32>,
}

#[workflow(name = "market")]
impl Market {
    #[step]
    async fn prices(&self) -> etl::Result<Prices> {
        self.priced.fetch_add(1, Ordering::SeqCst);
        let batch = RecordBatch::try_from_iter([
            (
                "item",
                Arc::new(StringArray::from(vec!["tea", "rice", "tea"])) as _,
            ),
            (
                "price",
                Arc::new(Float64Array::from(vec![2.5, 1.0, 3.0])) as _,
            ),
        ])
        .map_err(|e| etl::Error::arrow("prices", e))?;
        Ok(Prices { batch })
    }

    #[step]
    async fn totals(&self, cx: &StepContext, _prices: &Prices) -> etl::Result<Batches> {
        cx.sql("SELECT item, sum(price) AS total FROM prices GROUP BY item ORDER BY item")
            .await
    }
}

#[tokio::test]
async fn a_user_table_type_is_counted_saved_and_read_by_sql() {
    let priced = Arc::new(AtomicU32::new(0));
    let dag = Market {
        priced: priced.clone(),
    }
    .dag();
    let prices = dag.step("prices").unwrap();
    assert!(prices.output.is_table());
    assert_eq!(prices.codec.map(|c| c.extension()), Some("arrow"));

    let dir = tempfile::tempdir().unwrap();
    let report = dag
        .runner()
        .persist_outputs(dir.path())
        .run()
        .await
        .into_result()
        .unwrap();
    assert_eq!(report.step("prices").unwrap().rows, Some(3));
    assert_eq!(report.step("totals").unwrap().rows, Some(2));
    let totals = report.output::<Batches>("totals").unwrap();
    assert_eq!(
        etl::arrow::util::pretty::pretty_format_batches(totals.batches())
            .unwrap()
            .to_string(),
        "+------+-------+\n| item | total |\n+------+-------+\n| rice | 1.0   |\n| tea  | 5.5   |\n+------+-------+"
    );

    // A second run of `totals` alone takes `prices` from its file: read
    // back as the user's type, and still a table for SQL.
    let saved = dir.path().join("prices.arrow");
    assert!(saved.exists());
    let again = dag
        .runner()
        .only(["totals"])
        .unwrap()
        .reuse_output("prices", saved.to_str().unwrap())
        .unwrap()
        .run()
        .await
        .into_result()
        .unwrap();
    assert_eq!(priced.load(Ordering::SeqCst), 1, "prices ran once");
    assert_eq!(again.output::<Batches>("totals").unwrap(), totals);
}

#[tokio::test]
async fn a_step_built_at_run_time_gets_the_same_hooks_through_output_hooks() {
    use etl::dag::{Dag, Step, StepInputs};
    let dag = Dag::builder("market")
        .step(
            Step::new("prices", |_: StepContext, _: StepInputs| async {
                let batch = RecordBatch::try_from_iter([(
                    "price",
                    Arc::new(Float64Array::from(vec![2.5, 1.0])) as _,
                )])
                .map_err(|e| etl::Error::arrow("prices", e))?;
                Ok::<_, etl::Error>(Prices { batch })
            })
            .output(etl::output_hooks!(Prices)),
        )
        .step(
            Step::new("total", |cx: StepContext, _: StepInputs| async move {
                cx.sql("SELECT sum(price) AS total FROM prices").await
            })
            .inputs(["prices"])
            .output(etl::output_hooks!(Batches)),
        )
        .build()
        .unwrap();
    let prices = dag.step("prices").unwrap();
    assert!(prices.output.is_table());
    let dir = tempfile::tempdir().unwrap();
    let report = dag
        .runner()
        .persist_outputs(dir.path())
        .run()
        .await
        .into_result()
        .unwrap();
    assert_eq!(report.step("prices").unwrap().rows, Some(2));
    assert_eq!(report.step("total").unwrap().rows, Some(1));
    assert!(dir.path().join("prices.arrow").exists());
}
