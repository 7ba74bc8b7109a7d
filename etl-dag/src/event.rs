//! What a run tells its watchers as it goes: one family of events for the
//! step [`Runner`](crate::Runner) and for a load of tables (`ETLWorkflow`).
//!
//! Each *unit* of a run (a step of a workflow, a table of a load) moves
//! through the statuses of [`StepStatus`]: PENDING when the run plans it,
//! RUNNING at each attempt, RETRYING after a failed one, then SUCCEEDED,
//! FAILED, SKIPPED or CANCELLED. Each change is a [`StepEvent`]; a running
//! unit also says how many rows it has handled so far. An [`Observer`] sees
//! both, and [`Listeners`] is how a runner keeps the watchers it was given,
//! so one terminal view or one recorder serves workflows and loads alike.

use std::sync::Arc;
use std::time::Duration;

use crate::StepStatus;

/// A unit of a run (a step, or a table of a load) changed status.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct StepEvent<'a> {
    /// The run.
    pub run_id: &'a str,
    /// The step, or for a load the table.
    pub step: &'a str,
    /// Its new status: PENDING once when the run plans it, RUNNING at each
    /// attempt, RETRYING after a failed one, then SUCCEEDED, FAILED, SKIPPED
    /// or CANCELLED.
    pub status: StepStatus,
    /// The attempt (from 1; 0 for a unit that never started).
    pub attempt: u32,
    /// The error of a failed attempt, or why the unit was skipped or cancelled.
    pub error: Option<&'a str>,
    /// SUCCEEDED: its rows (a step's output, when that is a table; a
    /// table's rows written).
    pub rows: Option<u64>,
    /// SUCCEEDED: where its output was saved, a path or a URL
    /// ([`Runner::save_outputs`](crate::Runner::save_outputs)).
    pub output: Option<&'a str>,
    /// SUCCEEDED and FAILED: how long it took, every attempt and the waits
    /// between them included.
    pub duration: Option<Duration>,
}

impl<'a> StepEvent<'a> {
    /// An event with no error, rows, output or duration.
    pub fn new(run_id: &'a str, step: &'a str, status: StepStatus, attempt: u32) -> Self {
        StepEvent {
            run_id,
            step,
            status,
            attempt,
            error: None,
            rows: None,
            output: None,
            duration: None,
        }
    }

    /// With the error of a failed attempt, or why the unit did not run.
    pub fn with_error(mut self, error: Option<&'a str>) -> Self {
        self.error = error;
        self
    }

    /// With its rows.
    pub fn with_rows(mut self, rows: Option<u64>) -> Self {
        self.rows = rows;
        self
    }

    /// With where its output was saved.
    pub fn with_output(mut self, output: Option<&'a str>) -> Self {
        self.output = output;
        self
    }

    /// With how long it took.
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }
}

/// Watches a run: a terminal view, a recorder, a test. Every method has a
/// default that ignores the call, so a watcher implements what it needs.
/// Calls come from the tasks the units run on: keep them quick.
pub trait Observer: Send + Sync {
    /// A unit changed status.
    fn event(&self, _event: &StepEvent<'_>) {}
    /// A running unit has handled `rows` rows so far.
    fn rows(&self, _step: &str, _rows: u64) {}
    /// The run ended: clear what is still drawn, flush what is buffered.
    fn finish(&self) {}
}

/// Watches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

impl<T: Observer + ?Sized> Observer for Arc<T> {
    fn event(&self, event: &StepEvent<'_>) {
        (**self).event(event)
    }
    fn rows(&self, step: &str, rows: u64) {
        (**self).rows(step, rows)
    }
    fn finish(&self) {
        (**self).finish()
    }
}

struct OnEvent<F>(F);

impl<F: Fn(&StepEvent<'_>) + Send + Sync> Observer for OnEvent<F> {
    fn event(&self, event: &StepEvent<'_>) {
        (self.0)(event)
    }
}

struct OnRows<F>(F);

impl<F: Fn(&str, u64) + Send + Sync> Observer for OnRows<F> {
    fn rows(&self, step: &str, rows: u64) {
        (self.0)(step, rows)
    }
}

/// The watchers of one run, each given every event: what a runner keeps of
/// its `on_event`, `on_progress` and `observe` calls.
#[derive(Clone, Default)]
pub struct Listeners(Vec<Arc<dyn Observer>>);

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Listeners({})", self.0.len())
    }
}

impl Listeners {
    /// Adds a watcher.
    pub fn observe(&mut self, observer: Arc<dyn Observer>) {
        self.0.push(observer);
    }

    /// Adds a function called with every status change.
    pub fn on_event(&mut self, f: impl Fn(&StepEvent<'_>) + Send + Sync + 'static) {
        self.0.push(Arc::new(OnEvent(f)));
    }

    /// Adds a function called with a unit's name and its rows so far.
    pub fn on_progress(&mut self, f: impl Fn(&str, u64) + Send + Sync + 'static) {
        self.0.push(Arc::new(OnRows(f)));
    }

    /// Whether there is no watcher.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Observer for Listeners {
    fn event(&self, event: &StepEvent<'_>) {
        for o in &self.0 {
            o.event(event);
        }
    }
    fn rows(&self, step: &str, rows: u64) {
        for o in &self.0 {
            o.rows(step, rows);
        }
    }
    fn finish(&self) {
        for o in &self.0 {
            o.finish();
        }
    }
}
