//! Cron expressions: parsing, and the next tick after a few instants.
#![no_main]

use chrono::NaiveDate;
use etl_rules::Cron;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cron) = Cron::parse(text) {
        for (date, time) in [
            ((2024, 2, 29), (23, 59, 59)),
            ((1970, 1, 1), (0, 0, 0)),
            ((9999, 12, 31), (23, 59, 59)),
        ] {
            let start = NaiveDate::from_ymd_opt(date.0, date.1, date.2)
                .and_then(|d| d.and_hms_opt(time.0, time.1, time.2))
                .unwrap();
            if let Some(next) = cron.next_after_datetime(start) {
                assert!(next > start, "{text:?}: {next:?} is not after {start:?}");
            }
        }
    }
});
