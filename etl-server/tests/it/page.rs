//! The page in a real headless Chromium: names from a hostile workflow show
//! as text, the page loads nothing from elsewhere, and it fits a phone.

use std::sync::Arc;
use std::time::Duration;

use etl_dag::{Dag, Step, StepContext, StepInputs};
use etl_runs::StateStore;
use etl_runs::registry::WorkflowInfo;
use etl_runs::state::{RunStart, SqliteStore, Trigger};
use etl_server::{Auth, Server};
use etl_testing::browser::{Browser, artifacts_dir};

use crate::api::{TOKEN, serve};

const NAME: &str = "<script>window.pwned=1</script>";
const STEP: &str = "<img src=x onerror=\"window.pwned=2\">";
const ERROR: &str = "<b>not bold</b> & \"quoted\"";

fn hostile() -> Dag {
    let ok = |_: StepContext, _: StepInputs| async { Ok::<_, etl_dag::Error>(()) };
    Dag::builder(NAME)
        .step(Step::new("first", ok))
        .step(Step::new(STEP, ok).after(["first"]))
        .build()
        .unwrap()
}

/// A fresh SQLite store in a folder of its own, `dag` registered and its
/// run `run-1` begun by this process.
async fn with_run_1(dag: &Dag) -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).unwrap());
    store
        .register_workflow(&WorkflowInfo::of(dag, "1"))
        .await
        .unwrap();
    store
        .begin_run(&RunStart::new("run-1", dag, Trigger::Run))
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_show_as_text_and_the_page_fits_a_phone() {
    let (dir, store) = with_run_1(&hostile()).await;
    store.fail_step("run-1", STEP, ERROR).await.unwrap();
    store.fail_unfinished("the test ended it").await.unwrap();
    let api = serve(
        Server::new(store.clone(), Auth::Token(TOKEN.into())),
        store,
        dir,
    )
    .await;

    // What the page's answers allow.
    let response = reqwest::get(api.url("/")).await.unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");

    let browser = Browser::start(1280, 900).await;
    browser.goto(&api.url("/")).await;
    let row = browser.wait("tr.workflow", Duration::from_secs(20)).await;
    let cell = browser
        .text(&browser.all("tr.workflow td a").await[0])
        .await;
    assert_eq!(cell, NAME, "the name shows as text");
    assert_eq!(
        browser.attribute(&row, "data-workflow").await.as_deref(),
        Some(NAME)
    );
    browser.goto(&api.url("/#/runs/run-1")).await;
    let error = browser
        .wait(
            "tr.step[data-status=FAILED] pre.step-error",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(browser.text(&error).await, ERROR);
    let step = browser.all("tr.step td").await;
    let names: Vec<String> = futures::future::join_all(step.iter().map(|c| browser.text(c))).await;
    assert!(names.iter().any(|n| n == STEP), "{names:?}");
    browser
        .until(
            "the graph drawn with the failed step",
            &format!("return [...document.querySelectorAll('g.node')].some(g => g.dataset.step === {} && g.dataset.status === 'FAILED')", serde_json::to_string(STEP).unwrap()),
            Duration::from_secs(10),
        )
        .await;
    let injected = browser
        .script("return [window.pwned === undefined, document.querySelectorAll('img').length, document.querySelectorAll('script').length, document.querySelectorAll('b').length]")
        .await;
    assert_eq!(
        injected,
        serde_json::json!([true, 0, 1, 0]),
        "nothing the names carry ran or rendered"
    );

    // On a phone: nothing wider than the screen.
    browser.resize(390, 844).await;
    browser.goto(&api.url("/#/")).await;
    browser.wait("tr.workflow", Duration::from_secs(20)).await;
    let fits = browser
        .script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    browser
        .screenshot(&artifacts_dir().join("server-page-phone.png"))
        .await;
    assert_eq!(
        fits,
        serde_json::Value::Bool(true),
        "the page scrolls sideways on a phone"
    );
}

/// A run started with the page's form for the declared parameters (the
/// defaults filled in), then stopped with the Cancel button: its worker
/// stops the step, and the page, refreshing by itself, shows the run
/// CANCELLED and Resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_starts_a_run_with_params_and_the_cancel_button_stops_it() {
    let api = crate::api::token_api().await;
    let (stop, task) = crate::api::worker(&api);
    let wait = Duration::from_secs(30);
    let browser = Browser::start(1280, 900).await;
    browser.goto(&api.url("/")).await;
    browser
        .type_into(&browser.wait("#token", wait).await, TOKEN)
        .await;
    browser.press("#token-save", wait).await;
    browser
        .press("button.trigger[data-workflow=sales]", wait)
        .await;
    let region = browser
        .wait("form.params[data-workflow=sales] input[name=region]", wait)
        .await;
    assert_eq!(
        browser.attribute(&region, "value").await.as_deref(),
        Some("eu"),
        "the default filled in"
    );
    let day = browser
        .wait("form.params[data-workflow=sales] input[name=day]", wait)
        .await;
    browser.type_into(&day, "hang-always").await;
    browser
        .press("form.params[data-workflow=sales] button[type=submit]", wait)
        .await;
    browser
        .until(
            "the run's page",
            "return location.hash.startsWith('#/runs/')",
            wait,
        )
        .await;
    let hash = browser
        .script("return decodeURIComponent(location.hash.slice(7))")
        .await;
    let run_id = hash.as_str().unwrap().to_owned();
    let run = api.store.run(&run_id).await.unwrap().unwrap();
    assert_eq!(
        run.params.get("day").map(String::as_str),
        Some("hang-always")
    );
    assert_eq!(run.params.get("region").map(String::as_str), Some("eu"));
    assert_eq!(run.started_by.as_deref(), Some("page"));
    crate::api::until(&api, &run_id, "extract running", |d| {
        d["steps"][0]["status"] == "RUNNING"
    })
    .await;
    // A running step says how long it has run so far.
    browser
        .until(
            "the running step's time so far",
            "return [...document.querySelectorAll('tr.step[data-status=RUNNING] .elapsed')].some(e => /^\\d+ s so far$/.test(e.textContent))",
            wait,
        )
        .await;
    browser.press("button.cancel", wait).await;
    browser
        .until(
            "the run shown cancelled, with Resume",
            "const s = document.querySelector('.summary .status'); return !!s && s.dataset.status === 'CANCELLED' && !!document.querySelector('button.resume')",
            wait,
        )
        .await;
    let detail = crate::api::until(&api, &run_id, "cancelled", |d| {
        d["run"]["status"] == "CANCELLED"
    })
    .await;
    assert_eq!(detail["steps"][0]["status"], "CANCELLED");
    stop.cancel();
    task.await.unwrap();
}

