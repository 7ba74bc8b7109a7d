//! `GET /metrics`: the store's counts in Prometheus' text format (0.0.4):
//! runs and steps by workflow and status, a histogram of step durations,
//! the queue's depth, the claims workers lost.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use etl_runs::STEP_SECONDS_BUCKETS;

use super::App;
use super::error::ApiResult;

/// A label value as the format quotes it: `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The store's counts for Prometheus: `etl_runs`, `etl_steps`,
/// `etl_step_duration_seconds` (a histogram), `etl_queue_depth`,
/// `etl_claims_lost_total`, each by workflow.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus' text format 0.0.4", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(app): State<App>) -> ApiResult<impl IntoResponse> {
    let m = app.store.metrics().await?;
    let mut out = String::new();
    family(
        &mut out,
        "etl_runs",
        "gauge",
        "Runs recorded in the state store, by workflow and status.",
    );
    for (workflow, status, n) in &m.runs {
        let _ = writeln!(
            out,
            "etl_runs{{workflow=\"{}\",status=\"{status}\"}} {n}",
            label(workflow)
        );
    }
    family(
        &mut out,
        "etl_steps",
        "gauge",
        "Steps of recorded runs, by workflow and status.",
    );
    for (workflow, status, n) in &m.steps {
        let _ = writeln!(
            out,
            "etl_steps{{workflow=\"{}\",status=\"{status}\"}} {n}",
            label(workflow)
        );
    }
    family(
        &mut out,
        "etl_step_duration_seconds",
        "histogram",
        "How long finished steps took, from their first start to their end, by workflow.",
    );
    for (workflow, buckets, count, sum) in &m.step_seconds {
        let w = label(workflow);
        for (le, n) in STEP_SECONDS_BUCKETS.iter().zip(buckets) {
            let _ = writeln!(
                out,
                "etl_step_duration_seconds_bucket{{workflow=\"{w}\",le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "etl_step_duration_seconds_bucket{{workflow=\"{w}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "etl_step_duration_seconds_sum{{workflow=\"{w}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "etl_step_duration_seconds_count{{workflow=\"{w}\"}} {count}"
        );
    }
    family(
        &mut out,
        "etl_queue_depth",
        "gauge",
        "Steps of queued runs waiting for a worker, by workflow.",
    );
    for (workflow, n) in &m.queued {
        let _ = writeln!(
            out,
            "etl_queue_depth{{workflow=\"{}\"}} {n}",
            label(workflow)
        );
    }
    family(
        &mut out,
        "etl_claims_lost_total",
        "counter",
        "Steps of queued runs given back to the queue because their worker died, lost its lease or was stopped, by workflow.",
    );
    for (workflow, n) in &m.lost_claims {
        let _ = writeln!(
            out,
            "etl_claims_lost_total{{workflow=\"{}\"}} {n}",
            label(workflow)
        );
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
