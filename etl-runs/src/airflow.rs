//! `export airflow`: the workflow as an Airflow DAG file. Each step becomes a
//! `BashOperator` task running `<program> run --step STEP --run-id <Airflow's
//! run id>`, so each step runs in its own process, on whichever worker
//! Airflow picks, reading its inputs from the outputs the run saved. The
//! dependencies, schedule, retries, backoff and timeouts are mirrored. The
//! file runs on Airflow 2.4+ and 3.x.

use std::fmt::Write as _;

use crate::{Error, Result};
use etl_dag::{Backoff, Cron, Dag};

/// Where the tasks run, and as what.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The program's name, for the file's docstring.
    pub program: &'a str,
    /// The program the tasks run.
    pub bin: &'a str,
    /// The pipeline file the program reads its workflow from, passed to it
    /// before the step's options (`etl run FILE --step …`); `None` for a
    /// program that is its workflow.
    pub file: Option<&'a str>,
    /// The state store the tasks record in, when it is a file; `None` when
    /// the workers' own `ETL_STATE` names it (a PostgreSQL URL, which holds
    /// a password and so is never written into the file).
    pub state: Option<&'a str>,
    /// Where the tasks save step outputs (a bucket URL, which holds no
    /// credential, or a folder); `None` when the workers' own `ETL_OUTPUTS`
    /// says, or the store's folder is used.
    pub outputs: Option<&'a str>,
    /// The folder every task runs in (absolute): where the export was
    /// written from. Airflow's and Prefect's workers otherwise run each task
    /// in a temporary folder deleted afterwards, where a relative path in
    /// the workflow (a warehouse file, local outputs) would be written and
    /// lost while the task reports success. On a worker where it does not
    /// exist, the task fails saying so.
    pub workdir: &'a str,
    /// The Airflow DAG id.
    pub dag_id: &'a str,
    /// The time zone Airflow reads the schedule in.
    pub zone: &'a str,
}

/// A Python string literal.
pub(crate) fn py(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `datetime.timedelta(...)` for `d`.
fn timedelta(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("datetime.timedelta(seconds={})", d.as_secs())
    } else {
        format!("datetime.timedelta(milliseconds={})", d.as_millis())
    }
}

/// The most characters Airflow takes in an id.
const ID_MAX: usize = 250;

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// `name` as an id Airflow takes (letters, digits, `_`, `-`, `.`; at most
/// 250): every other character becomes `_`.
pub fn airflow_id(name: &str) -> String {
    name.chars()
        .map(|c| if id_char(c) { c } else { '_' })
        .take(ID_MAX)
        .collect()
}

/// The DAG id as given with `--dag-id`, which is taken as it is or refused.
fn check_dag_id(id: &str) -> Result<()> {
    if !id.is_empty() && id.len() <= ID_MAX && id.chars().all(id_char) {
        return Ok(());
    }
    Err(Error::Export(format!(
        "DAG id {id:?} is not an Airflow id (letters, digits, '_', '-', '.'; at most {ID_MAX})"
    )))
}

/// Each step's task id: its name where Airflow takes it, else the name with
/// the characters Airflow does not take made `_`. Two steps that would
/// share a task id are an error naming both.
fn task_ids(dag: &Dag) -> Result<std::collections::HashMap<&str, String>> {
    let mut ids = std::collections::HashMap::new();
    let mut taken: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for step in dag.steps() {
        // Never empty: the graph refuses an empty step name.
        let id = airflow_id(step.name);
        if let Some(other) = taken.insert(id.clone(), step.name) {
            return Err(Error::Export(format!(
                "steps {other:?} and {:?} would both be Airflow task {id:?} (Airflow takes letters, digits, '_', '-', '.'): rename one",
                step.name
            )));
        }
        ids.insert(step.name, id);
    }
    Ok(ids)
}

/// The workflow's schedule as a scheduler that counts in minutes (`engine`:
/// Airflow, Prefect) takes it: five fields or a preset; `None` without one.
pub(crate) fn minute_cron(dag: &Dag, engine: &str) -> Result<Option<String>> {
    let Some(expression) = dag.schedule() else {
        return Ok(None);
    };
    let cron = Cron::parse(expression).map_err(Error::Schedule)?;
    if !cron.is_minutely() {
        return Err(Error::Schedule(format!(
            "workflow {:?} runs on {expression:?}, within the minute; {engine} schedules by the minute at most",
            dag.name()
        )));
    }
    let fields: Vec<&str> = expression.split_whitespace().collect();
    Ok(Some(if fields.len() == 6 {
        fields[1..].join(" ")
    } else {
        expression.trim().to_owned()
    }))
}

