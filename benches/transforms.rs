//! Transforms: what crossing into Polars costs, and one group-by in three
//! engines on the same data.
//!
//! 1. A 1M-row, 10-column table (ints, floats, `Utf8View` strings,
//!    timestamps; 8,192-row batches) into a Polars `DataFrame` and back:
//!    the time, and the bytes allocated while converting, beside the bytes
//!    of the columns' buffers. The target is that no column buffer is
//!    copied: the allocations must stay far below the smallest column
//!    (8 MB for 1M `Int64` values). A `Utf8` table is measured too: Polars
//!    holds strings as views, so those columns gain a view array (16 bytes a
//!    row; the string bytes themselves are not copied).
//! 2. The same aggregations in DataFusion (through `etl::sql::Sql`, and in a
//!    default DataFusion session), Polars (over the frame from step 1, built
//!    inside the timing) and DuckDB SQL (over the table loaded into a DuckDB
//!    file, as a warehouse holds it), with the results compared.
//!
//! `cargo bench --bench transforms --features polars,datafusion`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etl::arrow::array::{Array, Float64Array, RecordBatch};
use etl::arrow::compute::{cast, concat_batches};
use etl::arrow::datatypes::DataType;
use etl::datafusion::datasource::MemTable;
use etl::datafusion::prelude::SessionContext;
use etl::polars::prelude::{DataFrame, Expr, IntoLazy as _, col, len};
#[allow(unused_imports)]
use etl::prelude::*;
use etl::sql::Sql;
use etl::{Batches, DuckDbWarehouse, TableSpec, Warehouse, WriteOptions};

/// Counts the bytes every allocation asks for (reallocations: what they grow by).
struct Counting;

