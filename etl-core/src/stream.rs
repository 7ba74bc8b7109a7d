//! Streams of Arrow record batches, and the bridges between them and blocking code.
//!
//! A [`BatchStream`] is a schema plus an async stream of [`RecordBatch`]es. File
//! readers and database drivers are blocking, so two bridges move batches
//! across a bounded channel: [`BatchStream::from_blocking`] runs a blocking
//! producer (a file reader) on tokio's blocking pool, and [`consume_blocking`]
//! hands a stream to a blocking consumer (a database transaction). The channel
//! holds a few batches at most, so memory stays bounded whatever the table's size.
//!
//! Both bridges tell a finished stream from an abandoned one: a consumer whose
//! stream is dropped half-way sees [`Error::Cancelled`], never a clean end, so
//! it rolls back instead of committing half a table.
//!
//! ```
//! use etl_core::arrow::array::{Int64Array, RecordBatch};
//! use etl_core::arrow::datatypes::{DataType, Field, Schema};
//! use etl_core::stream::{consume_blocking, BatchStream};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
//! let producer_schema = schema.clone();
//! let stream = BatchStream::from_blocking(schema, 2, move |tx| {
//!     for start in (0..10_i64).step_by(5) {
//!         let column = Int64Array::from_iter_values(start..start + 5);
//!         let batch = RecordBatch::try_new(producer_schema.clone(), vec![Arc::new(column)])
//!             .map_err(|e| etl_core::Error::arrow("building a batch", e))?;
//!         if !tx.send(batch) {
//!             break; // the consumer is gone
//!         }
//!     }
//!     Ok(())
//! });
//! let rows = consume_blocking("numbers", stream, 2, |batches| {
//!     let mut rows = 0;
//!     for batch in batches {
//!         rows += batch?.num_rows();
//!     }
//!     Ok(rows)
//! })
//! .await?;
//! assert_eq!(rows, 10);
//! # Ok(()) }
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::mpsc;

use crate::{Error, Result};

/// A schema and an async stream of record batches of that schema.
///
/// A stream carries [`ExtractNotes`]: what its producer wants the load's
/// report to say besides the rows (values it could not convert, warnings).
pub struct BatchStream {
    schema: SchemaRef,
    inner: BoxStream<'static, Result<RecordBatch>>,
    notes: ExtractNotes,
}

/// What an extractor noticed while producing a stream, for the load's report:
/// values that did not match their column's type and were loaded as null, and
/// warnings (an unknown source type read as text). Cheap to clone: clones
/// share the same notes, so a producer can keep one while the stream moves on.
#[derive(Debug, Clone, Default)]
pub struct ExtractNotes {
    inner: Arc<NotesInner>,
}

#[derive(Debug, Default)]
struct NotesInner {
    invalid_values: AtomicU64,
    warnings: Mutex<Vec<String>>,
    /// Distinct warnings past [`MAX_WARNINGS`], counted, not kept.
    dropped_warnings: AtomicU64,
    cursor: Mutex<Option<String>>,
}

/// The most distinct warnings one stream keeps: a source can make one per
/// record (a new field in each), which must not grow without bound.
pub const MAX_WARNINGS: usize = 100;

/// The longest warning kept, in characters; a longer one is cut.
const MAX_WARNING_CHARS: usize = 500;

