//! The rules of etl workflows, in one place: durations (`"2m"`, `"1h30m"`),
//! backoffs (`"exponential 500ms"`) and their jitter, cron expressions
//! (`"0 6 * * *"`), run ids, parameter types, and the checks of a
//! workflow's graph (duplicate steps, unknown dependencies, cycles).
//!
//! `#[workflow]` applies them at compile time and the runtime's
//! `Dag::builder` when a workflow is built, from this one crate, so both
//! refuse the same things with the same words. Standard library only: a
//! proc-macro's dependencies are built for the host, before anything else.
//!
//! ```
//! use etl_rules::{Backoff, Cron, parse_duration};
//! use std::time::Duration;
//!
//! assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
//! assert_eq!(Backoff::parse("fixed 5s"), Ok(Backoff::Fixed(Duration::from_secs(5))));
//! let err = Cron::parse("0 25 * * *").unwrap_err();
//! assert!(err.contains("hour field \"25\": 25 is out of range 0-23"), "{err}");
//! ```

mod backoff;
mod cron;
mod duration;
pub mod graph;
mod id;
mod param;
pub mod text;
#[cfg(feature = "chrono")]
pub mod time;

pub use backoff::{Backoff, jitter};
pub use cron::{Cron, CronDay};
pub use duration::{format_duration, parse_duration};
pub use id::{MAX_RUN_ID_LEN, check_run_id, new_id};
pub use param::ParamType;
