//! The workflows a store knows: what each binary and worker registers
//! ([`StateStore::register_workflow`](crate::StateStore::register_workflow))
//! so that a server that holds no workflow code can list them, draw their
//! graph, queue their runs and turn their schedules off and on.
//!
//! ```
//! use etl_dag::{Dag, Step, StepContext, StepInputs};
//! use etl_runs::registry::WorkflowInfo;
//!
//! # fn main() -> etl_runs::Result<()> {
//! let step = |name: &str| Step::new(name, |_: StepContext, _: StepInputs| async { Ok::<_, etl_dag::Error>(1_u64) });
//! let dag = Dag::builder("nightly")
//!     .param("day", None)
//!     .step(step("orders"))
//!     .step(step("report").inputs(["orders"]))
//!     .build()?;
//! let info = WorkflowInfo::of(&dag, "1.4.0");
//! assert_eq!(info.steps[1].inputs, ["orders"]);
//! // What a trigger's parameters must be: `day` is required.
//! assert!(info.check_params(&Default::default()).is_err());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::SystemTime;

use etl_dag::Dag;
use serde::{Deserialize, Serialize};

use crate::state::{RunStart, Trigger};
use crate::{Error, Result};

/// One step of a registered workflow's graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GraphStep {
    /// The step's name.
    pub name: String,
    /// The steps whose outputs it takes.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// The steps it runs after without taking their output.
    #[serde(default)]
    pub after: Vec<String>,
}

/// A parameter a workflow declares: what a trigger may and must pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParamSpec {
    /// Its name.
    pub name: String,
    /// Its type (`"type": "int"`): a trigger's value of another is refused.
    /// Graphs registered before types were recorded read as `string`.
    #[serde(default, rename = "type", with = "param_type")]
    pub kind: etl_dag::ParamType,
    /// Its value when a trigger gives none; `None`: it is required.
    #[serde(default)]
    pub default: Option<String>,
}

/// A [`etl_dag::ParamType`] as its name.
mod param_type {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        kind: &etl_dag::ParamType,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<etl_dag::ParamType, D::Error> {
        let name = String::deserialize(d)?;
        etl_dag::ParamType::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown parameter type {name:?}")))
    }
}

/// An event that starts a run of a registered workflow (see
/// [`etl_dag::StartOn`]): what a server watches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StartOn {
    /// A run of `workflow` succeeded.
    Success {
        /// The upstream workflow.
        workflow: String,
        /// The parameter that gets the upstream run's id.
        #[serde(default)]
        run_id_param: Option<String>,
    },
    /// A new file matches the glob `pattern`.
    File {
        /// The glob.
        pattern: String,
        /// The parameter that gets the file's path.
        param: String,
    },
}

/// A workflow as a store registers it: enough to show it and to queue its
/// runs for workers that hold its code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkflowInfo {
    /// Its name.
    pub name: String,
    /// The version of the program that registered it.
    pub version: String,
    /// Its steps, in declaration order.
    pub steps: Vec<GraphStep>,
    /// The parameters it declares.
    pub params: Vec<ParamSpec>,
    /// The events that start its runs.
    pub start_on: Vec<StartOn>,
    /// Its cron expression, if it is scheduled.
    pub schedule: Option<String>,
    /// The time zone of its schedule (IANA name; `None`: UTC).
    pub zone: Option<String>,
}

/// The most bytes of one parameter's name a trigger may pass.
pub const MAX_PARAM_NAME: usize = 128;
/// The most characters of one parameter's value a trigger may pass
/// (characters, as JSON Schema's `maxLength` counts them).
pub const MAX_PARAM_VALUE: usize = 4096;
/// The most parameters a trigger may pass.
pub const MAX_PARAMS: usize = 64;

