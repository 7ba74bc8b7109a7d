//! Load throughput: a 1M-row, 10-column table (ints, floats, strings,
//! timestamps) into each warehouse, beside the limits measured in the same run:
//!
//! - DuckDB copying the same rows inside one database
//!   (`INSERT INTO t2 SELECT * FROM t1`, its own write path);
//! - a hand-written rusqlite loop: one prepared single-row `INSERT`, the same
//!   PRAGMAs, the same stored text for timestamps, one transaction.
//!
//! Targets: DuckDB warehouse ≥ 0.5× the in-database copy; SQLite warehouse
//! ≥ 0.7× the hand loop. `cargo bench --bench load` prints both ratios last.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use etl::arrow::array::{
    Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use etl::arrow::datatypes::{DataType, SchemaRef};
use etl::{
    BatchStream, BoxedWarehouse, DuckDbWarehouse, SqliteWarehouse, TableSpec, Warehouse,
    WriteOptions,
};

#[path = "common/orders.rs"]
mod orders;
use orders::ROWS;

fn schema() -> SchemaRef {
    orders::schema(&DataType::Utf8)
}

fn batches() -> Vec<RecordBatch> {
    orders::batches(&DataType::Utf8)
}

#[path = "common/samples.rs"]
mod samples;
use samples::{median, record};

fn load<W: Warehouse>(
    rt: &tokio::runtime::Runtime,
    warehouse: &W,
    batches: &[RecordBatch],
) -> Duration {
    let spec = TableSpec::new("orders", schema());
    let stream = BatchStream::from_batches(schema(), batches.to_vec());
    let started = Instant::now();
    let summary = rt
        .block_on(warehouse.write(&spec, stream, &WriteOptions::default()))
        .expect("the load succeeds");
    let elapsed = started.elapsed();
    assert_eq!(summary.rows, ROWS as u64);
    elapsed
}

/// The reference SQLite path: what a careful engineer writes by hand.
fn sqlite_hand_loop(path: &Path, batches: &[RecordBatch]) -> Duration {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    for (name, value) in SqliteWarehouse::PRAGMAS {
        conn.pragma_update_and_check(None, name, value, |_| Ok(()))
            .or_else(|_| conn.pragma_update(None, name, value))
            .unwrap();
    }
    conn.execute_batch(
        "CREATE TABLE orders (id BIGINT, customer_id BIGINT, quantity INTEGER, price DOUBLE, \
         discount DOUBLE, weight DOUBLE, product TEXT, category TEXT, ordered_at TIMESTAMP, shipped_at TIMESTAMP)",
    )
    .unwrap();
    let started = Instant::now();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    {
        let mut stmt = tx
            .prepare("INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
            .unwrap();
        let mut ordered = String::new();
        let mut shipped = String::new();
        let text = |out: &mut String, micros: i64| {
            out.clear();
            let t = chrono::DateTime::from_timestamp_micros(micros)
                .unwrap()
                .naive_utc();
            write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f")).unwrap();
        };
        for batch in batches {
            let i64s = |i: usize| {
                batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
            };
            let f64s = |i: usize| {
                batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap()
            };
            let strs = |i: usize| {
                batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
            };
            let tss = |i: usize| {
                batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .unwrap()
            };
            let quantity = batch
                .column(2)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap();
            let (id, customer, price, discount, weight) =
                (i64s(0), i64s(1), f64s(3), f64s(4), f64s(5));
            let (product, category, ordered_at, shipped_at) = (strs(6), strs(7), tss(8), tss(9));
            for row in 0..batch.num_rows() {
                text(&mut ordered, ordered_at.value(row));
                let shipped_value = (!shipped_at.is_null(row)).then(|| {
                    text(&mut shipped, shipped_at.value(row));
                    shipped.as_str()
                });
                stmt.execute(rusqlite::params![
                    id.value(row),
                    customer.value(row),
                    quantity.value(row),
                    price.value(row),
                    discount.value(row),
                    weight.value(row),
                    product.value(row),
                    category.value(row),
                    ordered.as_str(),
                    shipped_value,
                ])
                .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    started.elapsed()
}

/// Each iteration loads into a warehouse `open` makes, then into another
/// behind `Box<dyn DynWarehouse>`, so that what drifts over the run (the
/// page cache, the disk) weighs on both alike: `{name}_generic` and
/// `{name}_boxed`.
fn seam<W: Warehouse + 'static>(
    b: &mut criterion::Bencher<'_>,
    rt: &tokio::runtime::Runtime,
    data: &[RecordBatch],
    name: &'static str,
    open: impl Fn(&Path) -> W,
) {
    let generic: &'static str = format!("{name}_generic").leak();
    let boxed: &'static str = format!("{name}_boxed").leak();
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let dir = tempfile::tempdir().unwrap();
            let plain = load(rt, &open(&dir.path().join("generic")), data);
            record(generic, plain);
            let warehouse: BoxedWarehouse = Box::new(open(&dir.path().join("boxed")));
            let through_box = load(rt, &warehouse, data);
            record(boxed, through_box);
            total += plain + through_box;
        }
        total
    })
}

