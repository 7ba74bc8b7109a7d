//! Run orchestration, as a library: what a command line, a server and a
//! worker all need of runs, as functions that return values.
//!
//! - [`StateStore`]: the record of every run and step, behind a trait;
//!   [`state::SqliteStore`] is the embedded default (one SQLite file);
//!   `postgres::PgStore` (feature `postgres`) shares runs between machines.
//! - [`Runs`]: a new run (all steps, some, or from a step on, the others'
//!   outputs reused), one step of a run shared between processes (what an
//!   Airflow task runs), resuming a run, and the check before a scheduled
//!   tick; each watched by an [`Observer`].
//! - [`Worker`]: claims the steps of queued runs ([`Runs::enqueue`]) from
//!   the store and runs them; many workers on many machines share one queue.
//! - [`outputs`]: where step outputs are saved, a folder or a bucket
//!   (`s3://`, `gs://`, `az://`, with the `object-store` feature).
//! - [`registry`]: the workflows registered with a store (graph,
//!   parameters, schedule), enabled, disabled or deleted.
//! - [`schedule`]: a cron expression in a time zone, its next tick and the
//!   ticks missed.
//! - [`airflow`]: the workflow as an Airflow DAG file; [`prefect`]: as a
//!   Prefect 3 flow file.
//!
//! Nothing here prints, parses arguments or exits: `etl-cli` does, over
//! this crate.

pub mod airflow;
mod error;
pub mod outputs;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod prefect;
pub mod registry;
mod runs;
pub mod schedule;
pub mod state;
mod store;
pub mod worker;

pub use error::{Error, Result};
pub use etl_dag::{NoObserver, Observer};
pub use runs::{CANCEL_POLL, NewRun, ResumePlan, Runs, StepRun, check_step};
pub use store::{
    Claim, EventRecorder, MAX_LOST_ATTEMPTS, RunQuery, STEP_SECONDS_BUCKETS, StateStore,
    StoreFuture, StoreMetrics, open, open_sized, open_with, postgres_url,
};
pub use worker::{Worker, WorkerReport};
