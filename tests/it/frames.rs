//! Steps that speak Polars: a `#[workflow]` whose steps take and return
//! `DataFrame` and `LazyFrame`, their outputs counted and saved, and a frame
//! written into a real DuckDB file.

use std::sync::Arc;

use etl::arrow::array::{Float64Array, Int64Array, RecordBatch, StringViewArray};
use etl::polars::prelude::*;
#[allow(unused_imports)]
use etl::prelude::*;
use etl::{Batches, DuckDbWarehouse, Warehouse, WriteMode, WriteSummary, workflow};

struct Sales {
    warehouse: DuckDbWarehouse,
}

#[workflow(name = "sales")]
impl Sales {
    #[step]
    async fn orders(&self) -> etl::Result<Batches> {
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as _),
            (
                "city",
                Arc::new(StringViewArray::from(vec!["Oslo", "Lima", "Oslo", "Oslo"])) as _,
            ),
            (
                "amount",
                Arc::new(Float64Array::from(vec![10.0, 5.5, 2.5, 7.0])) as _,
            ),
        ])
        .map_err(|e| etl::Error::arrow("orders", e))?;
        Ok(Batches::from_batch(batch))
    }

    /// Arrow in, Polars out.
    #[step]
    async fn frame(&self, orders: &Batches) -> etl::Result<DataFrame> {
        orders.to_polars()
    }

    /// A lazy query: nothing runs until a step collects it. Polars' own
    /// error type will do.
    #[step]
    async fn by_city(&self, frame: &DataFrame) -> PolarsResult<LazyFrame> {
        Ok(frame
            .clone()
            .lazy()
            .group_by([col("city")])
            .agg([col("amount").sum(), len().alias("orders")])
            .sort(["city"], Default::default()))
    }

    #[step]
    async fn totals(&self, by_city: &LazyFrame) -> PolarsResult<DataFrame> {
        by_city.clone().collect()
    }

    #[step]
    async fn load(&self, totals: &DataFrame) -> etl::Result<WriteSummary> {
        self.warehouse
            .write_frame("sales_by_city", totals, WriteMode::Replace)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_take_and_return_polars_frames() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = DuckDbWarehouse::open(dir.path().join("sales.duckdb")).unwrap();
    let dag = etl::Workflow::dag(Sales {
        warehouse: warehouse.clone(),
    });
    let saved_as = |step: &str| dag.step(step).unwrap().codec.map(|c| c.extension());
    assert_eq!(
        saved_as("frame"),
        Some("arrow"),
        "a DataFrame is saved as Arrow IPC"
    );
    assert_eq!(
        saved_as("by_city"),
        None,
        "a LazyFrame is a query, not data"
    );

    let outputs = dir.path().join("outputs");
    let report = dag
        .runner()
        .persist_outputs(&outputs)
        .run()
        .await
        .into_result()
        .unwrap();
    let rows = |step: &str| report.step(step).unwrap().rows;
    assert_eq!(rows("frame"), Some(4), "DataFrame rows are counted");
    assert_eq!(rows("by_city"), None);
    assert_eq!(rows("totals"), Some(2));
    assert_eq!(rows("load"), Some(2));

    // The saved frame is an Arrow IPC file that reads back as the same frame.
    let file = std::fs::File::open(outputs.join("frame.arrow")).unwrap();
    let reader = etl::arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().unwrap();
    let back = Batches::new(schema, batches).unwrap().to_polars().unwrap();
    assert!(back.equals(report.output::<DataFrame>("frame").unwrap()));

    let loaded = warehouse.read_table("sales_by_city").await.unwrap();
    let text = etl::arrow::util::pretty::pretty_format_batches(&loaded)
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "\
+------+--------+--------+
| city | amount | orders |
+------+--------+--------+
| Lima | 5.5    | 1      |
| Oslo | 19.5   | 3      |
+------+--------+--------+"
    );
}
