//! `/api/workers`: workers that reach the store only through the server
//! (`worker --server URL`), so that their machines hold no database
//! credentials.
//!
//! A worker opens a session (`POST /api/workers`), and the server opens a
//! store handle of its own for it: the session's claims, leases and fencing
//! are that handle's, exactly as a worker process with the database URL
//! would have (a PostgreSQL lease renewed while the session lives; a SQLite
//! lock file). Each call of the worker (`POST /api/workers/{id}`: claim
//! steps, record step events, settle a run…) goes through that handle. A
//! session with no call for [`Workers::idle`] is dropped as a dead process
//! is: its lease runs out, and what it held goes back to the queue.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use etl_dag::{StepEvent, StepStatus};
use etl_runs::StateStore;
use etl_runs::registry::WorkflowInfo;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::App;
use super::error::{ApiError, ApiResult, Body, Path};
use crate::views::ErrorBody;

/// What opens a new handle on the store, one per worker session.
pub type OpenStore = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = etl_runs::Result<Arc<dyn StateStore>>> + Send>>
        + Send
        + Sync,
>;

/// Workers through the server: how their sessions' store handles are
/// opened, and how long a silent session lives.
#[derive(Clone)]
pub struct Workers {
    pub(crate) open: OpenStore,
    pub(crate) idle: Duration,
    pub(crate) token: Option<String>,
    pub(crate) most: usize,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl Workers {
    /// Sessions whose handles `open` opens (each as another process would:
    /// `etl_runs::open(location, …)`), dropped after 30 s without a call.
    pub fn new(open: OpenStore) -> Workers {
        Workers {
            open,
            idle: Duration::from_secs(30),
            token: None,
            most: 32,
        }
    }

    /// Holds at most `n` sessions at once (default 32): each is a store
    /// handle, with its database connections (`serve --workers` opens two
    /// a session: 64 at most, within PostgreSQL's default 100); one more is
    /// refused (503).
    pub fn most(mut self, n: usize) -> Workers {
        self.most = n.max(1);
        self
    }

    /// Drops a session after `idle` without a call (a worker calls at
    /// least every third of it).
    pub fn idle(mut self, idle: Duration) -> Workers {
        self.idle = idle.max(Duration::from_millis(300));
        self
    }

    /// Workers prove themselves with `token` (or the server's own token).
    pub fn token(mut self, token: impl Into<String>) -> Workers {
        self.token = Some(token.into());
        self
    }
}

struct Session {
    store: Arc<dyn StateStore>,
    recorder: Arc<dyn etl_runs::EventRecorder>,
    seen: Instant,
}

/// The open sessions.
#[derive(Default)]
pub(crate) struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Drops the sessions silent for longer than `idle`; how many.
    pub(crate) fn sweep(&self, idle: Duration) -> usize {
        let mut open = self.open.lock().expect("sessions");
        let before = open.len();
        open.retain(|id, s| {
            let alive = s.seen.elapsed() <= idle;
            if !alive {
                tracing::warn!(worker = %id, "a worker session fell silent; dropped as a dead worker");
            }
            alive
        });
        before - open.len()
    }

    fn get(&self, id: &str) -> ApiResult<(Arc<dyn StateStore>, Arc<dyn etl_runs::EventRecorder>)> {
        let mut open = self.open.lock().expect("sessions");
        let session = open.get_mut(id).ok_or_else(|| {
            ApiError::not_found(format!(
                "no worker session {id:?}: it ended or fell silent (what it held went back to the queue); open a new one"
            ))
        })?;
        session.seen = Instant::now();
        Ok((session.store.clone(), session.recorder.clone()))
    }
}

/// A new session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SessionOpened {
    /// The session's id: `POST /api/workers/{worker_id}` calls go through it.
    pub worker_id: String,
    /// Call at least this often (a heartbeat when idle), in milliseconds.
    pub heartbeat_ms: u64,
}

