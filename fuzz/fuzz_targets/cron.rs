//! Cron expressions: parsing, and the next tick after a few instants.
#![no_main]

use etl_core::dag::{CivilTime, Cron};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cron) = Cron::parse(text) {
        for start in [
            CivilTime::date(2024, 2, 29).at(23, 59, 59),
            CivilTime::date(1970, 1, 1),
            CivilTime::date(9999, 12, 31).at(23, 59, 59),
        ] {
            if let Some(next) = cron.next_after(start) {
                assert!(next > start, "{text:?}: {next:?} is not after {start:?}");
            }
        }
    }
});
