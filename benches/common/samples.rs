//! Seconds of each measured path, kept as criterion runs so that a bench
//! can print the medians and their ratios last. Included by `load.rs` and
//! `postgres.rs` with `#[path]`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

static SECONDS: Mutex<BTreeMap<&'static str, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// Keeps one sample of `name`.
pub(crate) fn record(name: &'static str, elapsed: Duration) {
    SECONDS
        .lock()
        .unwrap()
        .entry(name)
        .or_default()
        .push(elapsed.as_secs_f64());
}

/// The median seconds of `name`'s samples, if it has any.
pub(crate) fn median(name: &str) -> Option<f64> {
    let mut samples = SECONDS.lock().unwrap().get(name)?.clone();
    samples.sort_by(f64::total_cmp);
    Some(samples[samples.len() / 2])
}