/// A step claimed for a worker.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ClaimWire {
    /// The run.
    pub run_id: String,
    /// The step.
    pub step: String,
    /// The run's parameters.
    pub params: BTreeMap<String, String>,
    /// Its attempts so far.
    pub attempts: u32,
}

/// A step's change, as a worker's runner saw it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventWire {
    /// The run.
    pub run_id: String,
    /// The step.
    pub step: String,
    /// Its new status.
    #[schema(schema_with = statuses)]
    pub status: String,
    /// The attempt.
    #[serde(deserialize_with = "count::whole")]
    #[schema(schema_with = count::schema)]
    pub attempt: u32,
    /// Why it failed.
    pub error: Option<String>,
    /// Its output's rows.
    #[serde(default, deserialize_with = "count::maybe")]
    #[schema(schema_with = count::maybe_schema)]
    pub rows: Option<u64>,
    /// Where its output was saved.
    pub output: Option<String>,
}

/// A recorded step, as the store has it (times as RFC 3339).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct StepWire {
    /// The step.
    pub step: String,
    /// Its status.
    pub status: String,
    /// Its attempts.
    pub attempts: u32,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Its output's rows.
    pub rows: Option<u64>,
    /// Where its output was saved.
    pub output: Option<String>,
    /// The run whose output it reused.
    pub reused_from: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One call of a worker through its session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "call", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum WorkerCall {
    /// Nothing: keeps the session (and its lease) alive.
    Heartbeat,
    /// Registers a workflow (its graph as the stores keep it).
    Register {
        /// The workflow.
        name: String,
        /// The program's version.
        version: String,
        /// Its graph and parameters ([`WorkflowInfo::graph_json`]).
        graph: String,
        /// Its cron expression.
        schedule: Option<String>,
        /// Its schedule's zone.
        zone: Option<String>,
    },
    /// Claims up to `limit` runnable steps of `workflow`.
    Claim {
        /// The workflow.
        workflow: String,
        /// The most steps (1,024 are claimed at most).
        #[serde(deserialize_with = "count::whole")]
        #[schema(schema_with = count::schema)]
        limit: usize,
    },
    /// The steps of a run.
    Steps {
        /// The run.
        run_id: String,
    },
    /// Records step events, in order.
    Events {
        /// The events.
        events: Vec<EventWire>,
    },
    /// Settles a run from its steps.
    Settle {
        /// The run.
        run_id: String,
    },
    /// Skips the still PENDING `steps` of a run.
    Skip {
        /// The run.
        run_id: String,
        /// The steps.
        steps: Vec<String>,
        /// Why.
        why: String,
    },
    /// Fails a step that could not run.
    FailStep {
        /// The run.
        run_id: String,
        /// The step.
        step: String,
        /// Why.
        why: String,
    },
    /// Puts a step this session holds back in the queue.
    Release {
        /// The run.
        run_id: String,
        /// The step.
        step: String,
        /// Why.
        why: String,
    },
    /// Whether a run was asked to stop.
    CancelRequested {
        /// The run.
        run_id: String,
    },
    /// Fails what this session holds; the runs touched.
    FailUnfinished {
        /// Why.
        why: String,
    },
}

/// The answer to a [`WorkerCall`].
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub(crate) enum WorkerAnswer {
    /// Done.
    Done,
    /// The claimed steps.
    Claims {
        /// They.
        claims: Vec<ClaimWire>,
    },
    /// A run's steps.
    Steps {
        /// They.
        steps: Vec<StepWire>,
    },
    /// A run's status.
    Status {
        /// It.
        status: String,
    },
    /// Yes or no.
    Flag {
        /// It.
        value: bool,
    },
    /// Runs.
    Runs {
        /// Their ids.
        runs: Vec<String>,
    },
}

fn status(text: &str) -> ApiResult<StepStatus> {
    StepStatus::parse(text).ok_or_else(|| ApiError::bad_request(format!("unknown status {text:?}")))
}

