//! The OpenAPI document, derived from the handlers and the types they take
//! and answer; served at [`OPENAPI_PATH`](crate::OPENAPI_PATH).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{runs, workflows};
use crate::views;

#[derive(OpenApi)]
#[openapi(
    info(title = "etl", description = "etl's control plane: workflows, runs and triggers over a state store."),
    paths(
        workflows::list, workflows::show, workflows::enable, workflows::disable, workflows::delete,
        workflows::trigger, crate::routes::hooks::webhook, runs::list, runs::show, runs::cancel, runs::resume,
        crate::routes::metrics::metrics, crate::routes::workers::open, crate::routes::workers::call,
        crate::routes::workers::close,
    ),
    components(schemas(
        views::Workflow, views::Step, views::Param, views::Run, views::StepRun, views::Attempt, views::RunDetail,
        views::RunPage, views::TriggerRequest, views::Deleted, views::ErrorBody, views::ErrorDetail,
        crate::routes::workers::SessionOpened, crate::routes::workers::WorkerCall,
        crate::routes::workers::WorkerAnswer, crate::routes::workers::ClaimWire,
        crate::routes::workers::EventWire, crate::routes::workers::StepWire,
        crate::routes::runs::RunStatus,
    )),
    modifiers(&Token, &Layers, &Closed),
    tags((name = "workflows", description = "Registered workflows"), (name = "runs", description = "Runs and their steps"), (name = "metrics", description = "The store's counts, for Prometheus"), (name = "workers", description = "Workers that reach the store through the server")),
)]
struct ApiDoc;

/// Mutations take the server's token as a bearer token.
struct Token;

impl Modify for Token {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "worker_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The server's worker token (ETL_WORKER_TOKEN), or its own token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "webhook_secret",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The workflow's webhook secret, or an X-Etl-Signature HMAC of the body with it",
                    ))
                    .build(),
            ),
        );
    }
}

/// The answers the layers in front of every route give (see
/// [`routes::router`](crate::routes)), added to each operation that lacks
/// them, so that the document says everything the server does: a host it
/// does not answer to (421), a NUL in the path or query (400), the store
/// unavailable or the timeout (503) anywhere; a missing or wrong token (401)
/// and a cross-site request (403) on every guarded mutation; a body that is
/// not JSON (415), does not parse or fit (400) or is too large (413)
/// wherever one is taken.
struct Layers;

impl Modify for Layers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Ref, RefOr, Response};
        let error = |description: &str| -> RefOr<Response> {
            let mut response = Response::new(description);
            response.content.insert(
                "application/json".into(),
                utoipa::openapi::Content::new(Some(Ref::from_schema_name("ErrorBody"))).into(),
            );
            RefOr::T(response)
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let worker = path.starts_with("/api/workers");
            let operations = [
                (&mut item.get, false),
                (&mut item.head, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
                (&mut item.delete, true),
            ];
            for (operation, mutates) in operations {
                let Some(operation) = operation.as_mut() else {
                    continue;
                };
                let guarded = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let takes_body = operation.request_body.is_some();
                let mut add = |status: &str, description: &str, when: bool| {
                    if when && !operation.responses.responses.contains_key(status) {
                        operation
                            .responses
                            .responses
                            .insert(status.into(), error(description));
                    }
                };
                add(
                    "421",
                    "The request names a host the server does not answer to",
                    true,
                );
                add(
                    "400",
                    "A bad request: a value that does not parse, a NUL in the path or query",
                    true,
                );
                add(
                    "503",
                    "The state store could not be reached, or the request took longer than the timeout",
                    true,
                );
                add(
                    "401",
                    "No token, or not the one the route takes (`Authorization: Bearer <token>`)",
                    mutates,
                );
                add("403", "A mutation from another site", mutates && guarded);
                add("413", "The body is larger than the limit", takes_body);
                add("415", "The body is not sent as JSON", takes_body);
                add(
                    "404",
                    "This server takes no workers, or no such session (it ended or fell silent)",
                    worker,
                );
            }
        }
    }
}

/// The bodies whose every variant the server reads strictly (serde's
/// `deny_unknown_fields` on an enum, which the derived schema does not
/// carry into its variants): each variant refuses properties it does not
/// name, as the server does.
struct Closed;

