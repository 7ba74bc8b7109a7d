//! Airtable extraction speed, against the local Airtable server on 127.0.0.1.
//!
//! 1. Records per second extracted with both rate limiters off: the
//!    extractor's JSON parsing and Arrow building, beside the same pages
//!    fetched raw (HTTP and body only, no parsing) in the same run: the limit
//!    the extractor's own work is measured against.
//! 2. With the limiters on (the server answers `429` past 5 requests per
//!    second, as Airtable does), the extractor at its default settings: the
//!    requests per second it reached and the `429`s it provoked (target: at
//!    most 5, and none).
//!
//! `cargo bench -p etl-extractors --bench airtable`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use etl_airtable_server::{AirtableServer, Base, ServerOptions};
use etl_core::{ExtractOptions, Extractor};
use etl_extractors::airtable::{AirtableConfig, AirtableExtractor};
use serde_json::Value;

const RECORDS: usize = 10_000;

/// The sample base's Orders, repeated to `RECORDS` records.
fn big_base() -> Base {
    let orders: Value = serde_json::from_str(include_str!(
        "../../airtable-server/fixtures/sample_base/orders.json"
    ))
    .unwrap();
    let sample = orders["records"].as_array().unwrap();
    let records: Vec<Value> = (0..RECORDS)
        .map(|i| {
            let mut r = sample[i % sample.len()].clone();
            r["id"] = Value::String(format!("rec{i:014}"));
            r
        })
        .collect();
    let doc = serde_json::json!({"table": "tblOrders0000001", "records": records});
    Base::from_json(
        include_str!("../../airtable-server/fixtures/sample_base/meta.json"),
        &[&doc.to_string()],
    )
    .unwrap()
}

async fn extract(server: &AirtableServer, rate: Option<f64>) -> usize {
    let airtable = AirtableExtractor::new(
        AirtableConfig::new(server.token(), server.base_id())
            .with_api_url(server.url())
            .with_tables(["Orders"])
            .with_requests_per_second(rate),
    )
    .unwrap();
    let spec = airtable.tables().await.unwrap().remove(0);
    let stream = airtable
        .extract(&spec, &ExtractOptions::default())
        .await
        .unwrap();
    stream
        .collect_batches()
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

/// Every page fetched with reqwest, bodies read, nothing parsed but the offset.
async fn fetch_raw(server: &AirtableServer) -> usize {
    let client = reqwest::Client::new();
    let mut offset: Option<String> = None;
    let mut bytes = 0;
    loop {
        let mut url = format!(
            "{}/v0/{}/tblOrders0000001?pageSize=100&returnFieldsByFieldId=true",
            server.url(),
            server.base_id()
        );
        if let Some(o) = &offset {
            url.push_str("&offset=");
            url.push_str(o);
        }
        let body = client
            .get(&url)
            .bearer_auth(server.token())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        bytes += body.len();
        // The offset is the body's last key: find it without parsing the records.
        let tail = &body[body.len().saturating_sub(64)..];
        let text = String::from_utf8_lossy(tail);
        offset = text
            .split("\"offset\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(|s| s.replace('/', "%2F"));
        if offset.is_none() {
            break;
        }
    }
    bytes
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async {
        AirtableServer::start_with(big_base(), ServerOptions::default().with_rate_limit(None))
            .await
            .unwrap()
    });
    assert_eq!(runtime.block_on(extract(&server, None)), RECORDS);
    assert!(runtime.block_on(fetch_raw(&server)) > 0);

    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .configure_from_args();
    let mut medians = Vec::new();
    {
        let mut group = criterion.benchmark_group("airtable_10k_records");
        group.throughput(Throughput::Elements(RECORDS as u64));
        for (name, raw) in [("raw_http_fetch", true), ("extractor", false)] {
            let mut times = Vec::new();
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        if raw {
                            runtime.block_on(fetch_raw(&server));
                        } else {
                            runtime.block_on(extract(&server, None));
                        }
                    }
                    let elapsed = start.elapsed();
                    times.push(elapsed / iters as u32);
                    elapsed
                })
            });
            times.sort();
            medians.push((name, times[times.len() / 2]));
        }
        group.finish();
    }
    drop(server);

    // The limiters on: the whole sample base (28 requests) at Airtable's 5 a second.
    let (rate, limited, seconds, requests) = runtime.block_on(async {
        let server = AirtableServer::start(Base::sample()).await.unwrap();
        let start = Instant::now();
        let airtable = AirtableExtractor::new(
            AirtableConfig::new(server.token(), server.base_id()).with_api_url(server.url()),
        )
        .unwrap();
        for spec in airtable.tables().await.unwrap() {
            let stream = airtable
                .extract(&spec, &ExtractOptions::default())
                .await
                .unwrap();
            stream.collect_batches().await.unwrap();
        }
        let seconds = start.elapsed().as_secs_f64();
        let stats = server.stats();
        (
            stats.max_requests_per_second,
            stats.rate_limited,
            seconds,
            stats.requests,
        )
    });

    println!();
    println!("Airtable extraction, {RECORDS} records from the local server, limiters off:");
    for (name, median) in &medians {
        println!(
            "  {name:<15} {:>10.0} records/s  ({:.1} ms)",
            RECORDS as f64 / median.as_secs_f64(),
            median.as_secs_f64() * 1e3
        );
    }
    let ratio = medians[0].1.as_secs_f64() / medians[1].1.as_secs_f64();
    println!("  extractor / raw fetch speed: {ratio:.2}");
    println!(
        "With the limiters on: {requests} requests in {seconds:.1} s, at most {rate} in any second (budget 5), {limited} answered 429 (target 0)"
    );
}