impl ExtractNotes {
    /// Counts `n` values that were loaded as null because they did not match their column's type.
    pub fn count_invalid(&self, n: u64) {
        self.inner.invalid_values.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds a warning, once: the same text twice is kept once. At most
    /// [`MAX_WARNINGS`] distinct ones are kept, each cut to 500 characters;
    /// past that they are counted, and [`ExtractNotes::warnings`] says how
    /// many were left out.
    pub fn warn(&self, message: impl Into<String>) {
        let mut message: String = message.into();
        if let Some((at, _)) = message.char_indices().nth(MAX_WARNING_CHARS) {
            message.truncate(at);
            message.push('…');
        }
        let mut warnings = self
            .inner
            .warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if warnings.contains(&message) {
            return;
        }
        if warnings.len() < MAX_WARNINGS {
            warnings.push(message);
        } else {
            self.inner.dropped_warnings.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sets the cursor value of this extract: what the warehouse stores
    /// with this load (the stored cursor), for the next run's
    /// [`ExtractOptions::since`](crate::ExtractOptions::since). Set it
    /// before the stream's last batch is taken: a warehouse reads it once
    /// the stream has ended, in the load's transaction.
    pub fn set_cursor_value(&self, cursor: impl Into<String>) {
        *self.inner.cursor.lock().unwrap_or_else(|e| e.into_inner()) = Some(cursor.into());
    }

    /// The cursor value set by [`ExtractNotes::set_cursor_value`], if any.
    pub fn cursor_value(&self) -> Option<String> {
        self.inner
            .cursor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Values loaded as null because they did not match their column's type.
    pub fn invalid_values(&self) -> u64 {
        self.inner.invalid_values.load(Ordering::Relaxed)
    }

    /// The warnings so far, in the order they were first given, and a last
    /// one saying how many more were left out, if any were.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = self
            .inner
            .warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let dropped = self.inner.dropped_warnings.load(Ordering::Relaxed);
        if dropped > 0 {
            warnings.push(format!(
                "{dropped} more warnings were left out (at most {MAX_WARNINGS} are kept)"
            ));
        }
        warnings
    }
}

impl fmt::Debug for BatchStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl BatchStream {
    /// Wraps any stream of batches that all have `schema`.
    pub fn new<S>(schema: SchemaRef, stream: S) -> Self
    where
        S: Stream<Item = Result<RecordBatch>> + Send + 'static,
    {
        BatchStream {
            schema,
            inner: stream.boxed(),
            notes: ExtractNotes::default(),
        }
    }

    /// Attaches `notes`, which the producer keeps a clone of to report into.
    pub fn with_notes(mut self, notes: ExtractNotes) -> Self {
        self.notes = notes;
        self
    }

    /// The notes of this stream's producer; read them once the stream has ended.
    pub fn notes(&self) -> &ExtractNotes {
        &self.notes
    }

    /// Calls `observe` on every batch as it passes (progress, counting);
    /// the batches, the schema and the notes are unchanged.
    pub fn inspect_batches<F>(self, mut observe: F) -> Self
    where
        F: FnMut(&RecordBatch) + Send + 'static,
    {
        let BatchStream {
            schema,
            inner,
            notes,
        } = self;
        let inner = inner.inspect(move |item| {
            if let Ok(batch) = item {
                observe(batch);
            }
        });
        BatchStream::new(schema, inner).with_notes(notes)
    }

    /// A stream over batches already in memory.
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Self::new(schema, futures::stream::iter(batches.into_iter().map(Ok)))
    }

    /// A stream with no batches.
    pub fn empty(schema: SchemaRef) -> Self {
        Self::from_batches(schema, Vec::new())
    }

    /// Runs `produce` on tokio's blocking pool; what it sends through the
    /// [`BatchSender`] becomes the stream, `capacity` batches ahead at most.
    ///
    /// An error `produce` returns ends the stream with that error; a panic in
    /// `produce` ends it with [`Error::Internal`], never with a clean end.
    /// Must be called within a tokio runtime.
    pub fn from_blocking<F>(schema: SchemaRef, capacity: usize, produce: F) -> Self
    where
        F: FnOnce(&BatchSender) -> Result<()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::task::spawn_blocking(move || {
            let sender = BatchSender { tx };
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| produce(&sender)));
            let last = Message::last(outcome);
            let _ = sender.tx.blocking_send(last);
        });
        Self::new(schema, receive(rx))
    }

    /// Spawns `produce` as a tokio task; what it sends through the
    /// [`AsyncBatchSender`] becomes the stream, `capacity` batches ahead at
    /// most, so fetching the next batches overlaps with writing these.
    ///
    /// As with [`BatchStream::from_blocking`], an error `produce` returns ends
    /// the stream with that error and a panic ends it with [`Error::Internal`];
    /// dropping the stream makes the sender's `send` return `false`.
    /// Must be called within a tokio runtime.
    pub fn from_async<F, Fut>(schema: SchemaRef, capacity: usize, produce: F) -> Self
    where
        F: FnOnce(AsyncBatchSender) -> Fut,
        Fut: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = produce(AsyncBatchSender { tx: tx.clone() });
        tokio::spawn(async move {
            let outcome =
                futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(task)).await;
            let last = Message::last(outcome);
            let _ = tx.send(last).await;
        });
        Self::new(schema, receive(rx))
    }

    /// The schema every batch of the stream has.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The next batch, `None` at the end (the stream is also a
    /// `futures::Stream`; this needs no import).
    pub async fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        self.next().await
    }

    /// Collects the whole stream in memory.
    pub async fn collect_batches(mut self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next().await {
            batches.push(batch?);
        }
        Ok(batches)
    }
}

