//! Times as the state store writes them: etl's one timestamp format
//! ([`etl_rules::time`]), UTC RFC 3339 to the microsecond, which sorts as
//! text.

use std::time::SystemTime;

/// `t` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn to_text(t: SystemTime) -> String {
    etl_rules::time::format(t)
}

/// The time [`to_text`] wrote (or an older store's milliseconds); `None` for
/// other text.
pub fn from_text(text: &str) -> Option<SystemTime> {
    etl_rules::time::parse(text)
}
