//! What `list`, `graph`, `history` and `show` print.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::Result;
use etl_dag::{Dag, format_duration};
use etl_rules::text::table;
use etl_runs::StateStore;
use etl_runs::state::{AttemptRecord, RunRecord, StepRecord, time};

/// `2026-11-23 16:50:07Z`: UTC, to the second.
pub(super) fn when(t: SystemTime) -> String {
    let text = time::to_text(t);
    format!("{} {}Z", &text[..10], &text[11..19])
}

pub(super) fn seconds(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.3}", d.as_secs_f64()))
        .unwrap_or_default()
}

/// The steps: what each needs and runs after, retries, backoff, timeout, how
/// its output is saved.
pub(super) fn list(dag: &Dag) -> String {
    let rows: Vec<Vec<String>> = dag
        .steps()
        .map(|s| {
            vec![
                s.name.to_owned(),
                s.inputs.join(", "),
                s.after.join(", "),
                s.options.retries.to_string(),
                if s.options.retries == 0 {
                    String::new()
                } else {
                    s.options.backoff.to_string()
                },
                s.options.timeout.map(format_duration).unwrap_or_default(),
                s.codec
                    .map(|c| c.extension().to_owned())
                    .unwrap_or_else(|| "not saved".into()),
            ]
        })
        .collect();
    let mut out = format!(
        "workflow {:?}: {} steps{}\n",
        dag.name(),
        rows.len(),
        dag.schedule()
            .map(|s| format!(", schedule {s:?}"))
            .unwrap_or_default()
    );
    out.push_str(&table(
        &[
            "step", "inputs", "after", "retries", "backoff", "timeout", "output",
        ],
        &[false, false, false, true, false, true, false],
        &rows,
    ));
    out
}

/// The graph as Mermaid (`flowchart`) or Graphviz (`digraph`): data edges
/// solid, `after` edges dashed.
pub(super) fn graph(dag: &Dag, format: &str) -> String {
    let mut out = String::new();
    let quoted = |s: &str| s.replace('"', "'");
    if format == "dot" {
        let _ = writeln!(out, "digraph \"{}\" {{", quoted(dag.name()));
        let _ = writeln!(out, "    rankdir=LR;");
        for step in dag.steps() {
            let _ = writeln!(out, "    \"{}\";", quoted(step.name));
        }
        for step in dag.steps() {
            for input in &step.inputs {
                let _ = writeln!(
                    out,
                    "    \"{}\" -> \"{}\";",
                    quoted(input),
                    quoted(step.name)
                );
            }
            for after in &step.after {
                let _ = writeln!(
                    out,
                    "    \"{}\" -> \"{}\" [style=dashed];",
                    quoted(after),
                    quoted(step.name)
                );
            }
        }
        out.push_str("}\n");
    } else {
        let id = |name: &str| -> String {
            let index = dag.steps().position(|s| s.name == name).unwrap_or(0);
            format!("s{index}")
        };
        out.push_str("flowchart LR\n");
        for step in dag.steps() {
            let _ = writeln!(out, "    {}[\"{}\"]", id(step.name), quoted(step.name));
        }
        for step in dag.steps() {
            for input in &step.inputs {
                let _ = writeln!(out, "    {} --> {}", id(input), id(step.name));
            }
            for after in &step.after {
                let _ = writeln!(out, "    {} -.-> {}", id(after), id(step.name));
            }
        }
    }
    out
}

/// The runs, newest first.
pub(super) fn history(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "no runs recorded yet\n".into();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.run_id.clone(),
                r.status.to_string(),
                r.trigger.clone(),
                when(r.started_at),
                seconds(r.duration()),
                format!("{}/{}", r.succeeded, r.steps),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "run", "status", "trigger", "started", "seconds", "steps ok", "error",
        ],
        &[false, false, false, false, true, true, false],
        &rows,
    )
}

/// One run: what it was, then its steps.
pub(super) async fn show(store: &dyn StateStore, run_id: &str) -> Result<String> {
    let Some(run) = store.run(run_id).await? else {
        return Err(etl_runs::Error::UnknownRun {
            run_id: run_id.to_owned(),
            store: store.location(),
        }
        .into());
    };
    let mut out = String::new();
    let _ = writeln!(out, "run        {}", run.run_id);
    let _ = writeln!(out, "workflow   {}", run.workflow);
    let _ = writeln!(out, "status     {}", run.status);
    let _ = writeln!(out, "trigger    {}", run.trigger);
    if let Some(tick) = run.scheduled_for {
        let _ = writeln!(out, "scheduled  {}", when(tick));
    }
    if !run.params.is_empty() {
        let params: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "params     {}", params.join(" "));
    }
    if !run.version.is_empty() {
        let _ = writeln!(out, "version    {}", run.version);
    }
    let _ = writeln!(out, "started    {}", when(run.started_at));
    if let Some(end) = run.finished_at {
        let _ = writeln!(
            out,
            "finished   {} ({} s)",
            when(end),
            seconds(run.duration())
        );
    }
    if let Some(error) = &run.error {
        let _ = writeln!(out, "error      {error}");
    }
    out.push('\n');
    let steps = store.steps(run_id).await?;
    out.push_str(&steps_table(&steps, true));
    out.push_str(&attempts_table(&steps, &store.attempts(run_id).await?));
    Ok(out)
}

/// Each attempt of the steps tried more than once (a retry, a re-run, a
/// take-over from a lost worker): when it started and ended, and how.
/// Empty when every step ran at most once. In the order of `steps`.
fn attempts_table(steps: &[StepRecord], attempts: &[AttemptRecord]) -> String {
    let by_step = AttemptRecord::by_step(attempts);
    let rows: Vec<Vec<String>> = steps
        .iter()
        .filter_map(|s| by_step.get(s.step.as_str()))
        .filter(|tries| tries.len() > 1)
        .flatten()
        .map(|a| {
            vec![
                a.step.clone(),
                a.attempt.to_string(),
                when(a.started_at),
                a.finished_at
                    .map(when)
                    .unwrap_or_else(|| "not recorded".into()),
                a.status.map(|s| s.to_string()).unwrap_or_default(),
                seconds(a.duration()),
                a.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let header = [
        "step", "attempt", "started", "ended", "status", "seconds", "error",
    ];
    let numeric = [false, true, false, false, false, true, false];
    format!("\nattempts\n{}", table(&header, &numeric, &rows))
}

/// Step, status, attempts, rows, seconds, (output,) detail: the error, or
/// the run whose output a step reused.
pub(super) fn steps_table(steps: &[StepRecord], with_output: bool) -> String {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let detail = match (&s.reused_from, &s.error) {
                (Some(from), _) => format!("not run: reused the output of run {from}"),
                (None, Some(error)) => error.clone(),
                (None, None) => String::new(),
            };
            let mut row = vec![
                s.step.clone(),
                s.status.to_string(),
                s.attempts.to_string(),
                s.rows.map(|r| r.to_string()).unwrap_or_default(),
                if s.reused_from.is_some() {
                    String::new()
                } else {
                    seconds(s.duration())
                },
            ];
            if with_output {
                row.push(s.output.clone().unwrap_or_default());
            }
            row.push(detail);
            row
        })
        .collect();
    let mut header = vec!["step", "status", "attempts", "rows", "seconds"];
    let mut numeric = vec![false, false, true, true, true];
    if with_output {
        header.push("output");
        numeric.push(false);
    }
    header.push("detail");
    numeric.push(false);
    table(&header, &numeric, &rows)
}