impl Stream for BatchStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// The batches a producer sends, until its end marker; a channel that closes
/// without one is an error, never a clean end.
fn receive(rx: mpsc::Receiver<Message>) -> impl Stream<Item = Result<RecordBatch>> {
    futures::stream::unfold(Some(rx), |state| async move {
        let mut rx = state?;
        match rx.recv().await {
            Some(Message::Batch(Ok(batch))) => Some((Ok(batch), Some(rx))),
            Some(Message::Batch(Err(e))) => Some((Err(e), None)),
            Some(Message::End) => None,
            None => Some((
                Err(Error::Internal(
                    "a batch producer stopped without finishing its stream".into(),
                )),
                None,
            )),
        }
    })
}

enum Message {
    Batch(Result<RecordBatch>),
    End,
}

impl Message {
    /// What ends a producer's stream: the end marker, its error, or its panic as an error.
    fn last(outcome: std::thread::Result<Result<()>>) -> Message {
        match outcome {
            Ok(Ok(())) => Message::End,
            Ok(Err(e)) => Message::Batch(Err(e)),
            Err(panic) => Message::Batch(Err(Error::Internal(format!(
                "a batch producer panicked: {}",
                panic_message(&panic)
            )))),
        }
    }
}

/// The sending half given to a blocking producer by [`BatchStream::from_blocking`].
pub struct BatchSender {
    tx: mpsc::Sender<Message>,
}

impl BatchSender {
    /// Sends a batch, waiting while the channel is full. Returns `false` when
    /// the stream was dropped: the producer should stop.
    pub fn send(&self, batch: RecordBatch) -> bool {
        self.tx.blocking_send(Message::Batch(Ok(batch))).is_ok()
    }
}

/// The sending half given to an async producer by [`BatchStream::from_async`].
pub struct AsyncBatchSender {
    tx: mpsc::Sender<Message>,
}

impl AsyncBatchSender {
    /// Sends a batch, waiting while the channel is full. Returns `false` when
    /// the stream was dropped: the producer should stop.
    pub async fn send(&self, batch: RecordBatch) -> bool {
        self.tx.send(Message::Batch(Ok(batch))).await.is_ok()
    }
}

/// Hands `stream` to `consume`, run on tokio's blocking pool, as an iterator
/// of batches with `capacity` batches in flight at most; returns what
/// `consume` returns.
///
/// The iterator ends only when the stream has ended. If the caller's future
/// is dropped before that, the iterator yields [`Error::Cancelled`] naming
/// `table`, so the consumer rolls back instead of committing a partial load.
pub async fn consume_blocking<T, F>(
    table: &str,
    stream: BatchStream,
    capacity: usize,
    consume: F,
) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut BlockingBatches) -> Result<T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let mut batches = BlockingBatches {
        rx,
        table: table.to_owned(),
        finished: false,
    };
    let worker = tokio::task::spawn_blocking(move || consume(&mut batches));
    feed(table, stream, tx, worker).await
}

/// [`consume_blocking`] for a consumer that is async itself (a database
/// driven by an async client): `consume` runs as a task of its own, given
/// the batches as [`AsyncBatches`], with the same guarantee: if the
/// caller's future is dropped before the stream ended, the consumer sees
/// [`Error::Cancelled`] naming `table`, and goes on to roll back and
/// record it.
pub async fn consume_async<T, F, Fut>(
    table: &str,
    stream: BatchStream,
    capacity: usize,
    consume: F,
) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(AsyncBatches) -> Fut,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let batches = AsyncBatches {
        rx,
        table: table.to_owned(),
        finished: false,
    };
    let worker = tokio::spawn(consume(batches));
    feed(table, stream, tx, worker).await
}

/// Sends `stream`'s batches, then its end, to the consumer `worker`, and
/// returns what it returns.
async fn feed<T>(
    table: &str,
    mut stream: BatchStream,
    tx: mpsc::Sender<Message>,
    worker: tokio::task::JoinHandle<Result<T>>,
) -> Result<T> {
    while let Some(item) = stream.next().await {
        let failed = item.is_err();
        if tx.send(Message::Batch(item)).await.is_err() || failed {
            break;
        }
    }
    // Fails only when the consumer is gone already; its result says why.
    let _ = tx.send(Message::End).await;
    drop(tx);
    match worker.await {
        Ok(result) => result,
        Err(join) => Err(Error::Internal(format!(
            "the writer of table {table:?} panicked: {}",
            join.into_panic_message()
        ))),
    }
}

