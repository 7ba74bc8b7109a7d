//! PostgreSQL, loaded and read, beside the server's own COPY of the same
//! rows measured in the same run (a throw-away cluster of the tests',
//! `fsync` off, or `ETL_TEST_POSTGRES_URL`):
//!
//! - **load**: 1M rows × 10 columns written by `PostgresWarehouse` (binary
//!   `COPY FROM STDIN` encoded from Arrow, into a staging table swapped in),
//!   against `CREATE TABLE` and the server's `COPY … FROM 'file' (FORMAT
//!   binary)` of the same rows from a binary file it reads itself;
//! - **extract**: the same table read by `PostgresExtractor` into Arrow
//!   batches (binary `COPY TO STDOUT` decoded into builders as they come;
//!   by default over two connections, each a range of the table's pages, in
//!   one snapshot), against the server's `COPY … TO '/dev/null' (FORMAT
//!   binary)`;
//! - the same read over one connection (`read_connections(1)`), and the
//!   wire's limit: the same `COPY TO STDOUT` read and thrown away by the
//!   client, no decoding, to tell the decoder's cost from the server's and
//!   the socket's.
//!
//! Targets: load ≥ 0.8×, extract ≥ 0.7×. `cargo bench --bench postgres` prints
//! both ratios last.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use etl::arrow::array::RecordBatch;
use etl::arrow::datatypes::DataType;
use etl::{
    BatchStream, ExtractOptions, Extractor, PostgresExtractor, PostgresOptions, PostgresWarehouse,
    TableSpec, Warehouse, WriteOptions,
};

#[path = "common/orders.rs"]
mod orders;
use orders::ROWS;

#[path = "common/samples.rs"]
mod samples;
use samples::{median, record};

