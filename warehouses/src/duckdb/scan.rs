//! `etl_scan(id)`: a table function through which DuckDB reads a load's
//! batches on all its threads, so that `INSERT INTO t SELECT * FROM
//! etl_scan(id)` writes in parallel, as DuckDB's own copies do.
//!
//! A load registers a channel of batches under a fresh id for the time of
//! its `INSERT` and removes it after ([`Feed`] is dropped then): nothing is
//! kept once the load ends, unlike `arrow_recordbatch_to_query_params`, which
//! keeps every batch it is given for the life of the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use ::duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use ::duckdb::vtab::{
    BindInfo, InitInfo, TableFunctionInfo, VTab, record_batch_to_duckdb_data_chunk,
    to_duckdb_logical_type_for_field,
};
use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::datatypes::SchemaRef;

/// The name the function is registered under on every connection.
pub(crate) const SCAN_FUNCTION: &str = "etl_scan";

/// Rows per chunk DuckDB takes from a table function (its vector size).
const VECTOR_SIZE: usize = 2048;

/// The batches of one load, as DuckDB's threads take them.
pub(crate) struct Feed {
    schema: SchemaRef,
    state: Mutex<FeedState>,
}

struct FeedState {
    /// `None` once the load is over: the sender then sees the channel closed.
    rx: Option<mpsc::Receiver<RecordBatch>>,
    /// The batch being cut into chunks, and how far it is cut.
    current: Option<(RecordBatch, usize)>,
}

type Registry = Mutex<HashMap<u64, Arc<Feed>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A registered feed; dropping it unregisters the feed and closes its channel.
pub(crate) struct Registration {
    pub(crate) id: u64,
    feed: Arc<Feed>,
}

impl Registration {
    /// Registers batches of `schema` arriving on `rx`.
    pub(crate) fn new(schema: SchemaRef, rx: mpsc::Receiver<RecordBatch>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let feed = Arc::new(Feed {
            schema,
            state: Mutex::new(FeedState {
                rx: Some(rx),
                current: None,
            }),
        });
        lock(registry()).insert(id, feed.clone());
        Registration { id, feed }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(registry()).remove(&self.id);
        let mut state = lock(&self.feed.state);
        state.rx = None;
        state.current = None;
    }
}

/// The table function; see the module docs.
pub(crate) struct EtlScan;

impl VTab for EtlScan {
    type BindData = Arc<Feed>;
    type InitData = ();

    fn bind(bind: &BindInfo) -> Result<Self::BindData, Box<dyn std::error::Error>> {
        let id = bind.get_parameter(0).to_uint64();
        let feed = lock(registry())
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("{SCAN_FUNCTION}({id}): no load is streaming under this id"))?;
        for field in feed.schema.fields() {
            bind.add_result_column(field.name(), to_duckdb_logical_type_for_field(field)?);
        }
        Ok(feed)
    }

    fn init(init: &InitInfo) -> Result<Self::InitData, Box<dyn std::error::Error>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        init.set_max_threads(threads as u64);
        Ok(())
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let feed = func.get_bind_data();
        // Cut the next chunk under the lock (zero-copy), convert it outside:
        // the conversions of DuckDB's threads run side by side.
        let chunk = {
            let mut state = lock(&feed.state);
            loop {
                if let Some((batch, offset)) = &mut state.current
                    && *offset < batch.num_rows()
                {
                    let len = VECTOR_SIZE.min(batch.num_rows() - *offset);
                    let chunk = batch.slice(*offset, len);
                    *offset += len;
                    break Some(chunk);
                }
                state.current = None;
                let next = match &state.rx {
                    Some(rx) => rx.recv().ok(),
                    None => None,
                };
                match next {
                    Some(batch) => state.current = Some((batch, 0)),
                    None => break None,
                }
            }
        };
        match chunk {
            Some(chunk) => record_batch_to_duckdb_data_chunk(&chunk, output)?,
            None => output.set_len(0),
        }
        Ok(())
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::UBigint)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etl_core::arrow::array::Int64Array;
    use etl_core::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn a_scan_reads_every_row_and_its_feed_is_gone_after() {
        let conn = ::duckdb::Connection::open_in_memory().unwrap();
        conn.register_table_function::<EtlScan>(SCAN_FUNCTION)
            .unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let (tx, rx) = mpsc::sync_channel(2);
        let feed = Registration::new(schema.clone(), rx);
        let id = feed.id;
        let sender = std::thread::spawn(move || {
            for start in (0..10_000_i64).step_by(3_000) {
                let column = Int64Array::from_iter_values(start..(start + 3_000).min(10_000));
                tx.send(RecordBatch::try_new(schema.clone(), vec![Arc::new(column)]).unwrap())
                    .unwrap();
            }
        });
        let (rows, sum): (i64, i64) = conn
            .query_row(
                &format!("SELECT count(*), sum(n)::BIGINT FROM {SCAN_FUNCTION}({id}::UBIGINT)"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        sender.join().unwrap();
        assert_eq!((rows, sum), (10_000, (0..10_000).sum()));
        drop(feed);
        assert!(
            !lock(registry()).contains_key(&id),
            "nothing kept after the load"
        );
        let err = conn
            .query_row(
                &format!("SELECT count(*) FROM {SCAN_FUNCTION}({id}::UBIGINT)"),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("no load is streaming under this id"),
            "{err}"
        );
    }
}
