//! The OpenAPI document against the server it describes: schemathesis
//! generates requests from the document (valid ones and invalid ones, one
//! operation at a time and in sequences that follow its links) and checks
//! every answer against it: a status the document does not list, a body
//! that does not fit its schema, a valid request refused, an invalid one
//! accepted, a server error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use etl_dag::{Dag, ParamType, Step, StepContext, StepInputs};
use etl_runs::StateStore;
use etl_runs::registry::WorkflowInfo;
use etl_server::{Auth, Server};

use crate::api::{TOKEN, serve};

/// schemathesis's `st`: `ETL_TEST_SCHEMATHESIS`, or the virtualenv that
/// `.ci/test` installs it in. Panics, saying how to get it.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("ETL_TEST_SCHEMATHESIS") {
        return path.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    let st = PathBuf::from(home).join(".cache/etl-schemathesis-venv/bin/st");
    assert!(
        st.is_file(),
        "schemathesis is needed and {} is missing: run .ci/test, which installs it, or \
         python3 -m venv ~/.cache/etl-schemathesis-venv && \
         ~/.cache/etl-schemathesis-venv/bin/pip install 'schemathesis>=4.32,<5' \
         (or set ETL_TEST_SCHEMATHESIS to an `st`)",
        st.display()
    );
    st
}

fn step(name: &str) -> Step {
    Step::new(name, |_: StepContext, _: StepInputs| async move {
        Ok::<_, etl_dag::BoxError>(())
    })
}

/// A workflow with a parameter of every type, one with none.
fn workflows() -> [Dag; 2] {
    [
        Dag::builder("typed")
            .typed_param("limit", ParamType::Int, None)
            .typed_param("full", ParamType::Bool, Some("false"))
            .typed_param("day", ParamType::Date, Some("2026-12-01"))
            .param("label", Some("nightly"))
            .step(step("only"))
            .build()
            .unwrap(),
        Dag::builder("plain")
            .step(step("a"))
            .step(step("b").after(["a"]))
            .build()
            .unwrap(),
    ]
}

/// Opens a new handle on the store at `location` (a worker session's).
fn opener(location: String, outputs: PathBuf) -> etl_server::OpenStore {
    Arc::new(move || {
        let (location, outputs) = (location.clone(), outputs.clone());
        Box::pin(async move { Ok(Arc::from(etl_runs::open(&location, &outputs).await?)) })
    })
}

/// schemathesis over a server on the store at `location`, which takes
/// workers (through its own token: one header for every request).
async fn schemathesis_over(location: String) {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    let store: Arc<dyn StateStore> = Arc::from(etl_runs::open(&location, &outputs).await.unwrap());
    for dag in workflows() {
        store
            .register_workflow(&WorkflowInfo::of(&dag, "1"))
            .await
            .unwrap();
    }
    let workers = etl_server::Workers::new(opener(location, outputs)).idle(Duration::from_secs(60));
    let api = serve(
        Server::new(store.clone(), Auth::Token(TOKEN.into())).workers(workers),
        store,
        dir,
    )
    .await;
    // Some history for the reads and the links to find.
    for name in ["typed", "plain"] {
        let params = if name == "typed" {
            serde_json::json!({"params": {"limit": "5"}})
        } else {
            serde_json::json!({})
        };
        let (status, body) = api
            .post(&format!("/api/workflows/{name}/runs"), params)
            .await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    }
    let document = api.url("/api/openapi.json");
    let reports = api.dir.path().join("schemathesis");
    // Its own cache (.schemathesis/) goes to the test's folder, not the checkout.
    let cwd = api.dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&st)
            .current_dir(&cwd)
            .args(["run", &document, "--checks", "all"])
            .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
            .args(["--max-examples", "60", "--seed", "20261207"])
            .args(["--workers", "1", "--request-timeout", "30"])
            .args(["--warnings", "off", "--no-color"])
            .arg("--report-dir")
            .arg(&reports)
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", st.display()))
    })
    .await
    .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found failures:\n{said}");
    // It did test: every operation, and in sequences.
    assert!(said.contains("Tested: "), "{said}");
    assert!(said.contains("Stateful"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_server_on_sqlite_doing_what_its_document_says() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("state.sqlite").display().to_string();
    schemathesis_over(location).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_server_on_postgres_doing_what_its_document_says() {
    schemathesis_over(etl_testing::postgres::shared().database().await).await;
}