/// The schedule as Airflow takes it, as Python.
fn airflow_schedule(dag: &Dag) -> Result<String> {
    Ok(minute_cron(dag, "Airflow")?.map_or_else(|| "None".into(), |c| py(&c)))
}

/// The Airflow DAG file of `dag`, or an error naming what Airflow cannot
/// take (a DAG id, two steps that would share a task id, a schedule within
/// the minute, an unknown time zone).
pub fn render(dag: &Dag, target: &Target<'_>) -> Result<String> {
    check_dag_id(target.dag_id)?;
    let task_ids = task_ids(dag)?;
    let schedule = airflow_schedule(dag)?;
    let (zone_import, start) = if target.zone == "UTC" {
        (
            "",
            "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)".to_owned(),
        )
    } else {
        target
            .zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| Error::Schedule(format!("unknown time zone {:?}", target.zone)))?;
        (
            "\nimport pendulum",
            format!("pendulum.datetime(2024, 1, 1, tz={})", py(target.zone)),
        )
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#""""The etl workflow {name} as an Airflow DAG: one task per step, each running
`{program} run --step STEP --run-id <the Airflow run's id>` in its own process.

Generated by `{program} export airflow`: export it again after changing the
workflow rather than editing it. For Airflow 2.4 and later, and 3.x.
Tasks that read one Airtable base share its 5 requests per second when they
run on one machine, by themselves. Tasks on several machines do not: set
AIRTABLE_REQUESTS_PER_SECOND on each machine's workers to its share (2.5 on
each of two machines), or every 429 costs the base 30 s.
"""

import datetime
import shlex{zone_import}

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:  # Airflow 3: the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

ETL_BIN = {bin}
# The pipeline file ETL_BIN reads the workflow from, or None.
ETL_FILE = {file}
# The state store: a file, or None when each worker's own ETL_STATE names it.
ETL_STATE = {state}
# Where step outputs go: a bucket or folder, or None for each worker's own
# ETL_OUTPUTS (or the state store's folder).
ETL_OUTPUTS = {outputs}
# The folder each task runs in, where relative paths in the workflow resolve
# (the one the export was written from); it must exist on every worker.
ETL_WORKDIR = {workdir}


def literal(text):
    """Text that Airflow's templating (Jinja) renders as itself: a path or a
    step name holding "{{{{" must not become an expression."""
    return text.replace("{{", "{{{{ '{{' }}}}")


# What each task adds to its worker's environment.
STATE_ENV = {{
    name: literal(value)
    for name, value in (("ETL_STATE", ETL_STATE), ("ETL_OUTPUTS", ETL_OUTPUTS))
    if value
}}


def etl_step(step):
    """The command that runs one step of the run Airflow is on."""
    command = f"{{shlex.quote(ETL_BIN)}} run"
    if ETL_FILE:
        command += f" {{shlex.quote(ETL_FILE)}}"
    command += f" --step {{shlex.quote(step)}}"
    # One attempt per try: Airflow's retries are the step's.
    return literal(command) + ' --run-id "$ETL_RUN_ID" --no-retries'


with DAG(
    dag_id={dag_id},
    schedule={schedule},
    start_date={start},
    catchup=False,
    max_active_runs=1,
"#,
        name = py(dag.name()),
        // Inside the docstring: escaped, so that no name can end it.
        program = py(target.program).trim_matches('"'),
        bin = py(target.bin),
        file = target.file.map(py).unwrap_or_else(|| "None".to_owned()),
        state = target.state.map(py).unwrap_or_else(|| "None".to_owned()),
        outputs = target.outputs.map(py).unwrap_or_else(|| "None".to_owned()),
        workdir = py(target.workdir),
        dag_id = py(target.dag_id),
    );
    if let Some(n) = dag.max_parallel() {
        let _ = writeln!(out, "    max_active_tasks={n},");
    }
    out.push_str("    tags=[\"etl\"],\n) as dag:\n    tasks = {}\n");
    for step in dag.steps() {
        let name = py(step.name);
        let _ = writeln!(out, "    tasks[{name}] = BashOperator(");
        // The task id is the step's name where Airflow takes it; the
        // command always names the step as it is.
        let _ = writeln!(out, "        task_id={},", py(&task_ids[step.name]));
        let _ = writeln!(out, "        bash_command=etl_step({name}),");
        out.push_str("        env={\"ETL_RUN_ID\": \"{{ run_id }}\", **STATE_ENV},\n");
        out.push_str("        append_env=True,\n");
        out.push_str("        cwd=ETL_WORKDIR,\n");
        // The step's output is in the state store, not its last line of stdout.
        out.push_str("        do_xcom_push=False,\n");
        let options = step.options;
        let _ = writeln!(out, "        retries={},", options.retries);
        if options.retries > 0 {
            match options.backoff {
                Backoff::None => {
                    let _ = writeln!(out, "        retry_delay=datetime.timedelta(0),");
                }
                Backoff::Fixed(d) => {
                    let _ = writeln!(out, "        retry_delay={},", timedelta(d));
                }
                Backoff::Exponential { initial, max } => {
                    let _ = writeln!(out, "        retry_delay={},", timedelta(initial));
                    out.push_str("        retry_exponential_backoff=True,\n");
                    let _ = writeln!(out, "        max_retry_delay={},", timedelta(max));
                }
                // A kind of backoff Airflow has no word for: its first delay.
                other => {
                    let _ = writeln!(out, "        retry_delay={},", timedelta(other.delay(1)));
                }
            }
        }
        if let Some(timeout) = options.timeout {
            let _ = writeln!(out, "        execution_timeout={},", timedelta(timeout));
        }
        out.push_str("    )\n");
    }
    let edges: Vec<(String, String)> = dag
        .steps()
        .flat_map(|s| {
            s.depends_on()
                .map(|d| (py(d), py(s.name)))
                .collect::<Vec<_>>()
        })
        .collect();
    if !edges.is_empty() {
        out.push('\n');
    }
    for (from, to) in edges {
        let _ = writeln!(out, "    tasks[{from}] >> tasks[{to}]");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etl_dag::{Step, StepContext, StepInputs};

    fn dag(schedule: Option<&str>, step: &str) -> Dag {
        let mut b = Dag::builder("w")
            .step(Step::new(step, |_: StepContext, _: StepInputs| async {
                Ok::<_, crate::Error>(())
            }));
        if let Some(s) = schedule {
            b = b.schedule(s);
        }
        b.build().unwrap()
    }

    fn target() -> Target<'static> {
        Target {
            program: "w",
            bin: "/opt/etl/w",
            file: None,
            state: Some("/var/lib/etl/state.sqlite"),
            outputs: None,
            workdir: "/srv/etl",
            dag_id: "w",
            zone: "UTC",
        }
    }

    #[test]
    fn python_strings_are_escaped() {
        assert_eq!(py(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(py("x\ny\u{1}"), r#""x\ny\x01""#);
        assert_eq!(py("é"), "\"é\"");
    }

    #[test]
    fn schedules_airflow_cannot_run_are_refused() {
        let five = render(&dag(Some("*/5 * * * *"), "a"), &target()).unwrap();
        assert!(five.contains("schedule=\"*/5 * * * *\","), "{five}");
        let six = render(&dag(Some("0 */5 * * * *"), "a"), &target()).unwrap();
        assert!(six.contains("schedule=\"*/5 * * * *\","), "{six}");
        let none = render(&dag(None, "a"), &target()).unwrap();
        assert!(none.contains("schedule=None,"), "{none}");
        let err = render(&dag(Some("*/10 * * * * *"), "a"), &target())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Airflow schedules by the minute at most"),
            "{err}"
        );
    }

    fn steps(names: &[&str]) -> Dag {
        let mut b = Dag::builder("w");
        for name in names {
            b = b.step(Step::new(*name, |_: StepContext, _: StepInputs| async {
                Ok::<_, crate::Error>(())
            }));
        }
        b.build().unwrap()
    }

    #[test]
    fn steps_airflow_cannot_name_get_task_ids_it_can() {
        let file = render(&steps(&["daily revenue", "côte-d'or", "ok_1.2"]), &target()).unwrap();
        // The task id is made Airflow's; the command names the step as it is.
        assert!(
            file.contains(
                "    tasks[\"daily revenue\"] = BashOperator(\n        task_id=\"daily_revenue\",\n        bash_command=etl_step(\"daily revenue\"),"
            ),
            "{file}"
        );
        assert!(file.contains("task_id=\"c_te-d_or\","), "{file}");
        assert!(file.contains("task_id=\"ok_1.2\","), "{file}");
        let long = "x".repeat(300);
        let file = render(&steps(&[&long]), &target()).unwrap();
        assert!(
            file.contains(&format!("task_id=\"{}\",", "x".repeat(250))),
            "{file}"
        );

        let err = render(&steps(&["a b", "a_b"]), &target())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("steps \"a b\" and \"a_b\" would both be Airflow task \"a_b\""),
            "{err}"
        );
        let err = render(
            &steps(&["a"]),
            &Target {
                dag_id: "my dag",
                ..target()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("DAG id \"my dag\" is not an Airflow id"),
            "{err}"
        );
        assert_eq!(airflow_id("daily metrics"), "daily_metrics");
    }
}
