//! Peak memory of streaming a Parquet file into each warehouse: 1M rows
//! against 10M rows. Streaming keeps a few batches in flight, so the peak
//! should stay flat as the file grows.
//!
//! Each load runs in a child process of its own (this binary, re-run with
//! `ETL_MEMORY_CASE` set), and reports the kernel's peak resident set (VmHWM).
//! `cargo bench --bench memory` prints the table.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use etl::arrow::array::{
    Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use etl::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use etl::warehouses::duckdb::driver::Config;
use etl::{DuckDbWarehouse, ETLWorkflow, FilesExtractor, SqliteWarehouse};

const SIZES: [usize; 2] = [1_000_000, 10_000_000];
const WRITE_BATCH: usize = 65_536;

fn write_parquet(path: &Path, rows: usize) {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("y", DataType::Float64, true),
        Field::new("z", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("t", DataType::Utf8, true),
        Field::new("at", ts.clone(), true),
        Field::new("until", ts, true),
    ]));
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
    for start in (0..rows).step_by(WRITE_BATCH) {
        let ids: Vec<i64> = (start as i64..(start + WRITE_BATCH).min(rows) as i64).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i % 1000))),
                Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i * 7))),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|i| *i as f64 * 0.5),
                )),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|i| (i % 13) as f64),
                )),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|i| 1.0 / (*i as f64 + 1.0)),
                )),
                Arc::new(StringArray::from_iter_values(
                    ids.iter().map(|i| format!("name-{i}")),
                )),
                Arc::new(StringArray::from_iter_values(
                    ids.iter().map(|i| ["x", "yy", "zzz"][*i as usize % 3]),
                )),
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    ids.iter().map(|i| i * 1_000_000),
                )),
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    ids.iter().map(|i| i * 2_000_000),
                )),
            ],
        )
        .unwrap();
        writer.write(&batch).unwrap();
    }
    writer.close().unwrap();
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// One load in this process; prints `peak_mib seconds`.
fn run_case(case: &str) {
    let (warehouse, file, out) = {
        let mut parts = case.splitn(3, '|');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let files = FilesExtractor::open(file).unwrap();
    let started = std::time::Instant::now();
    let rows = match warehouse {
        "sqlite" => rt
            .block_on(ETLWorkflow::new(files, SqliteWarehouse::open(out).unwrap()).run())
            .unwrap()
            .total_rows(),
        capped if capped.starts_with("duckdb@") => {
            // DuckDB's buffer manager keeps the blocks a load writes up to its
            // memory limit (80 % of RAM by default); capped, the peak is flat.
            let limit = capped.trim_start_matches("duckdb@");
            let config = Config::default().max_memory(limit).unwrap();
            let duckdb = DuckDbWarehouse::open_with_config(out, config).unwrap();
            rt.block_on(ETLWorkflow::new(files, duckdb).run())
                .unwrap()
                .total_rows()
        }
        _ => rt
            .block_on(ETLWorkflow::new(files, DuckDbWarehouse::open(out).unwrap()).run())
            .unwrap()
            .total_rows(),
    };
    println!(
        "{rows} {:.1} {:.2}",
        peak_rss_mib(),
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    if let Ok(case) = std::env::var("ETL_MEMORY_CASE") {
        run_case(&case);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` asks which benchmarks exist.
    }
    let dir = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    println!("peak resident memory, Parquet (10 columns) streamed into each warehouse:");
    println!(
        "{:<13} {:>12} {:>12} {:>10}",
        "target", "rows", "peak MiB", "seconds"
    );
    for rows in SIZES {
        let parquet = dir.path().join(format!("rows_{rows}.parquet"));
        write_parquet(&parquet, rows);
        for warehouse in ["sqlite", "duckdb", "duckdb@64MB", "duckdb@256MB"] {
            let out = dir.path().join(format!("{warehouse}_{rows}.db"));
            let case = format!("{warehouse}|{}|{}", parquet.display(), out.display());
            let output = Command::new(&me)
                .env("ETL_MEMORY_CASE", case)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let text = String::from_utf8_lossy(&output.stdout);
            let fields: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(
                fields[0].parse::<usize>().unwrap(),
                rows,
                "every row loaded"
            );
            println!(
                "{warehouse:<13} {rows:>12} {:>12} {:>10}",
                fields[1], fields[2]
            );
            std::fs::remove_file(&out).ok();
        }
        std::fs::remove_file(&parquet).ok();
    }
}