impl WorkflowInfo {
    /// `dag`'s graph, schedule and parameters, registered by `version`.
    pub fn of(dag: &Dag, version: impl Into<String>) -> WorkflowInfo {
        WorkflowInfo {
            name: dag.name().to_owned(),
            version: version.into(),
            steps: dag
                .steps()
                .map(|s| GraphStep {
                    name: s.name.to_owned(),
                    inputs: s.inputs.iter().map(|&n| n.to_owned()).collect(),
                    after: s.after.iter().map(|&n| n.to_owned()).collect(),
                })
                .collect(),
            params: dag
                .params()
                .iter()
                .map(|p| ParamSpec {
                    name: p.name().to_owned(),
                    kind: p.kind(),
                    default: p.default().map(str::to_owned),
                })
                .collect(),
            start_on: dag
                .start_on()
                .iter()
                .filter_map(|s| match s {
                    etl_dag::StartOn::Success {
                        workflow,
                        run_id_param,
                    } => Some(StartOn::Success {
                        workflow: workflow.clone(),
                        run_id_param: run_id_param.clone(),
                    }),
                    etl_dag::StartOn::File { pattern, param } => Some(StartOn::File {
                        pattern: pattern.clone(),
                        param: param.clone(),
                    }),
                    // A kind of event this build does not know.
                    _ => None,
                })
                .collect(),
            schedule: dag.schedule().map(str::to_owned),
            zone: None,
        }
    }

    /// Scheduled on `cron` in time zone `zone` (what the scheduler was
    /// started with, which may differ from the workflow's own schedule).
    pub fn scheduled(mut self, cron: Option<&str>, zone: Option<&str>) -> WorkflowInfo {
        self.schedule = cron.map(str::to_owned);
        self.zone = zone.map(str::to_owned);
        self
    }

    /// The graph and parameters as the stores keep them (one JSON text).
    pub fn graph_json(&self) -> String {
        serde_json::json!({ "steps": self.steps, "params": self.params, "start_on": self.start_on })
            .to_string()
    }

    /// Workflow `name` of `version`, with the graph and parameters
    /// [`WorkflowInfo::graph_json`] wrote (what a worker sends a server).
    pub fn from_graph_json(
        name: impl Into<String>,
        version: impl Into<String>,
        graph: &str,
    ) -> std::result::Result<WorkflowInfo, String> {
        WorkflowInfo::named(name.into(), version.into()).with_graph(graph)
    }

    /// Reads [`WorkflowInfo::graph_json`]'s text back.
    pub(crate) fn with_graph(mut self, text: &str) -> std::result::Result<WorkflowInfo, String> {
        #[derive(Deserialize)]
        struct Graph {
            steps: Vec<GraphStep>,
            #[serde(default)]
            params: Vec<ParamSpec>,
            #[serde(default)]
            start_on: Vec<StartOn>,
        }
        let graph: Graph = serde_json::from_str(text)
            .map_err(|e| format!("workflow {:?}: its graph: {e}", self.name))?;
        self.steps = graph.steps;
        self.params = graph.params;
        self.start_on = graph.start_on;
        Ok(self)
    }

    /// An empty record of `name`, for the stores to fill.
    pub(crate) fn named(name: String, version: String) -> WorkflowInfo {
        WorkflowInfo {
            name,
            version,
            steps: Vec::new(),
            params: Vec::new(),
            start_on: Vec::new(),
            schedule: None,
            zone: None,
        }
    }

    /// `given` checked against the parameters the workflow declares, with
    /// the defaults of those not given filled in; every problem at once in
    /// one [`Error::BadParams`]: a name it does not declare, a required one
    /// missing, a value not of its declared type, a name or value over its
    /// size limit.
    pub fn check_params(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        let mut problems = Vec::new();
        if given.len() > MAX_PARAMS {
            problems.push(format!(
                "{} parameters given, more than the {MAX_PARAMS} allowed",
                given.len()
            ));
        }
        let declared = || {
            if self.params.is_empty() {
                "it declares none".to_owned()
            } else {
                let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                format!("it declares {}", names.join(", "))
            }
        };
        for (name, value) in given {
            if name.len() > MAX_PARAM_NAME {
                problems.push(format!(
                    "a parameter name of {} bytes is longer than the {MAX_PARAM_NAME} allowed",
                    name.len()
                ));
                continue;
            }
            let chars = value.chars().count();
            if chars > MAX_PARAM_VALUE {
                problems.push(format!(
                    "parameter {name:?}: its value of {chars} characters is longer than the {MAX_PARAM_VALUE} allowed",
                ));
            }
            match self.params.iter().find(|p| &p.name == name) {
                None => problems.push(format!("unknown parameter {name:?}: {}", declared())),
                Some(spec) => {
                    if let Err(e) = spec.kind.check(value) {
                        problems.push(format!("parameter {name:?}: {e}"));
                    }
                }
            }
        }
        let mut params = given.clone();
        for spec in &self.params {
            if params.contains_key(&spec.name) {
                continue;
            }
            match &spec.default {
                Some(default) => {
                    params.insert(spec.name.clone(), default.clone());
                }
                None => problems.push(format!("parameter {:?} is required", spec.name)),
            }
        }
        if problems.is_empty() {
            Ok(params)
        } else {
            Err(Error::BadParams {
                workflow: self.name.clone(),
                problems,
            })
        }
    }

