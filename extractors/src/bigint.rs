//! Integers past the 64-bit range in JSON, kept exact: a JSON parser reads
//! them as floats (rounded), so before parsing they become strings of
//! their digits, which land in text columns as written. Numbers past a
//! 64-bit float (`1e400`) are found, to be refused.

/// Each number literal's byte range, outside strings.
fn numbers(json: &[u8]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < json.len() {
            match json[i] {
                b'"' => {
                    // Skip the string, escapes included.
                    i += 1;
                    while i < json.len() && json[i] != b'"' {
                        i += if json[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < json.len()
                        && matches!(json[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    {
                        i += 1;
                    }
                    return Some(start..i);
                }
                _ => i += 1,
            }
        }
        None
    })
}

/// The first number literal too large for a 64-bit float (`1e400`), as
/// written. A JSON parser refuses it, but Arrow's decoder reads it as
/// infinity: the value would change without a word. (Integers past 64 bits
/// become text first, see [`big_integers_as_text`]; only a literal with a
/// fraction or an exponent is looked at here.)
pub(crate) fn number_out_of_range(json: &[u8]) -> Option<String> {
    numbers(json)
        .map(|token| &json[token])
        .filter(|token| token.iter().any(|b| matches!(b, b'.' | b'e' | b'E')))
        .filter(|token| token.len() > 300 || token.iter().any(|b| matches!(b, b'e' | b'E')))
        .find(|token| {
            std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_infinite)
        })
        .map(|token| String::from_utf8_lossy(token).into_owned())
}

/// The JSON text with every integer literal past the 64-bit signed range
/// written as a string of its digits, so that parsing keeps it exact: a
/// JSON parser reads such a number as a float (rounded), or an unsigned
/// one that no Int64 column holds. The column it lands in becomes text
/// (or, mixed with other numbers, each value's text), as written. Only
/// numbers are touched, never text inside strings; the input is returned
/// as it is when it has no such number (the common case: one scan).
pub(crate) fn big_integers_as_text(json: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let found = numbers(json)
        .filter(|token| {
            let integer = !json[token.clone()]
                .iter()
                .any(|b| matches!(b, b'.' | b'e' | b'E'));
            integer
                && token.len() >= 19
                && std::str::from_utf8(&json[token.clone()])
                    .is_ok_and(|t| t.parse::<i64>().is_err())
        })
        .map(|token| (token.start, token.end))
        .collect::<Vec<_>>();
    if found.is_empty() {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = Vec::with_capacity(json.len() + 2 * found.len());
    let mut at = 0;
    for (start, end) in found {
        out.extend_from_slice(&json[at..start]);
        out.push(b'"');
        out.extend_from_slice(&json[start..end]);
        out.push(b'"');
        at = end;
    }
    out.extend_from_slice(&json[at..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn integers_past_64_bits_become_their_digits_as_text() {
        let body = br#"{"data": [{"id": 1, "big": 18446744073709551617, "u": 9223372036854775808, "neg": -9223372036854775809, "max": 9223372036854775807, "s": "123456789012345678901234", "esc": "a\"18446744073709551617"}]}"#;
        let text = String::from_utf8(big_integers_as_text(body).into_owned()).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let record = &value["data"][0];
        assert_eq!(record["big"], json!("18446744073709551617"));
        assert_eq!(record["u"], json!("9223372036854775808"));
        assert_eq!(record["neg"], json!("-9223372036854775809"));
        assert_eq!(record["max"], json!(9223372036854775807_i64));
        assert_eq!(record["s"], json!("123456789012345678901234"));
        assert_eq!(record["esc"], json!("a\"18446744073709551617"));
        assert!(matches!(
            big_integers_as_text(b"[1, 2.5, -3]"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn numbers_past_a_float_are_found_and_others_are_not() {
        assert_eq!(
            number_out_of_range(br#"{"a": 1e400}"#),
            Some("1e400".into())
        );
        assert_eq!(
            number_out_of_range(br#"{"a": [-2E+309]}"#),
            Some("-2E+309".into())
        );
        let digits = format!("[{}.5]", "9".repeat(400));
        assert!(number_out_of_range(digits.as_bytes()).is_some());
        for fine in [
            &br#"{"a": 1e308, "b": 1e-400, "c": "1e400", "d": 18446744073709551617}"#[..],
            br#"{"e": "\"1e400"}"#,
        ] {
            assert_eq!(
                number_out_of_range(fine),
                None,
                "{}",
                String::from_utf8_lossy(fine)
            );
        }
    }
}