/// The batches of a stream, as an async consumer takes them; see
/// [`consume_async`].
pub struct AsyncBatches {
    rx: mpsc::Receiver<Message>,
    table: String,
    finished: bool,
}

impl AsyncBatches {
    /// The next batch, `None` once the stream has ended; [`Error::Cancelled`]
    /// when the stream's side went away before its end.
    pub async fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.finished {
            return None;
        }
        let message = self.rx.recv().await;
        received(&mut self.finished, &self.table, message)
    }
}

/// What a consumer makes of `message`: a batch (an error ends the stream),
/// the end, or [`Error::Cancelled`] when the sending side went away.
fn received(
    finished: &mut bool,
    table: &str,
    message: Option<Message>,
) -> Option<Result<RecordBatch>> {
    match message {
        Some(Message::Batch(item)) => {
            *finished = item.is_err();
            Some(item)
        }
        Some(Message::End) => {
            *finished = true;
            None
        }
        None => {
            *finished = true;
            Some(Err(Error::Cancelled {
                table: table.to_owned(),
            }))
        }
    }
}

/// The batches of a stream, as a blocking iterator; see [`consume_blocking`].
pub struct BlockingBatches {
    rx: mpsc::Receiver<Message>,
    table: String,
    finished: bool,
}

impl Iterator for BlockingBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let message = self.rx.blocking_recv();
        received(&mut self.finished, &self.table, message)
    }
}

trait IntoPanicMessage {
    fn into_panic_message(self) -> String;
}

