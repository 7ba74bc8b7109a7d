//! Quoting in CSV and TSV, checked as the bytes pass to Arrow's parser.
//!
//! Arrow's CSV parser is lenient where a lenient parser changes data
//! without a word: a quote that never closes swallows the rest of the file
//! into one field (the rows after it merge), and text after a closing quote
//! (`"ab"cd`) is glued on without the quotes. TSV has no quoting at all, so
//! a quote there is a character like any other, which the parser would
//! strip. [`QuoteGuard`] reads the bytes before the parser does and stops
//! the stream at the first of these, remembering the line, so the table
//! fails naming the file and line instead of loading something else.

use std::io::Read;
use std::sync::{Arc, OnceLock};

/// The byte Arrow's parser is given as its quote character for TSV: `0xFF`
/// never occurs in UTF-8 text, and [`QuoteGuard`] refuses it, so the
/// parser never sees a quote and every `"` stays in its field.
pub(crate) const TSV_QUOTE: u8 = 0xFF;

/// What the guard found wrong, where: (1-based line, message).
pub(crate) type Problem = Arc<OnceLock<(u64, String)>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field: a quote here opens a quoted field.
    FieldStart,
    /// Inside an unquoted field, where a quote is a plain character.
    Unquoted,
    /// Inside a quoted field, opened on `line`.
    Quoted { line: u64 },
    /// Just after a quote inside a quoted field: a second quote is an
    /// escaped quote, a delimiter or line end closes the field.
    QuoteInQuoted { line: u64 },
}

/// Reads `inner`, checking its quoting; see the [module docs](self).
pub(crate) struct QuoteGuard<R> {
    inner: R,
    delimiter: u8,
    /// TSV: no quoting, and `0xFF` refused.
    tsv: bool,
    state: State,
    line: u64,
    problem: Problem,
}

impl<R: Read> QuoteGuard<R> {
    /// A guard for CSV (quoted with `"`, doubled inside) or, when `tsv`,
    /// for TSV (no quoting); the problem it stops at goes to the returned cell.
    pub(crate) fn new(inner: R, delimiter: u8, tsv: bool) -> (Self, Problem) {
        let problem = Problem::default();
        let guard = QuoteGuard {
            inner,
            delimiter,
            tsv,
            state: State::FieldStart,
            line: 1,
            problem: problem.clone(),
        };
        (guard, problem)
    }

    fn fail(&self, line: u64, message: String) -> std::io::Error {
        let text = format!("line {line}: {message}");
        let _ = self.problem.set((line, message));
        std::io::Error::new(std::io::ErrorKind::InvalidData, text)
    }

    fn check(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        for &b in bytes {
            if self.tsv {
                if b == TSV_QUOTE {
                    return Err(self.fail(self.line, "the byte 0xFF is not UTF-8 text".into()));
                }
                if b == b'\n' {
                    self.line += 1;
                }
                continue;
            }
            let ends_field = b == self.delimiter || b == b'\n' || b == b'\r';
            self.state = match self.state {
                State::FieldStart if b == b'"' => State::Quoted { line: self.line },
                State::FieldStart | State::Unquoted if ends_field => State::FieldStart,
                State::FieldStart | State::Unquoted => State::Unquoted,
                State::Quoted { line } if b == b'"' => State::QuoteInQuoted { line },
                quoted @ State::Quoted { .. } => quoted,
                State::QuoteInQuoted { line } if b == b'"' => State::Quoted { line },
                State::QuoteInQuoted { .. } if ends_field => State::FieldStart,
                State::QuoteInQuoted { .. } => {
                    return Err(self.fail(
                        self.line,
                        format!(
                            "text after the closing quote of a field ({:?}); a quote inside a \
                             quoted field must be doubled (\"\")",
                            char::from(b)
                        ),
                    ));
                }
            };
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for QuoteGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.problem.get().is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the file's quoting is broken",
            ));
        }
        let n = self.inner.read(buf)?;
        self.check(&buf[..n])?;
        if n == 0
            && !buf.is_empty()
            && let State::Quoted { line } = self.state
        {
            return Err(self.fail(
                line,
                "a quoted field opens here and is never closed: the rest of the file \
                 would be one value"
                    .into(),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &[u8], tsv: bool) -> Result<Vec<u8>, (u64, String)> {
        let delimiter = if tsv { b'\t' } else { b',' };
        let (mut guard, problem) = QuoteGuard::new(text, delimiter, tsv);
        let mut out = Vec::new();
        match guard.read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(_) => Err(problem.get().cloned().expect("a problem")),
        }
    }

    #[test]
    fn well_quoted_csv_passes_whole() {
        let text = b"id,text\n1,\"a, \"\"b\"\"\nc\"\n2,ab\"c\n3,\"\"\r\n";
        assert_eq!(check(text, false).unwrap(), text);
    }

    #[test]
    fn a_quote_never_closed_names_the_line_it_opens_on() {
        let (line, message) = check(b"id,text\n1,ok\n2,\"open\n3,x\n", false).unwrap_err();
        assert_eq!(line, 3);
        assert!(message.contains("never closed"), "{message}");
    }

    #[test]
    fn text_after_a_closing_quote_is_refused() {
        let (line, message) = check(b"id,text\n1,\"ab\"cd\n", false).unwrap_err();
        assert_eq!(line, 2);
        assert!(message.contains("closing quote"), "{message}");
    }

    #[test]
    fn tsv_quotes_are_plain_characters_and_0xff_is_refused() {
        let text = b"id\ttext\n1\t\"quoted\"\n2\t\"open\n";
        assert_eq!(check(text, true).unwrap(), text);
        let (line, _) = check(b"id\n1\n\xff\n", true).unwrap_err();
        assert_eq!(line, 3);
    }
}
