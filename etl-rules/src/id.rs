//! Run ids: [`new_id`] makes one, [`check_run_id`] checks one given from
//! outside.

use std::time::SystemTime;

/// A new id, unique across processes: the time in microseconds, the process
/// id and a counter, in hex (`660f4f5e8234d-02d5e-0000`). Ids sort by the
/// time they were made.
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let micros = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    format!(
        "{micros:013x}-{:05x}-{:04x}",
        std::process::id() & 0xf_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

/// The longest run id taken.
pub const MAX_RUN_ID_LEN: usize = 250;

/// Checks a run id given from outside (`--run-id`, Airflow's `run_id`): 1 to
/// 250 characters of ASCII letters, digits and `-_.:+~@`, not starting with
/// `.`. A run id names a folder of saved outputs, so `/`, `\`, `..` and
/// control characters, which could point elsewhere, are refused. Airflow's
/// own ids (`manual__2024-01-01T00:00:00+00:00`) pass.
///
/// ```
/// use etl_rules::check_run_id;
///
/// assert!(check_run_id("manual__2024-01-01T00:00:00+00:00").is_ok());
/// assert!(check_run_id("../../etc").is_err());
/// assert!(check_run_id("/tmp/x").is_err());
/// ```
pub fn check_run_id(id: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "run id {:?}: {why}",
            id.chars().take(60).collect::<String>()
        ))
    };
    if id.is_empty() {
        return refuse("it is empty");
    }
    if id.len() > MAX_RUN_ID_LEN {
        return refuse(&format!("it is longer than {MAX_RUN_ID_LEN} characters"));
    }
    if id.starts_with('.') {
        return refuse("it starts with '.'");
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:+~@".contains(*c)))
    {
        return refuse(&format!(
            "{c:?} is not allowed (letters, digits and -_.:+~@ are; a run id names a folder)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_valid_distinct_and_sort_by_time() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(a < b || a[..13] == b[..13], "{a} {b}");
        assert_eq!(check_run_id(&a), Ok(()));
    }
}
