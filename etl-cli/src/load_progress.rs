//! [`LoadProgress`]: the terminal view of an `ETLWorkflow`'s load, a line
//! per table, for any program that runs one.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etl_core::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A line per table as `ETLWorkflow` loads them: waiting, rows so far, then
/// rows and seconds (or failed). On a terminal the lines redraw in place;
/// elsewhere (a log file, CI) a plain line is printed as each table starts
/// and ends.
///
/// ```no_run
/// # async fn sync<E: etl_core::Extractor, W: etl_core::Warehouse + 'static>(extractor: E, warehouse: W) -> etl_core::Result<()> {
/// let progress = etl_cli::LoadProgress::new();
/// let report = etl_core::ETLWorkflow::new(extractor, warehouse)
///     .on_progress(progress.listener())
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LoadProgress {
    live: Option<MultiProgress>,
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
}

impl std::fmt::Debug for LoadProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadProgress")
            .field("live", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for LoadProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadProgress {
    /// Live lines on a terminal, plain lines elsewhere.
    pub fn new() -> Self {
        let live = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        LoadProgress {
            live,
            bars: Arc::default(),
        }
    }

    /// What to give `ETLWorkflow::on_progress`.
    pub fn listener(&self) -> impl Fn(Progress<'_>) + Send + Sync + 'static {
        let view = self.clone();
        move |event| view.show(event)
    }

    /// Shows one event.
    pub fn show(&self, event: Progress<'_>) {
        let Some(multi) = &self.live else {
            match event {
                Progress::Started { table } => eprintln!("{table}: loading"),
                Progress::Finished { report } => match &report.error {
                    None => eprintln!(
                        "{}: {} rows in {:.1} s",
                        report.table, report.rows, report.seconds
                    ),
                    Some(error) => eprintln!("{}: failed: {error}", report.table),
                },
                _ => {}
            }
            return;
        };
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Progress::Planned { tables } => {
                let width = tables
                    .iter()
                    .map(|t| t.name().chars().count())
                    .max()
                    .unwrap_or(0);
                let style = ProgressStyle::with_template(&format!(
                    "{{spinner}} {{prefix:{width}}}  {{msg}}"
                ))
                .expect("a valid template");
                for table in tables {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(table.name().to_owned());
                    bar.set_message("waiting");
                    bars.insert(table.name().to_owned(), bar);
                }
            }
            Progress::Started { table } => {
                if let Some(bar) = bars.get(table) {
                    bar.set_message("fetching…");
                    bar.enable_steady_tick(Duration::from_millis(100));
                }
            }
            Progress::Rows { table, rows } => {
                if let Some(bar) = bars.get(table) {
                    bar.set_message(format!("{rows} rows"));
                }
            }
            Progress::Finished { report } => {
                if let Some(bar) = bars.get(&report.table) {
                    let message = match &report.error {
                        None => format!("{} rows in {:.1} s  ✓", report.rows, report.seconds),
                        Some(_) => "failed  ✗".to_owned(),
                    };
                    bar.finish_with_message(message);
                }
            }
            _ => {}
        }
    }
}