static ALLOCATED: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the
// counter is a side effect. (A global allocator cannot be written without
// `unsafe`: this one counts what the conversions allocate.)
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from System.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let grown = new_size.saturating_sub(layout.size());
        ALLOCATED.fetch_add(grown as u64, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; `new_size` is the caller's, valid for System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "common/orders.rs"]
mod orders;
use orders::{BATCH, ROWS};

const RUNS: usize = 10;

/// The load benchmark's table, strings as `strings` (Utf8 or Utf8View).
fn table(strings: &DataType) -> Batches {
    Batches::new(orders::schema(strings), orders::batches(strings)).expect("one schema")
}

/// Bytes of the columns' buffers (values, offsets, views, string data,
/// validity), each buffer once.
fn buffer_bytes(table: &Batches) -> (u64, u64) {
    let mut total = 0;
    let mut smallest = u64::MAX;
    for i in 0..table.schema().fields().len() {
        let column: u64 = table
            .batches()
            .iter()
            .map(|b| b.column(i).get_buffer_memory_size() as u64)
            .sum();
        total += column;
        smallest = smallest.min(column);
    }
    (total, smallest)
}

/// The median time of `RUNS` calls of `f` and the median bytes allocated
/// during one, with `f`'s last result.
fn measure<T>(mut f: impl FnMut() -> T) -> (Duration, u64, T) {
    let mut times = Vec::new();
    let mut bytes = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        drop(last.take());
        let before = ALLOCATED.load(Ordering::Relaxed);
        let started = Instant::now();
        let out = f();
        times.push(started.elapsed());
        bytes.push(ALLOCATED.load(Ordering::Relaxed) - before);
        last = Some(out);
    }
    times.sort();
    bytes.sort();
    (times[RUNS / 2], bytes[RUNS / 2], last.expect("RUNS > 0"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn conversions() {
    println!(
        "Polars interop, {ROWS} rows x 10 columns, {BATCH}-row batches ({RUNS} runs, medians):"
    );
    println!(
        "{:<34} {:>10} {:>16} {:>14}",
        "conversion", "ms", "allocated KiB", "columns MiB"
    );
    for (label, strings) in [("Utf8View", DataType::Utf8View), ("Utf8", DataType::Utf8)] {
        let table = table(&strings);
        let (columns, smallest) = buffer_bytes(&table);
        let (to, to_bytes, frame) = measure(|| table.to_polars().expect("converts"));
        let (back, back_bytes, again) = measure(|| Batches::from_polars(&frame).expect("converts"));
        assert_eq!(again.num_rows(), ROWS);
        for (what, time, bytes) in [
            (format!("batches -> DataFrame ({label})"), to, to_bytes),
            (format!("DataFrame -> batches ({label})"), back, back_bytes),
        ] {
            println!(
                "{what:<34} {:>10.2} {:>16.1} {:>14.1}",
                time.as_secs_f64() * 1e3,
                bytes as f64 / 1024.0,
                mib(columns),
            );
        }
        if strings == DataType::Utf8View {
            // A copied column would allocate at least its own buffers: the
            // smallest column is the line. What is allocated is per chunk
            // (the C data interface's structs, the arrays' headers).
            let worst = to_bytes.max(back_bytes);
            let arrays = table.batches().len() * table.schema().fields().len();
            println!(
                "  at most {:.1} KiB allocated in one direction ({:.2} % of the columns' {:.1} MiB; \
                 about {} bytes for each of the {arrays} column chunks); the smallest column \
                 holds {:.1} MiB: {}",
                worst as f64 / 1024.0,
                100.0 * worst as f64 / columns as f64,
                mib(columns),
                worst / arrays as u64,
                mib(smallest),
                if worst < smallest {
                    "no column buffer copied (meets the target)"
                } else {
                    "a column buffer may have been copied (MISSES the target)"
                }
            );
        }
    }
    println!();
}

/// `(group count, sum of the first aggregate)`, to check engines agree.
fn digest(batches: &[RecordBatch]) -> (usize, f64) {
    let batch = concat_batches(&batches[0].schema(), batches).expect("one schema");
    let revenue = cast(batch.column(1), &DataType::Float64).expect("a number");
    let revenue = revenue.as_any().downcast_ref::<Float64Array>().unwrap();
    (batch.num_rows(), revenue.iter().flatten().sum())
}

struct Query {
    name: &'static str,
    sql: &'static str,
    group_by: &'static str,
}

const QUERIES: [Query; 2] = [
    Query {
        name: "by category (5 groups)",
        sql: "SELECT category, sum(price * quantity) AS revenue, count(*) AS orders, \
              avg(discount) AS discount FROM orders GROUP BY category",
        group_by: "category",
    },
    Query {
        name: "by customer (50,000 groups)",
        sql: "SELECT customer_id, sum(price * quantity) AS revenue, count(*) AS orders, \
              avg(discount) AS discount FROM orders GROUP BY customer_id",
        group_by: "customer_id",
    },
];

/// The SQL queries' aggregates, in Polars.
fn aggregates() -> [Expr; 3] {
    [
        (col("price") * col("quantity")).sum().alias("revenue"),
        len().alias("orders"),
        col("discount").mean().alias("discount"),
    ]
}

fn polars_group_by(table: &Batches, group_by: &str) -> Vec<RecordBatch> {
    let frame: DataFrame = table.to_polars().expect("converts");
    let out = frame
        .lazy()
        .group_by([col(group_by)])
        .agg(aggregates())
        .collect()
        .expect("aggregates");
    Batches::from_polars(&out).expect("converts").into_batches()
}

fn group_bys() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let table = table(&DataType::Utf8View);
    let dir = tempfile::tempdir().unwrap();
    let duckdb = DuckDbWarehouse::open(dir.path().join("orders.duckdb")).unwrap();
    let spec = TableSpec::new("orders", table.schema().clone());
    rt.block_on(duckdb.write(&spec, table.to_stream(), &WriteOptions::default()))
        .expect("loads");

    println!("Group-by over {ROWS} rows ({RUNS} runs, medians; 2 cores):");
    println!("{:<30} {:<30} {:>10}", "query", "engine", "ms");
    for query in QUERIES {
        let mut digests = Vec::new();
        let mut time = |engine: &str, run: &mut dyn FnMut() -> Vec<RecordBatch>| {
            let (t, _, out) = measure(run);
            println!(
                "{:<30} {engine:<30} {:>10.2}",
                query.name,
                t.as_secs_f64() * 1e3
            );
            digests.push((engine.to_owned(), digest(&out)));
        };
        time("datafusion (etl::sql::Sql)", &mut || {
            rt.block_on(async {
                Sql::new()
                    .table("orders", &table)?
                    .collect(query.sql)
                    .await
                    .map(Batches::into_batches)
            })
            .expect("aggregates")
        });
        time("datafusion (default session)", &mut || {
            rt.block_on(async {
                // The same batches, shared; DataFusion's defaults spread one
                // partition across threads (round-robin), giving up row order.
                let ctx = SessionContext::new();
                let batches = table.batches().to_vec();
                let orders = MemTable::try_new(table.schema().clone(), vec![batches])?;
                ctx.register_table("orders", Arc::new(orders))?;
                ctx.sql(query.sql).await?.collect().await
            })
            .expect("aggregates")
        });
        time("polars (frame built inside)", &mut || {
            polars_group_by(&table, query.group_by)
        });
        // Polars works best on one chunk per column; `to_polars` keeps the
        // batches as chunks (that is what makes it zero-copy).
        let mut one_chunk = table.to_polars().expect("converts");
        one_chunk.rechunk_mut();
        time("polars (one chunk, made before)", &mut || {
            let out = one_chunk
                .clone()
                .lazy()
                .group_by([col(query.group_by)])
                .agg(aggregates())
                .collect()
                .expect("aggregates");
            Batches::from_polars(&out).expect("converts").into_batches()
        });
        time("duckdb (its own table)", &mut || {
            rt.block_on(duckdb.with_connection(|conn| {
                let mut statement = conn.prepare(query.sql).expect("prepares");
                Ok(statement
                    .query_arrow([])
                    .expect("aggregates")
                    .collect::<Vec<RecordBatch>>())
            }))
            .expect("aggregates")
        });
        let (first, reference) = &digests[0];
        for (engine, digest) in &digests[1..] {
            assert_eq!(digest.0, reference.0, "{engine} and {first}: group counts");
            assert!(
                (digest.1 - reference.1).abs() <= 1e-9 * reference.1.abs(),
                "{engine} and {first}: revenue {} and {}",
                digest.1,
                reference.1
            );
        }
    }
    println!("(the engines' results agree: the same groups, the same revenue)");
}

fn main() {
    conversions();
    group_bys();
}