    /// A new run `run_id` of every step, started by `trigger` with
    /// `params` (checked with [`WorkflowInfo::check_params`] first).
    pub fn run_start(
        &self,
        run_id: impl Into<String>,
        trigger: Trigger,
        params: BTreeMap<String, String>,
    ) -> RunStart {
        RunStart {
            run_id: run_id.into(),
            workflow: self.name.clone(),
            steps: self.steps.iter().map(|s| s.name.clone()).collect(),
            needs: self
                .steps
                .iter()
                .map(|s| s.inputs.iter().chain(&s.after).cloned().collect())
                .collect(),
            trigger,
            params,
            version: self.version.clone(),
            scheduled_for: None,
            started_by: None,
        }
    }
}

/// A registered workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkflowRecord {
    /// What was registered last.
    pub info: WorkflowInfo,
    /// Whether schedules and triggers start its runs: a disabled workflow
    /// keeps its history, and starts no new run until enabled again.
    pub enabled: bool,
    /// When it was first registered.
    pub registered_at: SystemTime,
    /// When it was registered or changed last.
    pub updated_at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use etl_dag::{Step, StepContext, StepInputs};

    fn info() -> WorkflowInfo {
        let dag = Dag::builder("w")
            .param("day", None)
            .param("region", Some("eu"))
            .on_success_of("upstream", Some("day"))
            .on_file("/in/*.csv", "region")
            .step(Step::new("s", |_: StepContext, _: StepInputs| async {
                Ok::<_, etl_dag::Error>(())
            }))
            .build()
            .unwrap();
        WorkflowInfo::of(&dag, "1")
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_fill_in_and_every_problem_is_named() {
        let checked = info()
            .check_params(&params(&[("day", "2026-12-01")]))
            .unwrap();
        assert_eq!(checked, params(&[("day", "2026-12-01"), ("region", "eu")]));
        // Characters, not bytes: 4,096 of four bytes each pass, one more not.
        let widest = "𝄞".repeat(MAX_PARAM_VALUE);
        assert!(
            info()
                .check_params(&params(&[("day", "2026-12-01"), ("region", &widest)]))
                .is_ok()
        );
        let long = "𝄞".repeat(MAX_PARAM_VALUE + 1);
        let err = info()
            .check_params(&params(&[("colour", "red"), ("region", &long)]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("workflow \"w\": "), "{err}");
        for part in [
            "unknown parameter \"colour\": it declares day, region",
            "parameter \"region\": its value of 4097 characters is longer than the 4096 allowed",
            "parameter \"day\" is required",
        ] {
            assert!(err.contains(part), "{part:?} in {err}");
        }
        let none = WorkflowInfo::named("bare".into(), "1".into());
        let err = none
            .check_params(&params(&[("a", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown parameter \"a\": it declares none"),
            "{err}"
        );
    }

    #[test]
    fn the_graph_reads_back() {
        let info = info();
        let back = WorkflowInfo::named("w".into(), "1".into())
            .with_graph(&info.graph_json())
            .unwrap();
        assert_eq!(back, info);
        let err = WorkflowInfo::named("w".into(), "1".into())
            .with_graph("{\"steps\": 3}")
            .unwrap_err();
        assert!(err.starts_with("workflow \"w\": its graph: "), "{err}");
    }
}
