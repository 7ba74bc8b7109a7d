//! What a run shows while it goes: [`Progress`]. `RUST_LOG` turns on
//! `tracing` logs, and then plain lines, so the two never draw over each
//! other.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::views::when;
use etl_dag::{StepEvent, StepStatus};
use etl_runs::Observer;

/// Sends `tracing` events to stderr, filtered by `RUST_LOG`, when it is set;
/// says whether it is.
pub(super) fn init_logging() -> bool {
    let Some(filter) = std::env::var_os("RUST_LOG").filter(|v| !v.is_empty()) else {
        return false;
    };
    let filter = tracing_subscriber::EnvFilter::new(filter.to_string_lossy());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours on a terminal only: log files get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .is_ok()
}

/// The terminal view of a run, for workflows and loads alike (it watches
/// the one event family of [`etl_dag::event`]): on a terminal, a line per
/// running step or table with its rows so far and time, and a line as each
/// ends; elsewhere (a log file, CI, cron's mail) a plain, timestamped line
/// per status change.
///
/// ```no_run
/// # async fn sync<E: etl_core::Extractor, W: etl_core::Warehouse + 'static>(extractor: E, warehouse: W) -> etl_core::Result<()> {
/// use std::sync::Arc;
///
/// let report = etl_core::ETLWorkflow::new(extractor, warehouse)
///     .observe(Arc::new(etl_cli::Progress::new()))
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
///
/// A workflow's runner takes it the same way (`dag.runner().observe(…)`);
/// the commands of [`main!`](crate::main!) draw with it.
pub struct Progress {
    live: Option<Live>,
}

struct Live {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("live", &self.live.is_some())
            .finish()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Live lines on a terminal, plain lines elsewhere.
    pub fn new() -> Self {
        Self::with_logging(false)
    }

    /// Plain lines, wherever stderr goes.
    pub fn plain() -> Self {
        Progress { live: None }
    }

    /// Live on a terminal unless `tracing` logs go there too (they would
    /// draw over each other), plain otherwise.
    pub(super) fn with_logging(logging: bool) -> Self {
        if std::io::stderr().is_terminal() && !logging {
            Progress {
                live: Some(Live {
                    multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                    bars: Mutex::new(HashMap::new()),
                }),
            }
        } else {
            Self::plain()
        }
    }

    /// The text after a step's name and status.
    fn detail(e: &StepEvent<'_>) -> String {
        let took = e
            .duration
            .map(|d| format!(" in {:.1} s", d.as_secs_f64()))
            .unwrap_or_default();
        match (e.status, e.error, e.rows) {
            (StepStatus::Running, _, _) if e.attempt > 1 => format!(" (attempt {})", e.attempt),
            (_, Some(error), _) => format!(": {error}"),
            (StepStatus::Succeeded, None, Some(rows)) => format!(", {rows} rows{took}"),
            (StepStatus::Succeeded, None, None) => took,
            _ => String::new(),
        }
    }

    fn draw_event(&self, e: &StepEvent<'_>) {
        // Planned steps are drawn as they start: a workflow of a thousand
        // steps would otherwise draw a thousand waiting lines.
        if e.status == StepStatus::Pending {
            return;
        }
        let detail = Self::detail(e);
        let Some(Live { multi, bars }) = &self.live else {
            eprintln!(
                "{} {} {}{detail}",
                when(SystemTime::now()),
                e.step,
                e.status
            );
            return;
        };
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        match e.status {
            StepStatus::Running | StepStatus::Retrying => {
                let bar = bars.entry(e.step.to_owned()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:20} {elapsed:>4} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(e.step.to_owned());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(format!("{}{detail}", e.status));
            }
            _ => {
                if let Some(bar) = bars.remove(e.step) {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                let mark = if e.status == StepStatus::Succeeded {
                    "✓"
                } else {
                    "✗"
                };
                let _ = multi.println(format!("{mark} {} {}{detail}", e.step, e.status));
            }
        }
    }

    fn draw_rows(&self, step: &str, rows: u64) {
        if let Some(Live { bars, .. }) = &self.live
            && let Some(bar) = bars.lock().unwrap_or_else(|p| p.into_inner()).get(step)
        {
            bar.set_message(format!("RUNNING, {rows} rows so far"));
        }
    }

    /// Clears what is still drawn.
    fn clear(&self) {
        if let Some(Live { multi, bars }) = &self.live {
            for (_, bar) in bars.lock().unwrap_or_else(|p| p.into_inner()).drain() {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }
}

impl Observer for Progress {
    fn event(&self, event: &StepEvent<'_>) {
        self.draw_event(event);
    }
    fn rows(&self, step: &str, rows: u64) {
        self.draw_rows(step, rows);
    }
    fn finish(&self) {
        self.clear();
    }
}
