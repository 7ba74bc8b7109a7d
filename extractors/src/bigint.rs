//! Integers past the 64-bit range in JSON, kept exact: a JSON parser reads
//! them as floats (rounded), so before parsing they become strings of
//! their digits, which land in text columns as written.

/// The JSON text with every integer literal past the 64-bit signed range
/// written as a string of its digits, so that parsing keeps it exact: a
/// JSON parser reads such a number as a float (rounded), or an unsigned
/// one that no Int64 column holds. The column it lands in becomes text
/// (or, mixed with other numbers, each value's text), as written. Only
/// numbers are touched, never text inside strings; the input is returned
/// as it is when it has no such number (the common case: one scan).
pub(crate) fn big_integers_as_text(json: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    /// Each big integer literal's byte range.
    fn big_integers(json: &[u8]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        let mut i = 0;
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
                    let token = &json[start..i];
                    let integer = !token.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
                    if integer
                        && token.len() >= 19
                        && std::str::from_utf8(token).is_ok_and(|t| t.parse::<i64>().is_err())
                    {
                        found.push((start, i));
                    }
                }
                _ => i += 1,
            }
        }
        found
    }
    let found = big_integers(json);
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

/// A line-by-line reader of JSON Lines text with [`big_integers_as_text`]
/// applied to each line, for Arrow's schema inference.
pub(crate) struct BigIntegersAsText<R> {
    inner: R,
    line: Vec<u8>,
    at: usize,
}

impl<R: std::io::BufRead> BigIntegersAsText<R> {
    pub(crate) fn new(inner: R) -> Self {
        BigIntegersAsText {
            inner,
            line: Vec::new(),
            at: 0,
        }
    }
}

impl<R: std::io::BufRead> std::io::Read for BigIntegersAsText<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = std::io::BufRead::fill_buf(self)?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        std::io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for BigIntegersAsText<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at == self.line.len() {
            let mut raw = Vec::new();
            self.inner.read_until(b'\n', &mut raw)?;
            self.line = big_integers_as_text(&raw).into_owned();
            self.at = 0;
        }
        Ok(&self.line[self.at..])
    }

    fn consume(&mut self, amount: usize) {
        self.at = (self.at + amount).min(self.line.len());
    }
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
    fn lines_are_rewritten_as_they_are_read() {
        use std::io::Read;
        let text = b"{\"a\": 99999999999999999999}\n{\"a\": 1}\n".as_slice();
        let mut out = String::new();
        BigIntegersAsText::new(text)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "{\"a\": \"99999999999999999999\"}\n{\"a\": 1}\n");
    }
}
