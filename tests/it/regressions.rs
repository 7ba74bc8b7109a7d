//! Every input in `fuzz/regressions/<target>/`, fed to what its fuzz target
//! feeds (see `fuzz/README.md`): hostile inputs written by hand, and any the
//! fuzzers found. An error is fine; a panic, a hang or a leaked secret fails.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use etl::dag::Cron;
use etl::{Discovered, ExtractOptions, Extractor, FilesConfig, FilesExtractor, HttpConfig};

/// The inputs kept for `target`, by file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = super::manifest_dir().join("fuzz/regressions").join(target);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no inputs in {}", dir.display());
    found
}

/// The file as a table: discovered and streamed whole, within 30 s.
async fn read_file(name: &str, input: &str, data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), data).unwrap();
    let files =
        FilesExtractor::new(FilesConfig::new(dir.path()).with_infer_rows(Some(64))).unwrap();
    let read = async {
        for found in files.discover().await.expect("discovery fails per table") {
            if let Discovered::Ready(spec) = found
                && let Ok(stream) = files
                    .extract(&spec, &ExtractOptions::with_batch_size(16))
                    .await
            {
                let _ = stream.collect_batches().await;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .unwrap_or_else(|_| panic!("{input}: reading it did not end"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_tsv_inputs() {
    for (name, data) in inputs("files_csv") {
        let Some((&pick, file)) = data.split_first() else {
            continue;
        };
        let file_name = if pick % 2 == 0 { "t.csv" } else { "t.tsv" };
        read_file(file_name, &name, file).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_inputs() {
    for (name, data) in inputs("files_jsonl") {
        read_file("t.jsonl", &name, &data).await;
    }
}

#[test]
fn json_record_pages() {
    for (_, data) in inputs("json_records") {
        let _ = etl::extractors::__fuzz::json_records(&data);
    }
}

#[test]
fn http_configs_never_show_a_secret() {
    const SECRET: &str = "fuzz-secret-token-7f3a";
    for (name, data) in inputs("http_toml") {
        let text = String::from_utf8_lossy(&data).replace("SECRET", SECRET);
        if let Err(e) = HttpConfig::from_toml(&text) {
            let message = e.to_string();
            assert!(!message.contains(SECRET), "{name}: {message}");
        }
    }
}

#[test]
fn cron_expressions() {
    for (name, data) in inputs("cron") {
        let text = String::from_utf8_lossy(&data);
        if let Ok(cron) = Cron::parse(&text) {
            for (date, time) in [
                ((2024, 2, 29), (23, 59, 59)),
                ((1970, 1, 1), (0, 0, 0)),
                ((9999, 12, 31), (23, 59, 59)),
            ] {
                let start = NaiveDate::from_ymd_opt(date.0, date.1, date.2)
                    .and_then(|d| d.and_hms_opt(time.0, time.1, time.2))
                    .unwrap();
                if let Some(next) = cron.next_after_datetime(start) {
                    assert!(next > start, "{name}: {next:?} is not after {start:?}");
                }
            }
        }
    }
}

#[cfg(feature = "pipeline")]
#[test]
fn pipeline_files() {
    const SECRET: &str = "fuzz-secret-token-7f3a";
    for (name, data) in inputs("pipeline_toml") {
        let text = String::from_utf8_lossy(&data).replace("SECRET", SECRET);
        let started = std::time::Instant::now();
        let read = etl::pipeline::Pipeline::parse(&text, "fuzz.toml");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name}: reading took {:?}",
            started.elapsed()
        );
        if name == "secret_everywhere" {
            // Each of its five literal secrets is refused at its place.
            let problems = read.as_ref().unwrap_err();
            let refused = problems
                .problems
                .iter()
                .filter(|p| p.message.contains("a secret is only ever a reference"))
                .count();
            assert_eq!(refused, 5, "{problems}");
        }
        if let Err(problems) = read {
            let lines = text.split('\n').count();
            assert!(!problems.problems.is_empty(), "{name}");
            for p in &problems.problems {
                assert!(
                    p.line >= 1 && p.line <= lines,
                    "{name}: line {} of {lines}",
                    p.line
                );
                assert!(p.column >= 1, "{name}: column {}", p.column);
                assert!(!p.message.contains(SECRET), "{name}: {}", p.message);
            }
        }
    }
}