/// The statuses a step event may carry.
fn statuses() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(StepStatus::ALL.map(|s| s.as_str())))
        .build()
}

/// Counts on the wire (an attempt, rows, a limit): any whole number from 0,
/// as the document says; one past what the count's type holds is taken as
/// the largest it holds (JSON numbers have no bound, and a count that large
/// means as many as can be).
mod count {
    use serde::Deserializer;
    use utoipa::openapi::schema::{ObjectBuilder, Type};

    struct Whole;

    impl serde::de::Visitor<'_> for Whole {
        type Value = u64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number from 0")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative: a count is from 0")))
        }
        // A number past 64 bits: JSON reads it as a float.
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            if v >= 0.0 && v.fract() == 0.0 {
                Ok(v as u64)
            } else {
                Err(E::custom(format!("{v} is not a whole number from 0")))
            }
        }
    }

    pub(super) fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64> + Bounded>(
        d: D,
    ) -> Result<T, D::Error> {
        let n = d.deserialize_any(Whole)?;
        Ok(T::try_from(n).unwrap_or(T::MAX))
    }

    pub(super) fn maybe<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        struct Maybe;
        impl<'de> serde::de::Visitor<'de> for Maybe {
            type Value = Option<u64>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("null or a whole number from 0")
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(Whole).map(Some)
            }
        }
        d.deserialize_option(Maybe)
    }

    /// The largest value of a count's type.
    pub(super) trait Bounded {
        const MAX: Self;
    }
    impl Bounded for u32 {
        const MAX: u32 = u32::MAX;
    }
    impl Bounded for usize {
        const MAX: usize = usize::MAX;
    }

    pub(super) fn schema() -> utoipa::openapi::Object {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .build()
    }

    pub(super) fn maybe_schema() -> utoipa::openapi::Object {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::Integer,
                Type::Null,
            ]))
            .minimum(Some(0))
            .build()
    }
}

fn no_workers() -> ApiError {
    ApiError::not_found(
        "this server takes no workers: start it with workers allowed (serve --workers)",
    )
}

/// Opens a worker session, with a store handle of its own.
#[utoipa::path(post, path = "/api/workers", tag = "workers",
    responses((status = 201, body = SessionOpened), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "The server holds as many worker sessions as it takes")),
    security(("worker_token" = [])))]
pub(crate) async fn open(State(app): State<App>) -> ApiResult<(StatusCode, Json<SessionOpened>)> {
    let workers = app.workers.as_ref().ok_or_else(no_workers)?;
    // Full: too many sessions, a limit the workers meet, not a fault.
    if app.sessions.open.lock().expect("sessions").len() >= workers.most {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "this server holds {} worker sessions, the most it takes: stop a worker, or wait for a silent one to be dropped",
                workers.most
            ),
        ));
    }
    let store = (workers.open)().await?;
    let recorder = store.recorder()?;
    let worker_id = etl_dag::new_run_id();
    app.sessions.open.lock().expect("sessions").insert(
        worker_id.clone(),
        Session {
            store,
            recorder,
            seen: Instant::now(),
        },
    );
    tracing::info!(worker = %worker_id, "a worker session opened");
    Ok((
        StatusCode::CREATED,
        Json(SessionOpened {
            worker_id,
            heartbeat_ms: (workers.idle / 4).as_millis() as u64,
        }),
    ))
}

/// Ends a worker session: its handle closes, and a lease it held is given
/// up at once.
#[utoipa::path(delete, path = "/api/workers/{worker_id}", tag = "workers",
    params(("worker_id" = String, Path, description = "The session")),
    responses((status = 200, body = WorkerAnswer),
        (status = 404, body = ErrorBody, description = "No such session (it ended or fell silent), or the server takes no workers")),
    security(("worker_token" = [])))]