impl IntoPanicMessage for tokio::task::JoinError {
    fn into_panic_message(self) -> String {
        match self.try_into_panic() {
            Ok(panic) => panic_message(&panic),
            Err(e) => e.to_string(),
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_bounded_in_number_and_length() {
        let notes = ExtractNotes::default();
        for i in 0..10_000 {
            notes.warn(format!("field {i} is new"));
            notes.warn("the same one");
        }
        notes.warn("x".repeat(10_000));
        let warnings = notes.warnings();
        assert_eq!(warnings.len(), MAX_WARNINGS + 1);
        assert_eq!(warnings[1], "the same one");
        assert_eq!(
            warnings[MAX_WARNINGS],
            format!("9902 more warnings were left out (at most {MAX_WARNINGS} are kept)")
        );
        let long = ExtractNotes::default();
        long.warn("y".repeat(10_000));
        assert_eq!(long.warnings()[0].chars().count(), 501);
    }
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
    }

    fn batch(n: i64) -> RecordBatch {
        RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(vec![n]))]).unwrap()
    }

    #[tokio::test]
    async fn a_producer_error_ends_the_stream_with_it() {
        let stream = BatchStream::from_blocking(schema(), 1, |tx| {
            tx.send(batch(1));
            Err(Error::Config("boom".into()))
        });
        let items: Vec<_> = stream.collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(
            items[1].as_ref().unwrap_err().to_string(),
            "invalid configuration: boom"
        );
    }

    #[tokio::test]
    async fn a_producer_panic_is_an_error_not_an_end() {
        let stream = BatchStream::from_blocking(schema(), 1, |tx| {
            tx.send(batch(1));
            panic!("reader exploded");
        });
        let items: Vec<_> = stream.collect().await;
        let err = items.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(err.contains("reader exploded"), "{err}");
    }

    #[tokio::test]
    async fn a_dropped_stream_stops_its_producer() {
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let mut stream = BatchStream::from_blocking(schema(), 1, move |tx| {
            for i in 0..1_000 {
                if !tx.send(batch(i)) {
                    break;
                }
                counter.fetch_add(1, Ordering::SeqCst);
            }
            let _ = done_tx.send(());
            Ok(())
        });
        stream.next().await.unwrap().unwrap();
        drop(stream);
        done_rx.await.unwrap();
        assert!(sent.load(Ordering::SeqCst) < 10, "the producer kept going");
    }

    #[tokio::test]
    async fn a_consumer_sees_every_batch_then_the_end() {
        let stream = BatchStream::from_batches(schema(), (0..5).map(batch).collect());
        let seen = consume_blocking("t", stream, 1, |batches| {
            batches
                .map(|b| b.map(|b| b.num_rows()))
                .sum::<Result<usize>>()
        })
        .await
        .unwrap();
        assert_eq!(seen, 5);
    }

    #[tokio::test]
    async fn a_consumer_whose_caller_is_dropped_sees_cancelled() {
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        // A stream that yields one batch, then never ends.
        let stream = BatchStream::new(
            schema(),
            futures::stream::iter(vec![Ok(batch(1))]).chain(futures::stream::pending()),
        );
        let write = consume_blocking("orders", stream, 1, move |batches| {
            let outcome: Vec<_> = batches.map(|b| b.map(|_| ())).collect();
            let _ = seen_tx.send(outcome);
            Ok(())
        });
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), write).await;
        let outcome = seen_rx.await.unwrap();
        assert!(outcome[0].is_ok());
        let err = outcome.last().unwrap().as_ref().unwrap_err();
        assert!(
            matches!(err, Error::Cancelled { table } if table == "orders"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_async_consumer_whose_caller_is_dropped_sees_cancelled() {
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        let stream = BatchStream::new(
            schema(),
            futures::stream::iter(vec![Ok(batch(1))]).chain(futures::stream::pending()),
        );
        let write = consume_async("orders", stream, 1, move |mut batches| async move {
            let mut outcome = Vec::new();
            while let Some(b) = batches.next().await {
                outcome.push(b.map(|_| ()));
            }
            let _ = seen_tx.send(outcome);
            Ok(())
        });
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), write).await;
        let outcome = seen_rx.await.unwrap();
        assert!(outcome[0].is_ok());
        let err = outcome.last().unwrap().as_ref().unwrap_err();
        assert!(
            matches!(err, Error::Cancelled { table } if table == "orders"),
            "{err}"
        );
        // A stream that ends: the consumer sees every batch, then the end.
        let stream = BatchStream::from_batches(schema(), vec![batch(1), batch(2)]);
        let rows = consume_async("orders", stream, 1, |mut batches| async move {
            let mut rows = 0;
            while let Some(b) = batches.next().await {
                rows += b?.num_rows();
            }
            Ok(rows)
        })
        .await
        .unwrap();
        assert_eq!(rows, 2);
    }

    #[tokio::test]
    async fn an_async_producer_streams_then_ends_or_fails() {
        let ok = BatchStream::from_async(schema(), 1, |tx| async move {
            for i in 0..3 {
                if !tx.send(batch(i)).await {
                    break;
                }
            }
            Ok(())
        });
        assert_eq!(ok.collect_batches().await.unwrap().len(), 3);

        let failed = BatchStream::from_async(schema(), 1, |tx| async move {
            tx.send(batch(1)).await;
            Err(Error::Config("page 2 failed".into()))
        });
        let items: Vec<_> = failed.collect().await;
        assert_eq!(items.len(), 2);
        assert!(
            items[1]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("page 2 failed")
        );

        let panicked = BatchStream::from_async(schema(), 1, |_tx| async move {
            panic!("parser exploded");
        });
        let err = panicked.collect_batches().await.unwrap_err().to_string();
        assert!(err.contains("parser exploded"), "{err}");
    }

    #[tokio::test]
    async fn notes_and_inspection_travel_with_the_stream() {
        let notes = ExtractNotes::default();
        notes.warn("field \"x\" has an unknown type");
        notes.warn("field \"x\" has an unknown type");
        let producer_notes = notes.clone();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let stream = BatchStream::new(
            schema(),
            futures::stream::iter((0..3).map(batch).map(Ok)).inspect(move |_| {
                producer_notes.count_invalid(2);
            }),
        )
        .with_notes(notes)
        .inspect_batches(move |b| {
            counter.fetch_add(b.num_rows(), Ordering::SeqCst);
        });
        let notes = stream.notes().clone();
        assert_eq!(stream.collect_batches().await.unwrap().len(), 3);
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert_eq!(notes.invalid_values(), 6);
        assert_eq!(notes.warnings(), ["field \"x\" has an unknown type"]);
    }

    #[tokio::test]
    async fn a_stream_error_reaches_the_consumer_and_stops_it() {
        let stream = BatchStream::new(
            schema(),
            futures::stream::iter(vec![
                Ok(batch(1)),
                Err(Error::Config("bad row".into())),
                Ok(batch(2)),
            ]),
        );
        let err = consume_blocking("t", stream, 1, |batches| {
            for b in batches {
                b?;
            }
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "invalid configuration: bad row");
    }
}
