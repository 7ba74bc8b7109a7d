use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// Rows of numbers: a serde type that counts its rows, as tables do.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Numbers(Vec<i64>);

impl RowCount for Numbers {
    fn row_count(&self) -> u64 {
        self.0.len() as u64
    }
}

fn numbers_hooks() -> OutputHooks {
    OutputHooks::json::<Numbers>().counted::<Numbers>()
}

type Intervals = Arc<Mutex<Vec<(String, Instant, Instant)>>>;

/// A step that sleeps `ms` and records when it ran.
fn sleeper(name: &str, ms: u64, log: &Intervals) -> Step {
    let log = log.clone();
    let label = name.to_string();
    Step::new(name, move |_cx: StepContext, _in: StepInputs| {
        let log = log.clone();
        let label = label.clone();
        async move {
            let start = Instant::now();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            log.lock().unwrap().push((label, start, Instant::now()));
            Ok::<_, Error>(ms)
        }
    })
}

fn ok_step(name: &str) -> Step {
    Step::new(name, |_cx: StepContext, _in: StepInputs| async {
        Ok::<_, Error>(())
    })
}

fn failing(name: &str) -> Step {
    Step::new(name, |_cx: StepContext, _in: StepInputs| async {
        Err::<(), _>("the source is down".to_string())
    })
}

fn interval(log: &Intervals, name: &str) -> (Instant, Instant) {
    let log = log.lock().unwrap();
    let (_, a, b) = log.iter().find(|(n, _, _)| n == name).unwrap();
    (*a, *b)
}

fn status(report: &RunReport, step: &str) -> StepStatus {
    report.step(step).unwrap().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_steps_overlap_and_dependents_wait() {
    let log = Intervals::default();
    let dag = Dag::builder("overlap")
        .step(sleeper("a", 200, &log))
        .step(sleeper("b", 200, &log))
        .step(sleeper("c", 10, &log).after(["a", "b"]))
        .build()
        .unwrap();
    let started = Instant::now();
    let report = dag.run().await;
    let elapsed = started.elapsed();
    assert!(report.succeeded(), "{report}");
    let (a, b, c) = (
        interval(&log, "a"),
        interval(&log, "b"),
        interval(&log, "c"),
    );
    assert!(a.0 < b.1 && b.0 < a.1, "a and b ran at the same time");
    assert!(c.0 >= a.1 && c.0 >= b.1, "c started after both finished");
    // Generous: sequential would be 410 ms.
    assert!(elapsed < Duration::from_millis(380), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_parallel_one_runs_steps_one_at_a_time() {
    let log = Intervals::default();
    let dag = Dag::builder("serial")
        .max_parallel(1)
        .step(sleeper("a", 50, &log))
        .step(sleeper("b", 50, &log))
        .step(sleeper("c", 50, &log))
        .build()
        .unwrap();
    assert!(dag.run().await.succeeded());
    let mut spans: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(_, a, b)| (*a, *b))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "no overlap with max_parallel(1)");
    }
}

#[tokio::test]
async fn outputs_flow_to_dependents_and_rows_are_counted() {
    let dag = Dag::builder("flow")
        .step(
            Step::new("numbers", |_cx: StepContext, _in: StepInputs| async {
                Ok::<_, Error>(Numbers(vec![1, 2, 3]))
            })
            .output(numbers_hooks()),
        )
        .step(
            Step::new("total", |_cx: StepContext, inputs: StepInputs| async move {
                let numbers = inputs.get::<Numbers>("numbers")?;
                Ok::<_, Error>(numbers.0.len() * 10)
            })
            .inputs(["numbers"]),
        )
        .build()
        .unwrap();
    let report = dag.run().await.into_result().unwrap();
    assert_eq!(report.output::<usize>("total"), Some(&30));
    assert_eq!(report.step("numbers").unwrap().rows, Some(3));
    assert_eq!(report.step("total").unwrap().rows, None);
    let text = report.to_string();
    assert!(text.contains("2 of 2 steps succeeded"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("numbers") && l.contains("SUCCEEDED")),
        "{text}"
    );
}

