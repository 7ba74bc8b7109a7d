//! The types a workflow's parameter may declare, and the check of a value
//! against one: the same check wherever a run starts (a pipeline file's
//! `--param`, the server's API and page, a webhook), before the run exists.

use std::fmt;

/// The type of a declared parameter. Values travel as text; the type says
/// which texts are values of it.
///
/// ```
/// use etl_rules::ParamType;
/// assert_eq!(ParamType::Int.check("42"), Ok(()));
/// assert!(ParamType::Int.check("abc").unwrap_err().contains("a whole number"));
/// assert!(ParamType::Int.check("99999999999999999999").is_err());
/// assert!(ParamType::Date.check("2024-02-30").is_err());
/// assert_eq!(ParamType::parse("bool"), Some(ParamType::Bool));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ParamType {
    /// Any text (`string` in files and documents). Not named `String`:
    /// a variant of that name, reachable from every workflow, makes rustc
    /// write `std::string::String` in users' type errors.
    #[default]
    Text,
    /// A whole number of 64 bits (`-9223372036854775808` to
    /// `9223372036854775807`).
    Int,
    /// `true` or `false`.
    Bool,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

impl ParamType {
    /// Every type, in the order their names are listed.
    pub const ALL: [ParamType; 4] = [
        ParamType::Text,
        ParamType::Int,
        ParamType::Bool,
        ParamType::Date,
    ];

    /// Its name in files and documents: `string`, `int`, `bool`, `date`.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Text => "string",
            ParamType::Int => "int",
            ParamType::Bool => "bool",
            ParamType::Date => "date",
        }
    }

    /// The type named `name` ([`ParamType::name`]).
    pub fn parse(name: &str) -> Option<ParamType> {
        ParamType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// What a value of it is, for messages: "a whole number".
    pub fn described(self) -> &'static str {
        match self {
            ParamType::Text => "text",
            ParamType::Int => "a whole number of 64 bits",
            ParamType::Bool => "true or false",
            ParamType::Date => "a date (YYYY-MM-DD)",
        }
    }

    /// Whether `value` is a value of this type; the error says what it
    /// should be, quoting at most 40 characters of it.
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            ParamType::Text => true,
            ParamType::Int => value.parse::<i64>().is_ok(),
            ParamType::Bool => matches!(value, "true" | "false"),
            ParamType::Date => is_date(value),
        };
        if ok {
            return Ok(());
        }
        let shown: String = value.chars().take(40).collect();
        let more = if value.chars().count() > 40 {
            "…"
        } else {
            ""
        };
        Err(format!("{shown:?}{more} is not {}", self.described()))
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `YYYY-MM-DD`, a day that exists (leap years counted).
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r.clone()].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let number = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_type() {
        for (kind, good, bad) in [
            (
                ParamType::Int,
                &["0", "-9223372036854775808", "9223372036854775807"][..],
                &["abc", "1.5", "9223372036854775808", "", " 1", "0x10"][..],
            ),
            (
                ParamType::Bool,
                &["true", "false"],
                &["True", "1", "yes", ""],
            ),
            (
                ParamType::Date,
                &["2024-02-29", "2000-02-29", "1999-12-31"],
                &[
                    "2023-02-29",
                    "1900-02-29",
                    "2024-13-01",
                    "2024-00-10",
                    "2024-1-01",
                    "24-01-01",
                    "2024-01-32",
                    "２０２４-01-01",
                ],
            ),
            (ParamType::Text, &["", "anything \0 at all"], &[]),
        ] {
            for value in good {
                assert_eq!(kind.check(value), Ok(()), "{kind} {value:?}");
            }
            for value in bad {
                let err = kind.check(value).unwrap_err();
                assert!(err.contains(kind.described()), "{kind} {value:?}: {err}");
            }
        }
        let long = "x".repeat(1000);
        assert!(ParamType::Int.check(&long).unwrap_err().len() < 100);
        for kind in ParamType::ALL {
            assert_eq!(ParamType::parse(kind.name()), Some(kind));
        }
    }
}
