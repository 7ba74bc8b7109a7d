//! Plain-text tables for reports and views: one look for every report; and
//! text made safe to show: URLs without their user and password.

use std::fmt;

/// Writes `rows` under `header` in aligned columns, numbers right-aligned
/// where `numeric` says so, with a rule under the header.
pub fn write_table(
    f: &mut fmt::Formatter<'_>,
    header: &[&str],
    numeric: &[bool],
    rows: &[Vec<String>],
) -> fmt::Result {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if numeric.get(i).copied().unwrap_or(false) {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        writeln!(f, "{}", out.trim_end())
    };
    line(f, header)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(f, &rule.iter().map(String::as_str).collect::<Vec<_>>())?;
    for row in rows {
        line(f, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    Ok(())
}

/// [`write_table`] into a `String`.
pub fn table(header: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    struct Table<'a>(&'a [&'a str], &'a [bool], &'a [Vec<String>]);
    impl fmt::Display for Table<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_table(f, self.0, self.1, self.2)
        }
    }
    Table(header, numeric, rows).to_string()
}

/// `text` with the user and password of every URL in it (`scheme://user:
/// password@host`) written `***@`: a message, a log line or a `Debug` that
/// quotes a URL never quotes the credentials in it. Text that is no URL is
/// left as it is, an `@` in a path (`s3://bucket/a@b`) too.
///
/// ```
/// use etl_rules::text::without_userinfo;
/// assert_eq!(
///     without_userinfo("GET http://u:s3cret@127.0.0.1:9/x?a@b failed"),
///     "GET http://***@127.0.0.1:9/x?a@b failed"
/// );
/// assert_eq!(without_userinfo("s3://bucket/a@b"), "s3://bucket/a@b");
/// ```
pub fn without_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(user_end) => {
                out.push_str("***@");
                out.push_str(&authority[user_end + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