#[tokio::test]
async fn asking_for_the_wrong_type_names_step_input_and_types() {
    let dag = Dag::builder("types")
        .step(Step::new("a", |_cx: StepContext, _in: StepInputs| async {
            Ok::<_, Error>(1_u32)
        }))
        .step(
            Step::new("b", |_cx: StepContext, inputs: StepInputs| async move {
                let _ = inputs.get::<String>("a")?;
                Ok::<_, Error>(())
            })
            .inputs(["a"]),
        )
        .build()
        .unwrap();
    let report = dag.run().await;
    let error = report.step("b").unwrap().error.clone().unwrap();
    assert!(
        error.contains("step \"b\", input \"a\": it produced a u32, not a alloc::string::String"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_step_is_retried_with_backoff() {
    let tries = Arc::new(AtomicU32::new(0));
    let seen = tries.clone();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let dag = Dag::builder("retry")
        .step(
            Step::new("flaky", move |cx: StepContext, _in: StepInputs| {
                let tries = seen.clone();
                async move {
                    tries.fetch_add(1, Ordering::SeqCst);
                    if cx.attempt() < 3 {
                        Err(format!("attempt {} failed", cx.attempt()))
                    } else {
                        Ok(cx.attempt())
                    }
                }
            })
            .retries(3)
            .backoff(Backoff::Exponential {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(60),
            }),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let report = dag
        .runner()
        .on_event(move |e| log.lock().unwrap().push((e.status, e.attempt)))
        .run()
        .await;
    assert!(report.succeeded(), "{report}");
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    assert_eq!(report.step("flaky").unwrap().attempts, 3);
    assert_eq!(report.output::<u32>("flaky"), Some(&3));
    // Backoffs of 10 s then 20 s, each jittered to between half and all.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited <= Duration::from_secs(30),
        "{waited:?}"
    );
    use StepStatus::*;
    assert_eq!(
        *events.lock().unwrap(),
        [
            (Pending, 0),
            (Running, 1),
            (Retrying, 1),
            (Running, 2),
            (Retrying, 2),
            (Running, 3),
            (Succeeded, 3)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retries_run_out_and_the_error_says_how_many_attempts() {
    let dag = Dag::builder("retry")
        .step(
            failing("down")
                .retries(2)
                .backoff(Backoff::Fixed(Duration::from_secs(1))),
        )
        .build()
        .unwrap();
    let report = dag.run().await;
    let step = report.step("down").unwrap();
    assert_eq!((step.status, step.attempts), (StepStatus::Failed, 3));
    assert_eq!(
        step.error.as_deref(),
        Some("the source is down (after 3 attempts)")
    );
    let err = report.into_result().unwrap_err();
    assert!(matches!(err, Error::StepsFailed { ref failed, .. } if failed[0].0 == "down"));
    assert!(err.to_string().contains("\"down\" FAILED"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_step_over_its_timeout_fails_and_is_stopped() {
    let finished = Arc::new(AtomicU32::new(0));
    let flag = finished.clone();
    let dag = Dag::builder("timeout")
        .step(
            Step::new("slow", move |_cx: StepContext, _in: StepInputs| {
                let flag = flag.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    flag.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(())
                }
            })
            .timeout(Duration::from_secs(2))
            .retries(1)
            .backoff(Backoff::None),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let report = dag.run().await;
    let step = report.step("slow").unwrap();
    assert_eq!((step.status, step.attempts), (StepStatus::Failed, 2));
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .starts_with("timed out after 2s"),
        "{step:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    tokio::time::sleep(Duration::from_secs(1200)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "timed-out attempts were stopped"
    );
}

#[tokio::test]
async fn a_failed_step_skips_its_dependents_and_independent_branches_finish() {
    let dag = Dag::builder("skip")
        .step(failing("extract"))
        .step(ok_step("transform").after(["extract"]))
        .step(ok_step("load").after(["transform"]))
        .step(ok_step("other"))
        .build()
        .unwrap();
    let report = dag.run().await;
    assert_eq!(status(&report, "extract"), StepStatus::Failed);
    assert_eq!(status(&report, "transform"), StepStatus::Skipped);
    assert_eq!(status(&report, "load"), StepStatus::Skipped);
    assert_eq!(status(&report, "other"), StepStatus::Succeeded);
    assert_eq!(
        report.step("load").unwrap().error.as_deref(),
        Some("step \"extract\" failed")
    );
    assert_eq!(report.step("load").unwrap().attempts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_cancels_what_is_running_and_what_is_pending() {
    let log = Intervals::default();
    let dag = Dag::builder("fail-fast")
        .fail_fast(true)
        .step(sleeper("long", 5_000, &log))
        .step(Step::new(
            "bad",
            |_cx: StepContext, _in: StepInputs| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err::<(), _>("broken")
            },
        ))
        .step(ok_step("later").after(["long"]))
        .build()
        .unwrap();
    let started = Instant::now();
    let report = dag.run().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the long step was stopped"
    );
    assert_eq!(status(&report, "bad"), StepStatus::Failed);
    assert_eq!(status(&report, "long"), StepStatus::Cancelled);
    assert_eq!(status(&report, "later"), StepStatus::Cancelled);
    assert!(
        report
            .step("later")
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("fail-fast"),
        "{report}"
    );
    assert!(
        log.lock().unwrap().is_empty(),
        "the long step never finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_running_steps_and_marks_the_rest() {
    let log = Intervals::default();
    let saw_token = Arc::new(AtomicU32::new(0));
    let saw = saw_token.clone();
    let dag = Dag::builder("cancel")
        .step(Step::new(
            "watch",
            move |cx: StepContext, _in: StepInputs| {
                let saw = saw.clone();
                async move {
                    cx.cancellation().cancelled().await;
                    saw.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(())
                }
            },
        ))
        .step(sleeper("long", 10_000, &log))
        .step(ok_step("after").after(["long"]))
        .build()
        .unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let report = dag.runner().cancel_token(cancel).run().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    for step in ["watch", "long", "after"] {
        assert_eq!(status(&report, step), StepStatus::Cancelled, "{report}");
    }
    assert_eq!(report.step("after").unwrap().attempts, 0);
    assert!(log.lock().unwrap().is_empty());
    assert!(!report.succeeded());
}

#[cfg(unix)]
#[tokio::test(flavor = "current_thread")]
async fn ctrl_c_cancels_a_run_that_listens_for_it() {
    // Installed first, so that SIGINT can never end the test process even if
    // the runner's own listener were not yet in place.
    let mut sigint =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).unwrap();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Arc::new(Mutex::new(Some(started_tx)));
    let dag = Dag::builder("ctrl_c")
        .step(Step::new(
            "wait",
            move |_cx: StepContext, _in: StepInputs| {
                let started = started.lock().unwrap().take();
                async move {
                    if let Some(started) = started {
                        let _ = started.send(());
                    }
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<_, Error>(())
                }
            },
        ))
        .step(ok_step("next").after(["wait"]))
        .build()
        .unwrap();
    // On this one thread, tasks run in the order they were spawned: the
    // runner's Ctrl-C listener is listening before the step starts.
    let run = tokio::spawn(async move { dag.runner().cancel_on_ctrl_c().run().await });
    started_rx.await.unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    sigint.recv().await;
    let report = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("Ctrl-C ended the run")
        .unwrap();
    assert_eq!(status(&report, "wait"), StepStatus::Cancelled, "{report}");
    assert_eq!(status(&report, "next"), StepStatus::Cancelled, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_run_stops_its_running_steps() {
    // The step holds the sender: the receiver hears of it when the step's
    // future is dropped, and never otherwise (the step waits for ever).
    let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
    let held = Arc::new(Mutex::new(Some(dropped_tx)));
    let dag = Dag::builder("dropped")
        .step(Step::new(
            "forever",
            move |_cx: StepContext, _in: StepInputs| {
                let sender = held.lock().unwrap().take();
                async move {
                    let _sender = sender;
                    std::future::pending::<()>().await;
                    Ok::<_, Error>(())
                }
            },
        ))
        .build()
        .unwrap();
    let run = tokio::time::timeout(Duration::from_millis(100), dag.run()).await;
    assert!(run.is_err(), "the run cannot finish on its own");
    tokio::time::timeout(Duration::from_secs(5), dropped_rx)
        .await
        .expect("the step was stopped once the run was dropped")
        .expect_err("the step never sends; its sender is dropped");
}

#[tokio::test]
async fn a_panicking_step_fails_with_its_message() {
    let dag = Dag::builder("panic")
        .step(Step::new(
            "boom",
            |_cx: StepContext, _in: StepInputs| async {
                if true {
                    panic!("index out of range");
                }
                Ok::<_, Error>(())
            },
        ))
        .step(ok_step("next").after(["boom"]))
        .build()
        .unwrap();
    let report = dag.run().await;
    assert_eq!(
        report.step("boom").unwrap().error.as_deref(),
        Some("panicked: index out of range")
    );
    assert_eq!(status(&report, "next"), StepStatus::Skipped);
}

#[tokio::test]
async fn the_context_names_run_step_attempt_and_params() {
    let dag = Dag::builder("context")
        .step(Step::new(
            "who",
            |cx: StepContext, _in: StepInputs| async move {
                cx.progress(42);
                Ok::<_, Error>(format!(
                    "{}/{}/{}/{}/{:?}/{:?}",
                    cx.workflow(),
                    cx.step(),
                    cx.attempt(),
                    cx.run_id(),
                    cx.param("day"),
                    cx.param("missing"),
                ))
            },
        ))
        .build()
        .unwrap();
    let params = std::collections::BTreeMap::from([("day".to_owned(), "2024-03-01".to_owned())]);
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let report = dag
        .runner()
        .run_id("run-7")
        .params(params)
        .on_progress(move |step, rows| seen.lock().unwrap().push((step.to_owned(), rows)))
        .run()
        .await;
    assert_eq!(*progress.lock().unwrap(), [("who".to_owned(), 42)]);
    assert_eq!(
        report.output::<String>("who").unwrap(),
        "context/who/1/run-7/Some(\"2024-03-01\")/None"
    );
    assert_eq!(report.run_id, "run-7");
}

#[test]
fn build_lists_every_problem() {
    let err = Dag::builder("broken")
        .schedule("0 25 * * *")
        .max_parallel(0)
        .param("day", None)
        .param("day", Some("x"))
        .param("<b>", None)
        .on_file("", "path")
        .on_success_of("upstream", Some("day"))
        .step(ok_step("a").after(["c"]))
        .step(ok_step("b").after(["a"]))
        .step(ok_step("c").after(["b"]))
        .step(ok_step("a"))
        .step(ok_step("d").inputs(["nope"]).after(["a", "a"]))
        .build()
        .unwrap_err();
    let Error::InvalidWorkflow { workflow, problems } = &err else {
        panic!("{err}")
    };
    assert_eq!(workflow, "broken");
    assert_eq!(
        problems,
        &[
            "cron \"0 25 * * *\": hour field \"25\": 25 is out of range 0-23",
            "max_parallel is 0: no step could run",
            "parameter \"day\" is declared twice",
            "parameter \"<b>\": a name is 1 to 128 letters, digits, `_`, `-` or `.`",
            "on_file: the pattern is empty",
            "parameter \"path\", which a trigger passes, is not declared: add .param(\"path\", …)",
            "duplicate step \"a\": step \"a\" has this name already",
            "step \"d\" depends on unknown step \"nope\"; the steps of this workflow are \"a\", \"b\", \"c\", \"d\"",
            "step \"d\" names \"a\" twice among its dependencies",
            "dependency cycle: a -> b -> c -> a",
        ]
    );
}

#[test]
fn the_graph_is_data() {
    let dag = Dag::builder("shape")
        .schedule("0 6 * * *")
        .step(
            ok_step("load")
                .inputs(["join"])
                .timeout(Duration::from_secs(120)),
        )
        .step(ok_step("users"))
        .step(ok_step("orders"))
        .step(ok_step("join").inputs(["users", "orders"]))
        .build()
        .unwrap();
    assert_eq!(dag.order(), ["users", "orders", "join", "load"]);
    assert_eq!(dag.schedule(), Some("0 6 * * *"));
    let load = dag.step("load").unwrap();
    assert_eq!(load.inputs, ["join"]);
    assert_eq!(load.options.timeout, Some(Duration::from_secs(120)));
    let join = dag.step("join").unwrap();
    assert_eq!(join.depends_on().collect::<Vec<_>>(), ["users", "orders"]);
    assert_eq!(dag.steps().count(), 4);
}

/// `numbers` -> `doubled` -> `total`, with `label` (no codec) beside them.
fn saved_dag(runs: &Arc<AtomicU32>) -> Dag {
    let count = runs.clone();
    Dag::builder("saved")
        .step(
            Step::new("numbers", move |_cx: StepContext, _in: StepInputs| {
                count.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Error>(Numbers(vec![1, 2, 3])) }
            })
            .output(numbers_hooks()),
        )
        .step(
            Step::new(
                "doubled",
                |_cx: StepContext, inputs: StepInputs| async move {
                    let numbers = inputs.get::<Numbers>("numbers")?;
                    Ok::<_, Error>(numbers.0.len() as u64 * 2)
                },
            )
            .inputs(["numbers"])
            .codec(Codec::json::<u64>()),
        )
        .step(
            Step::new("total", |_cx: StepContext, inputs: StepInputs| async move {
                Ok::<_, Error>(*inputs.get::<u64>("doubled")? + 1)
            })
            .inputs(["doubled"]),
        )
        .step(Step::new(
            "label",
            |_cx: StepContext, _in: StepInputs| async { Ok::<_, Error>(std::time::Instant::now()) },
        ))
        .step(ok_step("uses_label").inputs(["label"]))
        .build()
        .unwrap()
}

#[tokio::test]
async fn saved_outputs_let_a_later_run_take_up_where_one_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let dag = saved_dag(&runs);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let first = dag
        .runner()
        .persist_outputs(dir.path())
        .on_event(move |e| {
            if e.status == StepStatus::Succeeded {
                let output = e.output.map(|p| {
                    std::path::Path::new(p)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                });
                seen.lock()
                    .unwrap()
                    .push((e.step.to_owned(), e.rows, output));
            }
        })
        .run()
        .await
        .into_result()
        .unwrap();
    let numbers_file = dir.path().join("numbers.json");
    let doubled_file = dir.path().join("doubled.json");
    assert_eq!(
        first.step("numbers").unwrap().output.as_deref(),
        numbers_file.to_str()
    );
    assert_eq!(
        first.step("total").unwrap().output,
        None,
        "no codec, not saved"
    );
    let mut events = events.lock().unwrap().clone();
    events.sort();
    assert_eq!(
        events[..2],
        [
            ("doubled".to_owned(), None, Some("doubled.json".into())),
            ("label".to_owned(), None, None),
        ]
    );
    assert!(events.contains(&("numbers".to_owned(), Some(3), Some("numbers.json".into()))));
    assert_eq!(std::fs::read_to_string(&doubled_file).unwrap(), "6");

    // A second run of `total` only, from the saved `doubled`.
    std::fs::write(&doubled_file, "20").unwrap();
    let second = dag
        .runner()
        .only(["total"])
        .unwrap()
        .reuse_output("doubled", doubled_file.to_str().unwrap())
        .unwrap()
        .run()
        .await
        .into_result()
        .unwrap();
    assert_eq!(second.output::<u64>("total"), Some(&21));
    let names: Vec<&str> = second.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["total"], "the report covers the steps that ran");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "numbers ran once");

    // Everything but what was reused: `numbers` is read from its file.
    let third = dag
        .runner()
        .reuse_output("numbers", numbers_file.to_str().unwrap())
        .unwrap()
        .run()
        .await
        .into_result()
        .unwrap();
    assert_eq!(third.output::<u64>("total"), Some(&7));
    assert!(third.step("numbers").is_none());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_step_whose_input_is_not_available_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let dag = saved_dag(&runs);
    // Not given at all.
    let report = dag.runner().only(["doubled", "total"]).unwrap().run().await;
    assert_eq!(status(&report, "doubled"), StepStatus::Failed);
    assert_eq!(status(&report, "total"), StepStatus::Skipped);
    let error = report.step("doubled").unwrap().error.clone().unwrap();
    assert!(
        error.contains(
            "step \"numbers\" is not part of this run and no saved output of it was given"
        ),
        "{error}"
    );
    // Given, but the file is missing.
    let report = dag
        .runner()
        .only(["doubled"])
        .unwrap()
        .reuse_output("numbers", dir.path().join("gone.json").to_str().unwrap())
        .unwrap()
        .run()
        .await;
    let error = report.step("doubled").unwrap().error.clone().unwrap();
    assert!(
        error.contains("gone.json") && error.contains("cannot be used"),
        "{error}"
    );
    // Given, but the step's output is never saved.
    let report = dag
        .runner()
        .only(["uses_label"])
        .unwrap()
        .reuse_output("label", dir.path().join("label.json").to_str().unwrap())
        .unwrap()
        .run()
        .await;
    let error = report.step("uses_label").unwrap().error.clone().unwrap();
    assert!(error.contains("has no codec"), "{error}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    let err = dag.runner().only(["numbrs"]).err().unwrap().to_string();
    assert!(
        err.contains("no step \"numbrs\"") && err.contains("numbers, doubled"),
        "{err}"
    );
}

#[tokio::test]
async fn an_output_that_cannot_be_saved_fails_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let report = saved_dag(&runs)
        .runner()
        .persist_outputs(&not_a_dir)
        .run()
        .await;
    assert_eq!(status(&report, "numbers"), StepStatus::Failed);
    let error = report.step("numbers").unwrap().error.clone().unwrap();
    assert!(error.contains("its output could not be saved"), "{error}");
    assert_eq!(status(&report, "total"), StepStatus::Skipped);
    // `label` has no codec: nothing to save, it succeeds.
    assert_eq!(status(&report, "label"), StepStatus::Succeeded);
}

/// Everything an [`Observer`] is told, as text.
#[derive(Default)]
struct Watched(Mutex<Vec<String>>);

impl Observer for Watched {
    fn event(&self, e: &StepEvent<'_>) {
        let timed = if e.duration.is_some() { " timed" } else { "" };
        let rows = e.rows.map(|r| format!(" {r} rows")).unwrap_or_default();
        self.0.lock().unwrap().push(format!(
            "{} {} {}{rows}{timed}",
            e.step, e.status, e.attempt
        ));
    }
    fn rows(&self, step: &str, rows: u64) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{step} rows so far {rows}"));
    }
    fn finish(&self) {
        self.0.lock().unwrap().push("finish".into());
    }
}

#[tokio::test]
async fn an_observer_sees_every_step_planned_then_each_change_then_the_end() {
    let dag = Dag::builder("watched")
        .step(
            Step::new("numbers", |cx: StepContext, _: StepInputs| async move {
                cx.progress(2);
                Ok::<_, Error>(Numbers(vec![1, 2, 3]))
            })
            .output(numbers_hooks()),
        )
        .step(
            Step::new("fails", |_: StepContext, _: StepInputs| async {
                Err::<(), _>("no".to_owned())
            })
            .after(["numbers"]),
        )
        .step(
            Step::new("after", |_: StepContext, _: StepInputs| async {
                Ok::<_, Error>(())
            })
            .after(["fails"]),
        )
        .build()
        .unwrap();
    let watched = Arc::new(Watched::default());
    let report = dag.runner().observe(watched.clone()).run().await;
    assert!(!report.succeeded());
    assert_eq!(
        *watched.0.lock().unwrap(),
        [
            "numbers PENDING 0",
            "fails PENDING 0",
            "after PENDING 0",
            "numbers RUNNING 1",
            "numbers rows so far 2",
            "numbers SUCCEEDED 1 3 rows timed",
            "fails RUNNING 1",
            "fails FAILED 1 timed",
            "after SKIPPED 0",
            "finish",
        ]
    );
}

#[tokio::test]
async fn one_attempt_leaves_the_retries_to_the_scheduler_running_the_step() {
    let tries = Arc::new(AtomicU32::new(0));
    let counted = tries.clone();
    let dag = Dag::builder("once")
        .step(
            Step::new("flaky", move |_: StepContext, _: StepInputs| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>("down".to_owned()) }
            })
            .retries(3)
            .backoff(Backoff::None),
        )
        .build()
        .unwrap();
    let report = dag.runner().one_attempt(true).run().await;
    assert_eq!(report.step("flaky").unwrap().attempts, 1);
    assert_eq!(tries.load(Ordering::SeqCst), 1);
    let report = dag.runner().run().await;
    assert_eq!(
        report.step("flaky").unwrap().attempts,
        4,
        "its own retries otherwise"
    );
}
