//! Plain-text tables for reports and views: one look for every report.

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
