//! The conformance suite every [`Extractor`] passes, yours included.
//!
//! [`check_extractor`] runs every check against a [`Subject`]: a function
//! that builds the extractor (against a source the test started: files in a
//! folder, a server on 127.0.0.1), and a count of the requests that source
//! has answered, so that "before any request" can be checked. Each check
//! panics with a message naming the extractor, the table and what broke.
//!
//! What a conforming extractor does:
//!
//! - its tables (names, schemas, keys, modes, cursor fields) are the same
//!   from one call of [`Extractor::tables`] to the next, and from one
//!   extractor to another built the same way;
//! - [`Extractor::discover`] finds the tables `tables` lists, all ready;
//! - every table it lists can be extracted to its end, and every batch has
//!   the schema the table announced; two extractions give the same rows;
//! - a table it does not offer is [`Error::UnknownTable`], listing what it
//!   offers, with no request to the source once its tables are known;
//! - a stream dropped after its first batch stops: the source sees no more
//!   requests, and once the extractor is dropped too no task it started is
//!   left;
//! - an incremental table gives a stored cursor at the end of its stream,
//!   and takes it back ([`ExtractOptions::since`]) without error; a table
//!   that is not incremental gives none;
//! - [`Extractor::source`] is the same for two extractors of one source.
//!
//! ```text
//! etl_testing::extractor::check_extractor(Subject::new("files", || FilesExtractor::open(dir).unwrap())).await;
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use etl_core::arrow::datatypes::Schema;
use etl_core::{Error, ExtractOptions, Extractor, TableSpec};
use futures::StreamExt as _;

/// An extractor under test: how to build it, and what its source saw.
pub struct Subject<E> {
    name: String,
    make: Box<dyn Fn() -> E + Send + Sync>,
    requests: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl<E: Extractor> Subject<E> {
    /// The extractor `make` builds, called `name` in messages. Its source
    /// counts no requests (files); see [`Subject::counting`].
    pub fn new(name: impl Into<String>, make: impl Fn() -> E + Send + Sync + 'static) -> Self {
        Subject {
            name: name.into(),
            make: Box::new(make),
            requests: Arc::new(|| 0),
        }
    }

    /// `requests` says how many requests the source has answered so far.
    pub fn counting(mut self, requests: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.requests = Arc::new(requests);
        self
    }
}

/// Runs every check; panics at the first that fails.
pub async fn check_extractor<E: Extractor>(subject: Subject<E>) {
    let tables = tables_are_stable(&subject).await;
    assert!(
        !tables.is_empty(),
        "{}: the source under test should offer tables",
        subject.name
    );
    discover_finds_the_listed_tables(&subject, &tables).await;
    listed_tables_extract_with_their_schema(&subject, &tables).await;
    an_unknown_table_fails_before_any_request(&subject, &tables).await;
    a_dropped_stream_stops(&subject, &tables).await;
    cursors_are_given_and_taken_back(&subject, &tables).await;
    let (a, b) = ((subject.make)(), (subject.make)());
    assert_eq!(
        a.source(),
        b.source(),
        "{}: two extractors of one source must have the same source() (stored cursors are keyed on it)",
        subject.name
    );
}

/// What a table is, for comparing: everything but the schema's metadata
/// order.
fn shape(spec: &TableSpec) -> String {
    format!(
        "{} {:?} key={:?} mode={:?} cursor={:?}",
        spec.name(),
        spec.schema().fields(),
        spec.primary_key(),
        spec.mode(),
        spec.cursor_field()
    )
}

async fn tables_are_stable<E: Extractor>(subject: &Subject<E>) -> Vec<TableSpec> {
    let extractor = (subject.make)();
    let first = extractor
        .tables()
        .await
        .unwrap_or_else(|e| panic!("{}: tables(): {e}", subject.name));
    let again = extractor
        .tables()
        .await
        .unwrap_or_else(|e| panic!("{}: tables() again: {e}", subject.name));
    let other = (subject.make)()
        .tables()
        .await
        .unwrap_or_else(|e| panic!("{}: tables() of a second extractor: {e}", subject.name));
    let shapes = |t: &[TableSpec]| t.iter().map(shape).collect::<Vec<_>>();
    assert_eq!(
        shapes(&first),
        shapes(&again),
        "{}: the tables changed from one call to the next",
        subject.name
    );
    assert_eq!(
        shapes(&first),
        shapes(&other),
        "{}: two extractors built alike list different tables",
        subject.name
    );
    first
}

async fn discover_finds_the_listed_tables<E: Extractor>(
    subject: &Subject<E>,
    tables: &[TableSpec],
) {
    let found = (subject.make)()
        .discover()
        .await
        .unwrap_or_else(|e| panic!("{}: discover(): {e}", subject.name));
    let ready: Vec<String> = found
        .iter()
        .map(|d| match d {
            etl_core::Discovered::Ready(spec) => shape(spec),
            etl_core::Discovered::Failed { table, error } => {
                panic!(
                    "{}: discover() failed table {table:?}: {error}",
                    subject.name
                )
            }
        })
        .collect();
    assert_eq!(
        ready,
        tables.iter().map(shape).collect::<Vec<_>>(),
        "{}: discover() and tables() disagree",
        subject.name
    );
}

/// Every batch of `table`, checked against its schema; the rows as text.
async fn read_all<E: Extractor>(
    subject: &Subject<E>,
    extractor: &E,
    table: &TableSpec,
    options: &ExtractOptions,
) -> (Vec<String>, Option<String>) {
    let name = &subject.name;
    let mut stream = extractor
        .extract(table, options)
        .await
        .unwrap_or_else(|e| panic!("{name}: extract({:?}): {e}", table.name()));
    let notes = stream.notes().clone();
    let mut rows = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.unwrap_or_else(|e| panic!("{name}: table {:?}: {e}", table.name()));
        assert_eq!(
            batch.schema().fields(),
            table.schema().fields(),
            "{name}: table {:?}: a batch's schema is not the one announced",
            table.name()
        );
        let text = etl_core::arrow::util::pretty::pretty_format_batches(&[batch])
            .expect("printable")
            .to_string();
        rows.extend(
            text.lines()
                .skip(3)
                .filter(|l| !l.starts_with('+'))
                .map(str::to_owned),
        );
    }
    (rows, notes.cursor_value())
}