fn bench_loads(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = batches();
    let mut group = c.benchmark_group("load_1m_rows_10_columns");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(ROWS as u64));

    group.bench_function("duckdb_warehouse", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let warehouse = DuckDbWarehouse::open(dir.path().join("w.duckdb")).unwrap();
                let elapsed = load(&rt, &warehouse, &data);
                record("duckdb_warehouse", elapsed);
                total += elapsed;
            }
            total
        })
    });

    // DuckDB's own write path: the same rows copied table to table in one database.
    let copy_dir = tempfile::tempdir().unwrap();
    let source = DuckDbWarehouse::open(copy_dir.path().join("copy.duckdb")).unwrap();
    load(&rt, &source, &data);
    let copy_once = |source: &DuckDbWarehouse| -> Duration {
        rt.block_on(source.with_connection(|conn| {
            conn.execute_batch(
                "DROP TABLE IF EXISTS t2; CREATE TABLE t2 AS SELECT * FROM orders LIMIT 0",
            )
            .unwrap();
            let started = Instant::now();
            conn.execute_batch("INSERT INTO t2 SELECT * FROM orders")
                .unwrap();
            Ok(started.elapsed())
        }))
        .unwrap()
    };
    group.bench_function("duckdb_in_database_copy", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let elapsed = copy_once(&source);
                record("duckdb_in_database_copy", elapsed);
                total += elapsed;
            }
            total
        })
    });

    group.bench_function("sqlite_warehouse", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let warehouse = SqliteWarehouse::open(dir.path().join("w.sqlite")).unwrap();
                let elapsed = load(&rt, &warehouse, &data);
                record("sqlite_warehouse", elapsed);
                total += elapsed;
            }
            total
        })
    });

    // The same loads through `Box<dyn DynWarehouse>`, as a pipeline file
    // chooses its warehouse at run time: the seam's cost (see `seam`).
    group.bench_function("duckdb_generic_then_boxed", |b| {
        seam(b, &rt, &data, "duckdb_warehouse", |p| {
            DuckDbWarehouse::open(p).unwrap()
        })
    });
    group.bench_function("sqlite_generic_then_boxed", |b| {
        seam(b, &rt, &data, "sqlite_warehouse", |p| {
            SqliteWarehouse::open(p).unwrap()
        })
    });

    group.bench_function("sqlite_hand_loop", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let elapsed = sqlite_hand_loop(&dir.path().join("hand.sqlite"), &data);
                record("sqlite_hand_loop", elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
}

fn print_ratios() {
    let rate = |name: &str| median(name).map(|s| ROWS as f64 / s);
    println!("\nload of {ROWS} rows x 10 columns, median of the samples above:");
    println!("{:<26} {:>10} {:>14}", "path", "seconds", "rows/s");
    for name in [
        "duckdb_warehouse",
        "duckdb_in_database_copy",
        "sqlite_warehouse",
        "sqlite_hand_loop",
        "duckdb_warehouse_generic",
        "duckdb_warehouse_boxed",
        "sqlite_warehouse_generic",
        "sqlite_warehouse_boxed",
    ] {
        if let (Some(s), Some(r)) = (median(name), rate(name)) {
            println!("{name:<26} {s:>10.3} {r:>14.0}");
        }
    }
    let ratio = |ours: &str, reference: &str, target: f64| {
        if let (Some(o), Some(r)) = (rate(ours), rate(reference)) {
            let ratio = o / r;
            let verdict = if ratio >= target { "meets" } else { "MISSES" };
            println!("{ours} / {reference} = {ratio:.2} ({verdict} the {target}x target)");
        }
    };
    ratio("duckdb_warehouse", "duckdb_in_database_copy", 0.5);
    ratio("sqlite_warehouse", "sqlite_hand_loop", 0.7);
    // Boxed against generic: the seam costs nothing measurable.
    ratio("duckdb_warehouse_boxed", "duckdb_warehouse_generic", 0.95);
    ratio("sqlite_warehouse_boxed", "sqlite_warehouse_generic", 0.95);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_loads(&mut c);
    c.final_summary();
    print_ratios();
}