impl Modify for Closed {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in ["WorkerCall"] {
            let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(name) else {
                continue;
            };
            for item in &mut one_of.items {
                if let RefOr::T(Schema::Object(object)) = item {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

/// The document, with this build's version.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The document as served: [`openapi`], with, for each registered workflow,
/// its own `POST /api/workflows/{its name}/runs` (the name percent-encoded)
/// whose body names exactly the parameters it declares, each a text of its
/// type, in place of the templated trigger path (which stays only while no
/// workflow is registered: any name is then not found). A caller, or a tool
/// that generates requests from the document, knows which parameters a run
/// takes.
pub(crate) async fn document(
    axum::extract::State(app): axum::extract::State<crate::routes::App>,
) -> crate::routes::error::ApiResult<Json<serde_json::Value>> {
    let mut doc = serde_json::to_value(openapi()).map_err(|e| {
        crate::routes::error::ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("the OpenAPI document: {e}"),
        )
    })?;
    no_nul(&mut doc);
    let workflows = app.store.workflows().await?;
    for workflow in &workflows {
        add_trigger(&mut doc, &workflow.info);
    }
    // The templated trigger path is then for names no workflow has, which
    // are not found: the paths of the registered ones say what a run takes.
    if !workflows.is_empty()
        && let Some(serde_json::Value::Object(paths)) = doc.get_mut("paths")
    {
        paths.remove("/api/workflows/{name}/runs");
    }
    Ok(Json(doc))
}

/// No text the server takes may hold a NUL (see `routes::error::no_nul`):
/// every text schema says so with a pattern, and every object of its
/// property names, so that the document refuses what the server refuses.
fn no_nul(node: &mut serde_json::Value) {
    use serde_json::{Value, json};
    const NO_NUL: &str = "^[^\\u0000]*$";
    match node {
        Value::Object(map) => {
            let is = |kind: &str| match map.get("type") {
                Some(Value::String(t)) => t == kind,
                Some(Value::Array(ts)) => ts.iter().any(|t| t == kind),
                _ => false,
            };
            let text = is("string")
                && !map.contains_key("pattern")
                && !map.contains_key("enum")
                && !map.contains_key("format");
            let object = (is("object") || map.contains_key("properties"))
                && map.get("additionalProperties") != Some(&Value::Bool(false));
            if text {
                map.insert("pattern".into(), json!(NO_NUL));
            }
            if object && !map.contains_key("propertyNames") {
                map.insert("propertyNames".into(), json!({ "pattern": NO_NUL }));
            }
            for value in map.values_mut() {
                no_nul(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(no_nul),
        _ => {}
    }
}

/// A path segment: `name` with every byte but letters, digits and `-._~`
/// percent-encoded (no `{`, `}` or `/` a path template could misread).
fn segment(name: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(name, UNRESERVED).to_string()
}

/// Adds workflow `info`'s own trigger path to `doc`, from the templated one.
fn add_trigger(doc: &mut serde_json::Value, info: &etl_runs::registry::WorkflowInfo) {
    use serde_json::{Value, json};
    let Some(mut operation) = doc
        .pointer("/paths/~1api~1workflows~1{name}~1runs/post")
        .cloned()
    else {
        return;
    };
    if let Some(Value::Array(parameters)) = operation.get_mut("parameters") {
        parameters.retain(|p| p["name"] != "name");
    }
    operation["operationId"] = json!(format!("trigger_{}", segment(&info.name)));
    let mut properties = serde_json::Map::new();
    for param in &info.params {
        let pattern = match param.kind {
            etl_dag::ParamType::Int => "^-?[0-9]{1,18}$",
            etl_dag::ParamType::Bool => "^(true|false)$",
            // Every day that exists in every month.
            etl_dag::ParamType::Date => "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$",
            _ => "^[^\\u0000]*$",
        };
        properties.insert(
            param.name.clone(),
            json!({"type": "string", "maxLength": etl_runs::registry::MAX_PARAM_VALUE, "pattern": pattern,
                   "description": format!("{} ({})", param.kind.described(), param.kind.name())}),
        );
    }
    let required: Vec<&str> = info
        .params
        .iter()
        .filter(|p| p.default.is_none())
        .map(|p| p.name.as_str())
        .collect();
    let mut params =
        json!({"type": "object", "additionalProperties": false, "properties": properties});
    if !required.is_empty() {
        params["required"] = json!(required);
    }
    let mut body =
        json!({"type": "object", "additionalProperties": false, "properties": {"params": params}});
    if !required.is_empty() {
        body["required"] = json!(["params"]);
    }
    operation["requestBody"]["content"]["application/json"]["schema"] = body;
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        paths.insert(
            format!("/api/workflows/{}/runs", segment(&info.name)),
            json!({ "post": operation }),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every operation of the document, as JSON: (method, path, operation).
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                out.push((method.clone(), path.clone(), operation.clone()));
            }
        }
        out
    }

    #[test]
    fn the_document_says_every_answer_and_bound_the_server_gives() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        for (method, path, operation) in operations(&doc) {
            let answers = operation["responses"].as_object().unwrap();
            let has = |status: &str| answers.contains_key(status);
            assert!(has("421") && has("400") && has("503"), "{method} {path}");
            if method != "get" {
                assert!(has("401"), "{method} {path}");
            }
            if operation.get("requestBody").is_some() {
                assert!(has("413") && has("415"), "{method} {path}");
            }
            if path.starts_with("/api/workers") {
                assert!(
                    has("401") && has("404"),
                    "{method} {path}: a token, and a server that takes workers"
                );
            }
        }
        let limit = doc["paths"]["/api/runs"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap()
            .clone();
        assert_eq!(
            (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
            (&Value::from(1), &Value::from(500)),
            "{limit}"
        );
        for time in ["since", "until"] {
            let param = doc["paths"]["/api/runs"]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == time)
                .unwrap();
            assert_eq!(param["schema"]["format"], "date-time", "{param}");
        }
        let status = doc["paths"]["/api/runs"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "status")
            .unwrap()
            .clone();
        assert_eq!(
            status["schema"]["$ref"], "#/components/schemas/RunStatus",
            "{status}"
        );
        let statuses = &doc["components"]["schemas"]["RunStatus"]["enum"];
        assert_eq!(
            statuses,
            &serde_json::json!(["RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"])
        );
        for call in doc["components"]["schemas"]["WorkerCall"]["oneOf"]
            .as_array()
            .unwrap()
        {
            assert_eq!(call["additionalProperties"], Value::Bool(false), "{call}");
        }
        let trigger = &doc["components"]["schemas"]["TriggerRequest"];
        assert_eq!(
            trigger["additionalProperties"],
            Value::Bool(false),
            "{trigger}"
        );
    }
}