/// What the page says, at any width: no stray `null`, a notice that goes
/// with its view, SKIPPED and CANCELLED told apart, a cut step name readable
/// whole, and on a phone no badge or header broken inside a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_what_it_means_at_any_width() {
    const LONG: &str = "a_step_whose_name_is_far_too_long_for_its_box";
    let ok = |_: StepContext, _: StepInputs| async { Ok::<_, etl_dag::Error>(()) };
    let dag = Dag::builder("pair")
        .step(Step::new("first", ok))
        .step(Step::new(LONG, ok).after(["first"]))
        .step(Step::new("third", ok))
        .build()
        .unwrap();
    let (dir, store) = with_run_1(&dag).await;
    store
        .skip_steps(
            "run-1",
            &[LONG.to_owned()],
            "not run: step \"first\" failed",
        )
        .await
        .unwrap();
    // The others, still PENDING, are CANCELLED when the run is ended.
    store.fail_unfinished("the test ended it").await.unwrap();
    let api = serve(
        Server::new(store.clone(), Auth::Token(TOKEN.into())),
        store,
        dir,
    )
    .await;
    let wait = Duration::from_secs(20);
    let browser = Browser::start(1280, 900).await;
    let stray_null = "return [...document.querySelector('main').childNodes].some(n => n.nodeType === 3 && n.textContent.trim() === 'null')";

    // The runs, and none: no literal null under either.
    browser.goto(&api.url("/#/runs")).await;
    browser.wait("tr.run", wait).await;
    assert_eq!(browser.script(stray_null).await, serde_json::json!(false));
    browser.goto(&api.url("/#/runs?status=SUCCEEDED")).await;
    browser
        .until(
            "No run.",
            "return document.querySelector('main').innerText.includes('No run.')",
            wait,
        )
        .await;
    assert_eq!(browser.script(stray_null).await, serde_json::json!(false));

    // A notice goes with its view.
    browser.goto(&api.url("/#/runs/no-such-run")).await;
    browser
        .until(
            "the notice",
            "return !document.getElementById('notice').hidden",
            wait,
        )
        .await;
    browser
        .script("location.hash = '#/runs'; return null")
        .await;
    browser.wait("tr.run", wait).await;
    assert_eq!(
        browser
            .script("return document.getElementById('notice').hidden")
            .await,
        serde_json::json!(true),
        "the notice of the view before is gone"
    );

    // SKIPPED and CANCELLED in colours of their own; a cut name in a tooltip.
    browser.goto(&api.url("/#/runs/run-1")).await;
    browser.wait("g.node", wait).await;
    let colours = browser
        .script("const c = s => getComputedStyle(document.querySelector(`tr.step .status[data-status=${s}]`)).backgroundColor; return [c('SKIPPED'), c('CANCELLED')]")
        .await;
    assert_ne!(colours[0], colours[1], "{colours}");
    let shown = browser
        .script(&format!("const g = [...document.querySelectorAll('g.node')].find(g => g.dataset.step === {LONG:?}); return [g.querySelector('text').textContent, g.querySelector('title').textContent]"))
        .await;
    assert!(shown[0].as_str().unwrap().ends_with('…'), "{shown}");
    assert!(shown[1].as_str().unwrap().starts_with(LONG), "{shown}");

    // On a phone: each badge and one-word header on one line.
    browser.resize(390, 844).await;
    for view in ["/#/runs/run-1", "/#/runs"] {
        browser.goto(&api.url(view)).await;
        browser.wait(".status", wait).await;
        let broken = browser
            .script("const lines = e => { const r = document.createRange(); r.selectNodeContents(e); return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }; return [...document.querySelectorAll('main .status, main th')].filter(e => !e.textContent.includes(' ') && lines(e) > 1).map(e => e.textContent)")
            .await;
        assert_eq!(
            broken,
            serde_json::json!([]),
            "{view}: broken inside a word"
        );
    }
    browser
        .screenshot(&artifacts_dir().join("server-page-phone-run.png"))
        .await;
}
