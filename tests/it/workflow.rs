//! `#[workflow]` end to end: typed steps, outputs passed by reference, the
//! graph as data, options, and a load into a real SQLite file.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use etl::arrow::array::{Int64Array, RecordBatch, StringArray};
use etl::{
    Batches, SqliteWarehouse, StepContext, StepStatus, TableSpec, Warehouse, WriteOptions,
    WriteSummary, workflow,
};

struct Shop {
    warehouse: SqliteWarehouse,
    flaky_tries: AtomicU32,
}

fn batch(ids: &[i64], names: &[&str]) -> Batches {
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as _),
        ("name", Arc::new(StringArray::from(names.to_vec())) as _),
    ])
    .unwrap();
    Batches::from_batch(batch)
}

#[workflow(name = "shop", schedule = "0 6 * * *", max_parallel = 4)]
impl Shop {
    /// Not a step: an ordinary method stays as it was.
    fn table(&self, name: &str, rows: &Batches) -> TableSpec {
        TableSpec::new(name, rows.schema().clone())
    }

    #[step]
    async fn users(&self) -> etl::Result<Batches> {
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok(batch(&[1, 2, 3], &["ada", "bob", "cy"]))
    }

    #[step(retries = 2, backoff = "fixed 10ms", timeout = "5s")]
    async fn orders(&self, cx: &StepContext) -> Result<Batches, String> {
        tokio::time::sleep(Duration::from_millis(150)).await;
        if self.flaky_tries.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(format!("attempt {} lost the connection", cx.attempt()));
        }
        Ok(batch(&[10, 11], &["tea", "cake"]))
    }

    #[step(name = "order_count")]
    async fn count(&self, users: &Batches, orders: &Batches) -> etl::Result<(usize, usize)> {
        Ok((users.num_rows(), orders.num_rows()))
    }

    #[step(after = [count])]
    async fn load(&self, users: &Batches) -> etl::Result<WriteSummary> {
        let spec = self.table("users", users);
        self.warehouse
            .write(&spec, users.to_stream(), &WriteOptions::default())
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_macro_workflow_runs_typed_steps_in_parallel_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop {
        warehouse: SqliteWarehouse::open(dir.path().join("shop.db")).unwrap(),
        flaky_tries: AtomicU32::new(0),
    };
    let dag = etl::Workflow::dag(shop);
    assert_eq!(dag.name(), "shop");
    assert_eq!(dag.schedule(), Some("0 6 * * *"));
    assert_eq!(dag.max_parallel(), Some(4));
    assert_eq!(dag.order(), ["users", "orders", "order_count", "load"]);
    let count = dag.step("order_count").unwrap();
    assert_eq!(count.inputs, ["users", "orders"]);
    let load = dag.step("load").unwrap();
    assert_eq!(
        (load.inputs.clone(), load.after.clone()),
        (vec!["users"], vec!["order_count"])
    );
    let saved_as = |step: &str| dag.step(step).unwrap().codec.map(|c| c.extension());
    assert_eq!(saved_as("users"), Some("arrow"));
    assert_eq!(saved_as("order_count"), Some("json"));
    assert_eq!(
        saved_as("load"),
        Some("json"),
        "a WriteSummary is saved too"
    );
    let orders = dag.step("orders").unwrap();
    assert_eq!(orders.options.retries, 2);
    assert_eq!(orders.options.timeout, Some(Duration::from_secs(5)));

    let report = dag.run().await.into_result().unwrap();
    println!("{report}");
    assert_eq!(
        report.output::<(usize, usize)>("order_count"),
        Some(&(3, 2))
    );
    assert_eq!(report.step("orders").unwrap().attempts, 2);
    assert_eq!(report.step("users").unwrap().rows, Some(3));
    assert_eq!(report.step("load").unwrap().rows, Some(3));
    assert_eq!(report.step("load").unwrap().status, StepStatus::Succeeded);
    // users and orders overlapped: the run took less than their sum plus the retry.
    let (u, o) = (
        report.step("users").unwrap(),
        report.step("orders").unwrap(),
    );
    let (u_start, o_start) = (u.started.unwrap(), o.started.unwrap());
    let gap = u_start
        .duration_since(o_start)
        .or_else(|_| o_start.duration_since(u_start))
        .unwrap();
    assert!(
        gap < Duration::from_millis(100),
        "both started together ({gap:?})"
    );

    let warehouse = SqliteWarehouse::open(dir.path().join("shop.db")).unwrap();
    let rows: usize = warehouse
        .read_table("users")
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 3);
}
