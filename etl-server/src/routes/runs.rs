//! `/api/runs`: the runs of every workflow, by page and filter, and one run
//! with its steps.

use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use etl_dag::StepStatus;
use etl_runs::RunQuery;
use etl_runs::state::time;
use serde::Deserialize;
use utoipa::IntoParams;

use super::App;
use super::error::{ApiError, ApiResult, Path, Query};
use crate::views::{ErrorBody, Run, RunDetail, RunPage, StepRun};
use etl_runs::state::AttemptRecord;

/// The most runs one page holds.
pub const MAX_PAGE: usize = 500;

/// The statuses a run can have, as the document lists them for `status`
/// (the handler reads them in any case).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "UPPERCASE")]
#[allow(dead_code)] // a schema only: `status` is read as text.
pub(crate) enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Which runs to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this workflow's runs.
    workflow: Option<String>,
    /// Only runs with this status (RUNNING, SUCCEEDED, FAILED, CANCELLED).
    #[param(value_type = Option<RunStatus>)]
    status: Option<String>,
    /// Only runs started at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only runs started before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// The page after this run: the `next` of the previous page.
    after: Option<String>,
    /// The most runs in the page (1 to 500; default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

fn when(name: &str, text: Option<&str>) -> ApiResult<Option<SystemTime>> {
    text.map(|t| {
        time::from_text(t).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{name}` {t:?} is not a time: give RFC 3339 in UTC, such as 2026-12-01T08:00:00Z"
            ))
        })
    })
    .transpose()
}

/// Runs of every workflow, or of one, newest first, a page at a time.
#[utoipa::path(get, path = "/api/runs", tag = "runs", params(ListQuery),
    responses((status = 200, body = RunPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`after` names no run")))]
pub(crate) async fn list(
    State(app): State<App>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<RunPage>> {
    // A blank workflow or cursor is none, as a form sends one left blank;
    // a status or a time, which the document types, must be one.
    let given = |v: Option<String>| v.filter(|v| !v.is_empty());
    let q = ListQuery {
        workflow: given(q.workflow),
        after: given(q.after),
        ..q
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` is {limit}: a page holds 1 to {MAX_PAGE} runs"
        )));
    }
    let mut query = RunQuery::default().limit(limit).started(
        when("since", q.since.as_deref())?,
        when("until", q.until.as_deref())?,
    );
    if let Some(workflow) = q.workflow {
        query = query.workflow(workflow);
    }
    if let Some(status) = q.status.as_deref() {
        let parsed = StepStatus::parse(&status.to_ascii_uppercase()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`status` {status:?} is not a status: RUNNING, SUCCEEDED, FAILED or CANCELLED"
            ))
        })?;
        query = query.status(parsed);
    }
    if let Some(after) = &q.after {
        query = query.after(after);
    }
    let runs = app.store.list_runs(&query).await.map_err(|e| match e {
        // The run the cursor names is not there (as `GET /api/runs/{id}`).
        etl_runs::Error::UnknownRun { run_id, .. } => ApiError::not_found(format!(
            "`after` names no run ({run_id:?}): give the `next` of the page before"
        )),
        other => other.into(),
    })?;
    let next = (runs.len() == limit)
        .then(|| runs.last().map(|r| r.run_id.clone()))
        .flatten();
    Ok(Json(RunPage {
        runs: runs.iter().map(Run::from).collect(),
        next,
    }))
}

/// One run with its steps: status, attempts, rows, times, errors, and where
/// each output was saved.
#[utoipa::path(get, path = "/api/runs/{run_id}", tag = "runs",
    params(("run_id" = String, Path, description = "The run")),
    responses((status = 200, body = RunDetail), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    State(app): State<App>,
    Path(run_id): Path<String>,
) -> ApiResult<Json<RunDetail>> {
    detail(&app, &run_id).await
}

/// Run `run_id`, or a 404 naming it.
async fn found(app: &App, run_id: &str) -> ApiResult<etl_runs::state::RunRecord> {
    app.store
        .run(run_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run {run_id:?}")))
}

async fn detail(app: &App, run_id: &str) -> ApiResult<Json<RunDetail>> {
    let run = found(app, run_id).await?;
    let steps = app.store.steps(run_id).await?;
    let attempts = app.store.attempts(run_id).await?;
    let by_step = AttemptRecord::by_step(&attempts);
    Ok(Json(RunDetail {
        run: Run::from(&run),
        steps: steps
            .iter()
            .map(|s| StepRun::of(s, by_step.get(s.step.as_str()).map_or(&[], Vec::as_slice)))
            .collect(),
    }))
}

/// Stops a running run: its pending steps are cancelled at once, and the
/// processes running the others (workers, a scheduler) stop them within a
/// second. 409 when the run has ended.
#[utoipa::path(post, path = "/api/runs/{run_id}/cancel", tag = "runs",
    params(("run_id" = String, Path, description = "The run")),
    responses((status = 200, body = RunDetail), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn cancel(
    State(app): State<App>,
    Path(run_id): Path<String>,
) -> ApiResult<Json<RunDetail>> {
    app.store
        .cancel_run(&run_id, "cancelled through the API")
        .await?;
    tracing::info!(run_id, "run cancelled");
    detail(&app, &run_id).await
}

/// Queues a run that ended without succeeding again: the steps that did not
/// succeed run again, on the workflow's workers, taking the saved outputs
/// of those that did. 409 while it runs.
#[utoipa::path(post, path = "/api/runs/{run_id}/resume", tag = "runs",
    params(("run_id" = String, Path, description = "The run")),
    responses((status = 200, body = RunDetail), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn resume(
    State(app): State<App>,
    Path(run_id): Path<String>,
) -> ApiResult<Json<RunDetail>> {
    let run = found(&app, &run_id).await?;
    if run.status == StepStatus::Succeeded {
        return Err(ApiError::conflict(format!(
            "run {run_id:?} succeeded: there is nothing to resume"
        )));
    }
    let again: Vec<String> = app
        .store
        .steps(&run_id)
        .await?
        .into_iter()
        .filter(|s| s.status != StepStatus::Succeeded)
        .map(|s| s.step)
        .collect();
    app.store.requeue_run(&run_id, &again).await?;
    tracing::info!(run_id, steps = again.len(), "run queued again");
    detail(&app, &run_id).await
}