/// Times `f` `iters` times, recording each under `name`.
fn timed(iters: u64, name: &'static str, mut f: impl FnMut() -> Duration) -> Duration {
    (0..iters)
        .map(|_| {
            let elapsed = f();
            record(name, elapsed);
            elapsed
        })
        .sum()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(etl_testing::postgres::shared().database());
    let warehouse = rt.block_on(PostgresWarehouse::connect(&url)).unwrap();
    let data: Vec<RecordBatch> = orders::batches(&DataType::Utf8);
    let schema = orders::schema(&DataType::Utf8);
    let load = |table: &str| -> Duration {
        let spec = TableSpec::new(table, schema.clone());
        let stream = BatchStream::from_batches(schema.clone(), data.clone());
        let started = Instant::now();
        let summary = rt
            .block_on(warehouse.write(&spec, stream, &WriteOptions::default()))
            .expect("the load succeeds");
        assert_eq!(summary.rows, ROWS as u64);
        started.elapsed()
    };
    load("orders");

    // The binary file the server reads: the table, as the server writes it,
    // where the server's user may read it.
    let file = tempfile::Builder::new()
        .prefix("etl-bench-")
        .suffix(".bin")
        .tempfile_in("/tmp")
        .unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    let client = rt.block_on(warehouse.client()).unwrap();
    rt.block_on(async {
        use futures::StreamExt;
        use std::io::Write;
        let stream = client
            .copy_out("COPY public.orders TO STDOUT (FORMAT binary)")
            .await
            .unwrap();
        futures::pin_mut!(stream);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk.unwrap()).unwrap();
        }
        out.flush().unwrap();
    });
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server_copy_in = || -> Duration {
        rt.block_on(async {
            client
                .batch_execute("DROP TABLE IF EXISTS copied")
                .await
                .unwrap();
            let started = Instant::now();
            client
                .batch_execute(&format!(
                    "BEGIN; CREATE TABLE copied (LIKE orders); \
                     COPY copied FROM '{path}' (FORMAT binary); COMMIT"
                ))
                .await
                .unwrap();
            started.elapsed()
        })
    };
    let source = PostgresExtractor::new(&url, PostgresOptions::default())
        .unwrap()
        .with_tables(["orders"]);
    let spec = rt.block_on(source.tables()).unwrap().remove(0);
    let one_connection =
        PostgresExtractor::new(&url, PostgresOptions::default().read_connections(1))
            .unwrap()
            .with_tables(["orders"]);
    let read_with = |source: &PostgresExtractor| -> Duration {
        rt.block_on(async {
            let started = Instant::now();
            let mut stream = source
                .extract(&spec, &ExtractOptions::default())
                .await
                .unwrap();
            let mut rows = 0;
            while let Some(batch) = stream.next_batch().await {
                rows += batch.unwrap().num_rows();
            }
            assert_eq!(rows, ROWS);
            started.elapsed()
        })
    };
    let read = || read_with(&source);
    let read_one = || read_with(&one_connection);
    // The wire's own limit: the same COPY TO STDOUT read by the client and
    // thrown away, no decoding (what the server and the socket cost).
    let wire = || -> Duration {
        rt.block_on(async {
            use futures::StreamExt;
            let started = Instant::now();
            let stream = client
                .copy_out("COPY orders TO STDOUT (FORMAT binary)")
                .await
                .unwrap();
            futures::pin_mut!(stream);
            let mut bytes = 0;
            while let Some(chunk) = stream.next().await {
                bytes += chunk.unwrap().len();
            }
            assert!(bytes > ROWS);
            started.elapsed()
        })
    };
    let server_copy_out = || -> Duration {
        rt.block_on(async {
            let started = Instant::now();
            client
                .batch_execute("COPY orders TO '/dev/null' (FORMAT binary)")
                .await
                .unwrap();
            started.elapsed()
        })
    };

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("postgres_1m_rows_10_columns");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(ROWS as u64));
    // Each iteration runs ours, then the reference, so that drift (the
    // page cache, autovacuum) weighs on both alike.
    group.bench_function("load_then_server_copy_from_file", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed(1, "postgres_warehouse_load", || load("loaded"))
                        + timed(1, "server_copy_from_binary_file", server_copy_in)
                })
                .sum()
        })
    });
    group.bench_function("extract_then_server_copy_to_dev_null", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    timed(1, "postgres_extract_into_arrow", read)
                        + timed(1, "server_copy_to_dev_null", server_copy_out)
                        + timed(1, "extract_over_one_connection", read_one)
                        + timed(1, "copy_to_stdout_discarded", wire)
                })
                .sum()
        })
    });
    group.finish();
    c.final_summary();

    let rate = |name: &str| median(name).map(|s| ROWS as f64 / s);
    println!("\nPostgreSQL, {ROWS} rows x 10 columns, median of the samples above:");
    println!("{:<30} {:>10} {:>14}", "path", "seconds", "rows/s");
    for name in [
        "postgres_warehouse_load",
        "server_copy_from_binary_file",
        "postgres_extract_into_arrow",
        "server_copy_to_dev_null",
        "extract_over_one_connection",
        "copy_to_stdout_discarded",
    ] {
        if let (Some(s), Some(r)) = (median(name), rate(name)) {
            println!("{name:<30} {s:>10.3} {r:>14.0}");
        }
    }
    let ratio = |ours: &str, reference: &str, target: f64| {
        if let (Some(o), Some(r)) = (rate(ours), rate(reference)) {
            let ratio = o / r;
            let verdict = if ratio >= target { "meets" } else { "MISSES" };
            println!("{ours} / {reference} = {ratio:.2} ({verdict} the {target}x target)");
        }
    };
    ratio(
        "postgres_warehouse_load",
        "server_copy_from_binary_file",
        0.8,
    );
    ratio(
        "postgres_extract_into_arrow",
        "server_copy_to_dev_null",
        0.7,
    );
    // Over one connection, beside the reference and the wire's own limit:
    // what decoding into Arrow costs on top.
    for reference in ["server_copy_to_dev_null", "copy_to_stdout_discarded"] {
        if let (Some(o), Some(r)) = (rate("extract_over_one_connection"), rate(reference)) {
            println!("extract_over_one_connection / {reference} = {:.2}", o / r);
        }
    }
}
