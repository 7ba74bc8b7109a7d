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
//!
//! Arrow's parser also reads a quoted empty field (`""`) and an empty one
//! as the same empty text, which it loads as null. The guard remembers where
//! each `""` stood ([`QuotedEmpties`]), so that a text column gets the empty
//! string there and null only where nothing was written.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

/// The byte Arrow's parser is given as its quote character for TSV: `0xFF`
/// never occurs in UTF-8 text, and [`QuoteGuard`] refuses it, so the
/// parser never sees a quote and every `"` stays in its field.
pub(crate) const TSV_QUOTE: u8 = 0xFF;

/// What the guard found wrong, where: (1-based line, message).
pub(crate) type Problem = Arc<OnceLock<(u64, String)>>;

/// Where the quoted empty fields (`""`) stood, in file order: (0-based data
/// row, the header not counted; 0-based field). The guard reads ahead of
/// the parser, so every position of a row the parser has returned is here.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuotedEmpties(Arc<Mutex<VecDeque<(u64, usize)>>>);

impl QuotedEmpties {
    fn push(&self, row: u64, field: usize) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((row, field));
    }

    /// Takes the positions of rows before `end`.
    pub(crate) fn take_before(&self, end: u64) -> Vec<(u64, usize)> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = all.iter().take_while(|(row, _)| *row < end).count();
        all.drain(..n).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field: a quote here opens a quoted field.
    FieldStart,
    /// Inside an unquoted field, where a quote is a plain character.
    Unquoted,
    /// Inside a quoted field, opened on `line`; `empty` until a character
    /// of its own is read.
    Quoted { line: u64, empty: bool },
    /// Just after a quote inside a quoted field: a second quote is an
    /// escaped quote, a delimiter or line end closes the field.
    QuoteInQuoted { line: u64, empty: bool },
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
    /// The record being read (0 is the header) and its field, counted as
    /// Arrow's parser counts them: a line with nothing on it is no record.
    record: u64,
    field: usize,
    /// Whether the record has begun: a byte other than a line end was read.
    in_record: bool,
    empties: QuotedEmpties,
    /// A record whose first line is wanted, and that line once read.
    watch: Option<(u64, Option<u64>)>,
}

impl<R: Read> QuoteGuard<R> {
    /// A guard for CSV (quoted with `"`, doubled inside) or, when `tsv`,
    /// for TSV (no quoting); the problem it stops at goes to the returned
    /// cell, and where CSV's quoted empty fields stood to the returned list.
    pub(crate) fn new(inner: R, delimiter: u8, tsv: bool) -> (Self, Problem, QuotedEmpties) {
        let problem = Problem::default();
        let empties = QuotedEmpties::default();
        let guard = QuoteGuard {
            inner,
            delimiter,
            tsv,
            state: State::FieldStart,
            line: 1,
            problem: problem.clone(),
            record: 0,
            field: 0,
            in_record: false,
            empties: empties.clone(),
            watch: None,
        };
        (guard, problem, empties)
    }

    /// A quoted field has closed: remembered when it was `""`.
    fn closed(&mut self, empty: bool) {
        if empty && let Some(row) = self.record.checked_sub(1) {
            self.empties.push(row, self.field);
        }
    }

    fn fail(&self, line: u64, message: String) -> std::io::Error {
        let text = format!("line {line}: {message}");
        let _ = self.problem.set((line, message));
        std::io::Error::new(std::io::ErrorKind::InvalidData, text)
    }

    fn check(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        for &b in bytes {
            if self.tsv && b == TSV_QUOTE {
                return Err(self.fail(self.line, "the byte 0xFF is not UTF-8 text".into()));
            }
            let line_end = b == b'\n' || b == b'\r';
            let ends_field = b == self.delimiter || line_end;
            let line = self.line;
            self.state = match self.state {
                // TSV has no quoting: a quote is a character like any other.
                State::FieldStart if b == b'"' && !self.tsv => State::Quoted { line, empty: true },
                State::FieldStart | State::Unquoted if ends_field => State::FieldStart,
                State::FieldStart | State::Unquoted => State::Unquoted,
                State::Quoted { line, empty } if b == b'"' => State::QuoteInQuoted { line, empty },
                State::Quoted { line, .. } => State::Quoted { line, empty: false },
                State::QuoteInQuoted { line, .. } if b == b'"' => {
                    State::Quoted { line, empty: false }
                }
                State::QuoteInQuoted { empty, .. } if ends_field => {
                    self.closed(empty);
                    State::FieldStart
                }
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
            if self.state == State::FieldStart {
                if line_end {
                    if self.in_record {
                        self.record += 1;
                        self.field = 0;
                        self.in_record = false;
                    }
                } else {
                    // A delimiter: the next field begins.
                    self.field += 1;
                    self.in_record = true;
                }
            } else {
                self.in_record = true;
            }
            if let Some((record, found @ None)) = &mut self.watch
                && *record == self.record
                && self.in_record
            {
                *found = Some(self.line);
            }
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(())
    }
}

/// The line data row `row` (0-based, the header not counted) of a CSV or
/// TSV text begins on, counted as [`QuoteGuard`] counts records: what an
/// error found in a parsed batch, which knows only its row, names.
pub(crate) fn line_of_row(text: impl Read, delimiter: u8, tsv: bool, row: u64) -> Option<u64> {
    let (mut guard, _, _) = QuoteGuard::new(text, delimiter, tsv);
    guard.watch = Some((row + 1, None));
    let mut buf = [0_u8; 1 << 14];
    loop {
        // Byte by byte: a later record in the same chunk must not be taken
        // for the one watched. An error's path only.
        let n = guard.inner.read(&mut buf).ok()?;
        for b in &buf[..n] {
            guard.check(std::slice::from_ref(b)).ok()?;
            if let Some((_, Some(line))) = guard.watch {
                return Some(line);
            }
        }
        if n == 0 {
            return None;
        }
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
            && let State::QuoteInQuoted { empty, .. } = self.state
        {
            // The last field of a file without a final line end.
            self.closed(empty);
            self.state = State::FieldStart;
        }
        if n == 0
            && !buf.is_empty()
            && let State::Quoted { line, .. } = self.state
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
        let (mut guard, problem, _) = QuoteGuard::new(text, delimiter, tsv);
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

    fn empties(text: &[u8]) -> Vec<(u64, usize)> {
        let (mut guard, _, empties) = QuoteGuard::new(text, b',', false);
        guard.read_to_end(&mut Vec::new()).unwrap();
        empties.take_before(u64::MAX)
    }

    #[test]
    fn quoted_empty_fields_are_found_by_row_and_field() {
        // Header "" not counted; blank lines are no rows; CRLF is one line
        // end; `""""` (a quote) and `"a"` are not empty; the last field of
        // a file without a final line end counts.
        let text = b"a,\"\"\r\n\"\",x\r\n\n\n\"\"\"\",\"a\"\n1,\"\"\n\"\",\"\"";
        assert_eq!(empties(text), [(0, 0), (2, 1), (3, 0), (3, 1)]);
        // A quoted field with a line end inside is one field of one row.
        assert_eq!(empties(b"h,i\n\"x\ny\",\"\"\n"), [(0, 1)]);
    }

    #[test]
    fn tsv_quotes_are_plain_characters_and_0xff_is_refused() {
        let text = b"id\ttext\n1\t\"quoted\"\n2\t\"open\n";
        assert_eq!(check(text, true).unwrap(), text);
        let (line, _) = check(b"id\n1\n\xff\n", true).unwrap_err();
        assert_eq!(line, 3);
    }
}