async fn listed_tables_extract_with_their_schema<E: Extractor>(
    subject: &Subject<E>,
    tables: &[TableSpec],
) {
    let extractor = (subject.make)();
    for table in tables {
        let options = ExtractOptions::with_batch_size(7);
        let (first, _) = read_all(subject, &extractor, table, &options).await;
        let (again, _) = read_all(subject, &extractor, table, &options).await;
        assert_eq!(
            first,
            again,
            "{}: table {:?} gave other rows the second time",
            subject.name,
            table.name()
        );
    }
}

async fn an_unknown_table_fails_before_any_request<E: Extractor>(
    subject: &Subject<E>,
    tables: &[TableSpec],
) {
    // The tables are known first (an Airtable base's are read from its
    // schema, a request of its own); then asking for another table must not
    // reach the source.
    let extractor = (subject.make)();
    extractor
        .tables()
        .await
        .unwrap_or_else(|e| panic!("{}: tables(): {e}", subject.name));
    let before = (subject.requests)();
    let missing = TableSpec::new(
        "no such table, by the conformance suite",
        Arc::new(Schema::empty()),
    );
    let result = extractor
        .extract(&missing, &ExtractOptions::default())
        .await;
    let after = (subject.requests)();
    match result {
        Err(Error::UnknownTable { table, offered }) => {
            assert_eq!(
                table,
                missing.name(),
                "{}: the error names the table",
                subject.name
            );
            let listed: Vec<&str> = tables.iter().map(TableSpec::name).collect();
            assert_eq!(
                offered, listed,
                "{}: the error lists the tables offered",
                subject.name
            );
        }
        Err(other) => panic!(
            "{}: an unknown table should be Error::UnknownTable, not: {other}",
            subject.name
        ),
        Ok(_) => panic!("{}: an unknown table was opened", subject.name),
    }
    assert_eq!(
        before,
        after,
        "{}: an unknown table reached the source ({} requests)",
        subject.name,
        after - before
    );
}

async fn a_dropped_stream_stops<E: Extractor>(subject: &Subject<E>, tables: &[TableSpec]) {
    let metrics = tokio::runtime::Handle::current().metrics();
    for table in tables {
        // Counted before the extractor exists: its connection pool's tasks
        // (and the tasks a test server runs for them) go with it.
        let tasks_before = metrics.num_alive_tasks();
        let extractor = (subject.make)();
        let mut stream = extractor
            .extract(table, &ExtractOptions::with_batch_size(1))
            .await
            .unwrap_or_else(|e| panic!("{}: extract({:?}): {e}", subject.name, table.name()));
        if let Some(first) = stream.next().await {
            first.unwrap_or_else(|e| panic!("{}: table {:?}: {e}", subject.name, table.name()));
        }
        drop(stream);
        // What the stream asked for before it was dropped may still arrive;
        // nothing after.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let settled = (subject.requests)();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            settled,
            (subject.requests)(),
            "{}: table {:?}: requests went on after its stream was dropped",
            subject.name,
            table.name()
        );
        drop(extractor);
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.num_alive_tasks() > tasks_before {
            assert!(
                Instant::now() < deadline,
                "{}: table {:?}: {} task(s) still alive 10 s after its stream and its extractor were dropped",
                subject.name,
                table.name(),
                metrics.num_alive_tasks() - tasks_before
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn cursors_are_given_and_taken_back<E: Extractor>(
    subject: &Subject<E>,
    tables: &[TableSpec],
) {
    let extractor = (subject.make)();
    for table in tables {
        let (all, cursor) = read_all(subject, &extractor, table, &ExtractOptions::default()).await;
        match table.cursor_field() {
            None => assert_eq!(
                cursor,
                None,
                "{}: table {:?} is not incremental but gave a cursor",
                subject.name,
                table.name()
            ),
            Some(field) => {
                let cursor = cursor.unwrap_or_else(|| {
                    panic!(
                        "{}: incremental table {:?} (cursor field {field:?}) gave no cursor to store",
                        subject.name,
                        table.name()
                    )
                });
                let since = ExtractOptions::default().with_since(Some(cursor.clone()));
                let (rows, next) = read_all(subject, &extractor, table, &since).await;
                assert!(
                    rows.len() <= all.len(),
                    "{}: table {:?}: reading since {cursor:?} gave more rows than reading it all",
                    subject.name,
                    table.name()
                );
                assert!(
                    next.is_some(),
                    "{}: table {:?}: a read since {cursor:?} gave no cursor to store",
                    subject.name,
                    table.name()
                );
            }
        }
    }
}
