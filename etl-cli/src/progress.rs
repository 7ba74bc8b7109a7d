//! What a run shows while it goes: on a terminal, a line per running step
//! with its rows so far and time; elsewhere (a log file, CI, cron's mail) a
//! plain line per status change. `RUST_LOG` turns on `tracing` logs, and
//! then plain lines, so the two never draw over each other.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::views::when;
use etl_dag::{StepEvent, StepStatus};
use etl_runs::RunObserver;

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

/// The view of one run.
pub(super) enum Progress {
    Live {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
    Plain,
}

impl Progress {
    /// Live on a terminal without logs, plain otherwise.
    pub(super) fn new(logging: bool) -> Arc<Progress> {
        Arc::new(if std::io::stderr().is_terminal() && !logging {
            Progress::Live {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Progress::Plain
        })
    }

    fn draw_event(&self, e: &StepEvent<'_>) {
        let detail = match (e.status, e.error, e.rows) {
            (StepStatus::Running, _, _) if e.attempt > 1 => format!(" (attempt {})", e.attempt),
            (_, Some(error), _) => format!(": {error}"),
            (StepStatus::Succeeded, None, Some(rows)) => format!(", {rows} rows"),
            _ => String::new(),
        };
        match self {
            Progress::Plain => {
                eprintln!(
                    "{} {} {}{detail}",
                    when(SystemTime::now()),
                    e.step,
                    e.status
                );
            }
            Progress::Live { multi, bars } => {
                let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                match e.status {
                    StepStatus::Running | StepStatus::Retrying => {
                        let bar = bars.entry(e.step.to_owned()).or_insert_with(|| {
                            let bar = multi.add(ProgressBar::new_spinner());
                            bar.set_style(
                                ProgressStyle::with_template(
                                    "{spinner} {prefix:20} {elapsed:>4} {msg}",
                                )
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
        }
    }

    pub(super) fn rows(&self, step: &str, rows: u64) {
        if let Progress::Live { bars, .. } = self
            && let Some(bar) = bars.lock().unwrap_or_else(|p| p.into_inner()).get(step)
        {
            bar.set_message(format!("RUNNING, {rows} rows so far"));
        }
    }

    /// Clears what is still drawn.
    pub(super) fn finish(&self) {
        if let Progress::Live { multi, bars } = self {
            for (_, bar) in bars.lock().unwrap_or_else(|p| p.into_inner()).drain() {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }
}

impl RunObserver for Progress {
    fn event(&self, event: &StepEvent<'_>) {
        self.draw_event(event);
    }
    fn rows(&self, step: &str, rows: u64) {
        Progress::rows(self, step, rows);
    }
    fn finish(&self) {
        Progress::finish(self);
    }
}
