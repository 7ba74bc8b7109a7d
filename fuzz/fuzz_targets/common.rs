//! What the file targets share: the input as a file, read the way
//! `ETLWorkflow` reads one (schemas discovered, every table streamed).

use etl_core::Extractor;
use etl_extractors::{FilesConfig, FilesExtractor};

/// Writes `data` as `name` in a fresh folder, discovers its table and
/// streams it whole. Errors are fine; a panic or a hang is a bug.
pub fn read_file(name: &str, data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join(name), data).expect("the input is written");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let files = FilesExtractor::new(FilesConfig::new(dir.path()).with_infer_rows(Some(64)))
        .expect("one file is one table");
        for found in files.discover().await.expect("discovery fails per table") {
            if let etl_core::Discovered::Ready(spec) = found
                && let Ok(stream) = files
                    .extract(&spec, &etl_core::ExtractOptions::with_batch_size(16))
                    .await
            {
                let _ = stream.collect_batches().await;
            }
        }
    });
}
