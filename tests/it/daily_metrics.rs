//! `examples/daily_metrics.rs` as a user runs it: the same workflow (Arrow,
//! Polars and SQL steps), the same local CRM API and example data, into a
//! real DuckDB file; then a run whose transform fails, which must leave the
//! loaded tables as they were.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use etl::arrow::util::pretty::pretty_format_batches;
use etl::{StepStatus, Workflow as _};

use crate::daily_metrics_example::{DailyMetrics, example_data, serve_crm};

const LOADED: &str = "\
+------------+---------+--------+---------+
| day        | country | orders | revenue |
+------------+---------+--------+---------+
| 2024-03-01 | GB      | 1      | 31.5    |
| 2024-03-01 | US      | 1      | 12.0    |
| 2024-03-02 | GB      | 1      | 0.0     |
| 2024-03-03 | unknown | 1      | 27.0    |
+------------+---------+--------+---------+";

const BY_COUNTRY: &str = "\
+---------+--------+---------+-----------+
| country | orders | revenue | per_order |
+---------+--------+---------+-----------+
| GB      | 2      | 31.5    | 15.75     |
| unknown | 1      | 27.0    | 27.0      |
| US      | 1      | 12.0    | 12.0      |
+---------+--------+---------+-----------+";

const TOP_CUSTOMERS: &str = "\
+--------------+--------+-------+
| name         | orders | spent |
+--------------+--------+-------+
| Ada Lovelace | 2      | 31.5  |
| Grace Hopper | 1      | 12.0  |
+--------------+--------+-------+";

/// Every table the example loads, as DuckDB holds it.
async fn loaded(metrics: &DailyMetrics) -> [String; 3] {
    let mut tables = Vec::new();
    for table in ["daily_revenue", "by_country", "top_customers"] {
        let batches = metrics.loaded(table).await.unwrap();
        tables.push(pretty_format_batches(&batches).unwrap().to_string());
    }
    tables.try_into().unwrap()
}

/// A CRM whose customers lack the `country` field the transform needs.
async fn serve_crm_without_countries() -> String {
    let app = Router::new().route(
        "/customers",
        get(|| async { axum::Json(serde_json::json!({"data": [{"id": 1, "name": "Ada"}]})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_metrics_extracts_both_sources_transforms_and_loads_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("metrics.duckdb");
    let crm = serve_crm().await.unwrap();
    let metrics = Arc::new(DailyMetrics::new(&example_data(), &crm, &target).unwrap());
    let dag = Arc::clone(&metrics).into_dag();
    assert_eq!(dag.name(), "daily_metrics");
    assert_eq!(dag.schedule(), Some("0 6 * * *"));
    assert_eq!(
        dag.order(),
        [
            "orders",
            "customers",
            "daily_revenue",
            "by_country",
            "top_customers",
            "load"
        ]
    );
    assert_eq!(
        dag.step("top_customers").unwrap().inputs,
        ["orders", "customers"],
        "`_orders` names the step `orders`"
    );
    assert_eq!(
        dag.step("daily_revenue").unwrap().inputs,
        ["orders", "customers"]
    );
    assert_eq!(dag.step("customers").unwrap().options.retries, 3);

    let report = dag.run().await.into_result().unwrap();
    let rows = |step: &str| report.step(step).unwrap().rows;
    assert_eq!(rows("orders"), Some(4));
    assert_eq!(rows("customers"), Some(4));
    assert_eq!(rows("daily_revenue"), Some(4));
    assert_eq!(rows("by_country"), Some(3), "a DataFrame's rows count");
    assert_eq!(rows("top_customers"), Some(2));
    assert_eq!(rows("load"), Some(9));
    // The two extracts are independent: both started before the transform,
    // which started only once both had finished.
    let started = |step: &str| report.step(step).unwrap().started.unwrap();
    let ended = |step: &str| started(step) + report.step(step).unwrap().duration.unwrap();
    assert!(started("daily_revenue") >= ended("orders").max(ended("customers")));
    let text = report.to_string();
    assert!(text.contains("6 of 6 steps succeeded"), "{text}");

    let expected = [LOADED, BY_COUNTRY, TOP_CUSTOMERS].map(str::to_owned);
    assert_eq!(loaded(&metrics).await, expected);
    drop((dag, metrics));

    // The CRM changes shape: the Arrow transform fails naming the table and
    // the column, the Polars step after it and the load are skipped (the SQL
    // step does not read the country, and succeeds), and yesterday's tables
    // are untouched.
    let bad_crm = serve_crm_without_countries().await;
    let metrics = Arc::new(DailyMetrics::new(&example_data(), &bad_crm, &target).unwrap());
    let report = Arc::clone(&metrics).into_dag().run().await;
    let status = |step: &str| report.step(step).unwrap().status;
    assert_eq!(status("orders"), StepStatus::Succeeded);
    assert_eq!(status("customers"), StepStatus::Succeeded);
    assert_eq!(status("daily_revenue"), StepStatus::Failed);
    assert_eq!(status("by_country"), StepStatus::Skipped);
    assert_eq!(status("top_customers"), StepStatus::Succeeded);
    assert_eq!(status("load"), StepStatus::Skipped);
    let error = report.step("daily_revenue").unwrap().error.clone().unwrap();
    assert!(
        error.contains(r#"table "customers" has no column "country""#),
        "{error}"
    );
    let message = report.into_result().unwrap_err().to_string();
    assert!(
        message.contains("daily_revenue") && message.contains("load"),
        "{message}"
    );
    assert_eq!(loaded(&metrics).await, expected);
}
