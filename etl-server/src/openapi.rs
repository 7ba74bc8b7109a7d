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
        views::Workflow, views::Step, views::Param, views::Run, views::StepRun, views::RunDetail,
        views::RunPage, views::TriggerRequest, views::Deleted, views::ErrorBody, views::ErrorDetail,
        crate::routes::workers::SessionOpened, crate::routes::workers::WorkerCall,
        crate::routes::workers::WorkerAnswer, crate::routes::workers::ClaimWire,
        crate::routes::workers::EventWire, crate::routes::workers::StepWire,
    )),
    modifiers(&Token),
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

/// The document, with this build's version.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}
