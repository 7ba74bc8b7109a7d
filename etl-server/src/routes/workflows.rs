//! `/api/workflows`: the registered workflows, switched on and off, deleted,
//! and their runs started by hand.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use etl_runs::registry::WorkflowRecord;
use etl_runs::state::Trigger;
use serde::Deserialize;
use utoipa::IntoParams;

use super::App;
use super::error::{ApiError, ApiResult, Body, Path, Query};
use crate::views::{Deleted, ErrorBody, Run, TriggerRequest, Workflow};

/// Workflow `name`, or a 404 naming it.
pub(crate) async fn registered(app: &App, name: &str) -> ApiResult<WorkflowRecord> {
    app.store
        .workflow(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no workflow {name:?} is registered")))
}

/// Every registered workflow, by name.
#[utoipa::path(get, path = "/api/workflows", tag = "workflows",
    responses((status = 200, body = [Workflow])))]
pub(crate) async fn list(State(app): State<App>) -> ApiResult<Json<Vec<Workflow>>> {
    let mut views = Vec::new();
    for workflow in app.store.workflows().await? {
        views.push(view(&app, &workflow).await?);
    }
    Ok(Json(views))
}

/// `workflow` with its latest run.
async fn view(app: &App, workflow: &WorkflowRecord) -> ApiResult<Workflow> {
    let mut view = Workflow::from(workflow);
    view.last_run = app
        .store
        .runs(&workflow.info.name, 1)
        .await?
        .first()
        .map(Run::from);
    Ok(view)
}

/// One workflow: its steps and graph, parameters, schedule, and whether it
/// is enabled.
#[utoipa::path(get, path = "/api/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "The workflow")),
    responses((status = 200, body = Workflow), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Json<Workflow>> {
    Ok(Json(view(&app, &registered(&app, &name).await?).await?))
}

async fn switch(app: &App, name: &str, enabled: bool) -> ApiResult<Json<Workflow>> {
    app.store.set_enabled(name, enabled).await?;
    tracing::info!(workflow = name, enabled, "workflow switched");
    Ok(Json(view(app, &registered(app, name).await?).await?))
}

/// Enables a workflow: its schedule and triggers start runs again.
#[utoipa::path(post, path = "/api/workflows/{name}/enable", tag = "workflows",
    params(("name" = String, Path, description = "The workflow")),
    responses((status = 200, body = Workflow), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn enable(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Json<Workflow>> {
    switch(&app, &name, true).await
}

/// Disables a workflow: no new run starts (the schedule skips its ticks,
/// triggers are refused); its history is kept.
#[utoipa::path(post, path = "/api/workflows/{name}/disable", tag = "workflows",
    params(("name" = String, Path, description = "The workflow")),
    responses((status = 200, body = Workflow), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn disable(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Json<Workflow>> {
    switch(&app, &name, false).await
}

/// How a workflow is deleted.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    /// Delete even while a run of it is running (the run's workers find
    /// their records gone).
    #[serde(default)]
    force: bool,
}

/// Deletes a workflow and its whole history; refused (409) while a run of
/// it is running, unless `force`.
#[utoipa::path(delete, path = "/api/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "The workflow"), DeleteQuery),
    responses((status = 200, body = Deleted), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn delete(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> ApiResult<Json<Deleted>> {
    let runs = app.store.delete_workflow(&name, query.force).await?;
    tracing::info!(
        workflow = name,
        runs,
        force = query.force,
        "workflow deleted"
    );
    Ok(Json(Deleted {
        workflow: name,
        runs,
    }))
}

/// Starts a run by hand (`started_by` `page` when the page sends
/// `X-Etl-Client: page`, else `api`): queued for the workflow's workers, with the
/// parameters given (checked against those the workflow declares; the
/// defaults of the others filled in). Refused (409) while the workflow is
/// disabled.
#[utoipa::path(post, path = "/api/workflows/{name}/runs", tag = "runs",
    params(("name" = String, Path, description = "The workflow")),
    request_body = TriggerRequest,
    responses((status = 201, body = Run), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("token" = [])))]
pub(crate) async fn trigger(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    body: Result<Body<TriggerRequest>, ApiError>,
) -> ApiResult<(StatusCode, Json<Run>)> {
    // The page says it is the page; anything else is the API.
    let by = match headers.get("x-etl-client").and_then(|v| v.to_str().ok()) {
        Some("page") => "page",
        _ => "api",
    };
    // An unknown workflow is not found whatever the body holds.
    let workflow = registered(&app, &name).await?;
    let Body(request) = body?;
    if !workflow.enabled {
        return Err(ApiError::conflict(format!(
            "workflow {name:?} is disabled: enable it to start runs"
        )));
    }
    let params = workflow.info.check_params(&request.params)?;
    let run_id = etl_dag::new_run_id();
    let run = workflow
        .info
        .run_start(&run_id, Trigger::Queue, params)
        .started_by(by);
    app.store.enqueue_run(&run).await?;
    tracing::info!(workflow = name, run_id, "run queued");
    let run = app.store.run(&run_id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the queued run vanished")
    })?;
    Ok((StatusCode::CREATED, Json(Run::from(&run))))
}