pub(crate) async fn close(
    State(app): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkerAnswer>> {
    let session = app.sessions.open.lock().expect("sessions").remove(&id);
    match session {
        Some(session) => {
            session.recorder.flush().await?;
            tracing::info!(worker = %id, "a worker session closed");
            Ok(Json(WorkerAnswer::Done))
        }
        None => Err(ApiError::not_found(format!("no worker session {id:?}"))),
    }
}

/// One call of a worker, through its session's store handle.
#[utoipa::path(post, path = "/api/workers/{worker_id}", tag = "workers",
    params(("worker_id" = String, Path, description = "The session")),
    request_body = WorkerCall,
    responses((status = 200, body = WorkerAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such session (it ended or fell silent), or the server takes no workers")),
    security(("worker_token" = [])))]
pub(crate) async fn call(
    State(app): State<App>,
    Path(id): Path<String>,
    Body(call): Body<WorkerCall>,
) -> ApiResult<Json<WorkerAnswer>> {
    let (store, recorder) = app.sessions.get(&id)?;
    let answer = match call {
        WorkerCall::Heartbeat => WorkerAnswer::Done,
        WorkerCall::Register {
            name,
            version,
            graph,
            schedule,
            zone,
        } => {
            let info = WorkflowInfo::from_graph_json(name, version, &graph)
                .map_err(ApiError::bad_request)?
                .scheduled(schedule.as_deref(), zone.as_deref());
            store.register_workflow(&info).await?;
            WorkerAnswer::Done
        }
        WorkerCall::Claim { workflow, limit } => {
            let claims = store.claim_steps(&workflow, limit.min(1024)).await?;
            WorkerAnswer::Claims {
                claims: claims
                    .into_iter()
                    .map(|c| ClaimWire {
                        run_id: c.run_id,
                        step: c.step,
                        params: c.params,
                        attempts: c.attempts,
                    })
                    .collect(),
            }
        }
        WorkerCall::Steps { run_id } => {
            let text = |t: Option<std::time::SystemTime>| t.map(etl_runs::state::time::to_text);
            WorkerAnswer::Steps {
                steps: store
                    .steps(&run_id)
                    .await?
                    .into_iter()
                    .map(|s| StepWire {
                        status: s.status.as_str().to_owned(),
                        attempts: s.attempts,
                        started_at: text(s.started_at),
                        finished_at: text(s.finished_at),
                        rows: s.rows,
                        output: s.output,
                        reused_from: s.reused_from,
                        error: s.error,
                        step: s.step,
                    })
                    .collect(),
            }
        }
        WorkerCall::Events { events } => {
            for e in &events {
                let event = StepEvent::new(&e.run_id, &e.step, status(&e.status)?, e.attempt)
                    .with_error(e.error.as_deref())
                    .with_rows(e.rows)
                    .with_output(e.output.as_deref());
                recorder.record(&event);
            }
            recorder.flush().await?;
            WorkerAnswer::Done
        }
        WorkerCall::Settle { run_id } => WorkerAnswer::Status {
            status: store.settle_run(&run_id).await?.as_str().to_owned(),
        },
        WorkerCall::Skip { run_id, steps, why } => {
            store.skip_steps(&run_id, &steps, &why).await?;
            WorkerAnswer::Done
        }
        WorkerCall::FailStep { run_id, step, why } => {
            store.fail_step(&run_id, &step, &why).await?;
            WorkerAnswer::Done
        }
        WorkerCall::Release { run_id, step, why } => {
            store.release_step(&run_id, &step, &why).await?;
            WorkerAnswer::Done
        }
        WorkerCall::CancelRequested { run_id } => WorkerAnswer::Flag {
            value: store.cancel_requested(&run_id).await?,
        },
        WorkerCall::FailUnfinished { why } => WorkerAnswer::Runs {
            runs: store.fail_unfinished(&why).await?,
        },
    };
    Ok(Json(answer))
}
