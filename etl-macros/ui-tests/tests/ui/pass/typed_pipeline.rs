// Steps take earlier outputs by reference, typed; a context; options; a
// renamed step; an ordering-only dependency; outputs saved as Arrow, as
// JSON, or not at all, by type. The workflow runs.
use etl::{Batches, StepContext};
use etl_macros::workflow;

struct Nightly {
    base: u64,
}

#[workflow(name = "nightly", schedule = "30 2 * * MON-FRI", max_parallel = 2, fail_fast = true)]
impl Nightly {
    #[step(retries = 3, backoff = "exponential 10ms", timeout = "1m")]
    async fn extract(&self, cx: &StepContext) -> etl::Result<Vec<u64>> {
        assert_eq!(cx.step(), "extract");
        Ok(vec![self.base, self.base + 1])
    }

    #[step]
    async fn empty(&self) -> Result<Option<Batches>, String> {
        Ok(None)
    }

    #[step(name = "sum_up")]
    async fn sum(&self, extract: &Vec<u64>, empty: &Option<Batches>) -> etl::Result<u64> {
        assert!(empty.is_none());
        Ok(extract.iter().sum())
    }

    #[step(after = [sum])]
    async fn announce(&self) -> Result<&'static str, std::io::Error> {
        Ok("done")
    }

    #[step]
    async fn table(&self) -> etl::Result<Batches> {
        Ok(Batches::from_batch(etl::arrow::array::RecordBatch::new_empty(
            std::sync::Arc::new(etl::arrow::datatypes::Schema::empty()),
        )))
    }
}

fn main() {
    let dag = etl::Workflow::dag(Nightly { base: 20 });
    assert_eq!(dag.order(), ["extract", "empty", "sum_up", "announce", "table"]);
    let saved_as = |step: &str| dag.step(step).unwrap().codec.map(|c| c.extension());
    assert_eq!(saved_as("table"), Some("arrow"));
    assert_eq!(saved_as("extract"), Some("json"));
    assert_eq!(saved_as("sum_up"), Some("json"));
    // Option<Batches> is neither; a borrowed output is never saved.
    assert_eq!(saved_as("empty"), None);
    assert_eq!(saved_as("announce"), None);
    let report = tokio::runtime::Runtime::new().unwrap().block_on(dag.run());
    assert_eq!(report.output::<u64>("sum_up"), Some(&41));
}
