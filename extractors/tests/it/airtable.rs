//! The Airtable extractor against the local Airtable server on 127.0.0.1.

use std::time::Duration;

use etl_airtable_server::{AirtableServer, Base, FailPage, Faults, RetryAfter, ServerOptions};
use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::util::pretty::pretty_format_batches;
use etl_core::{Error, ExtractOptions, Extractor, TableSpec};
use etl_extractors::airtable::{AirtableConfig, AirtableExtractor, Limits, RetryPolicy};

use super::fixture;

fn kinds_base() -> Base {
    Base::load(&fixture("airtable/kinds")).unwrap()
}

/// A server without a rate limit unless `options` sets one.
async fn serve(base: Base, options: ServerOptions) -> AirtableServer {
    AirtableServer::start_with(base, options).await.unwrap()
}

fn unlimited() -> ServerOptions {
    ServerOptions::default().with_rate_limit(None)
}

/// A config for the server's base with fast retries and no client limiter.
fn config(server: &AirtableServer) -> AirtableConfig {
    AirtableConfig::new(server.token(), server.base_id())
        .with_api_url(server.url())
        .with_requests_per_second(None)
        .with_retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
                .with_rate_limit_wait(Duration::from_millis(300))
                .with_max_attempts(4),
        )
}

async fn spec(extractor: &AirtableExtractor, table: &str) -> TableSpec {
    extractor
        .tables()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name() == table)
        .unwrap_or_else(|| panic!("no table {table}"))
}

async fn extract_all(
    extractor: &AirtableExtractor,
    table: &str,
    batch_size: usize,
) -> etl_core::Result<(Vec<RecordBatch>, etl_core::ExtractNotes)> {
    let spec = spec(extractor, table).await;
    let stream = extractor
        .extract(&spec, &ExtractOptions::with_batch_size(batch_size))
        .await?;
    let notes = stream.notes().clone();
    Ok((stream.collect_batches().await?, notes))
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[tokio::test]
async fn every_field_type_maps_to_its_documented_column() {
    let server = serve(kinds_base(), unlimited()).await;
    let airtable = AirtableExtractor::new(config(&server)).unwrap();
    let spec = spec(&airtable, "Every \"kind\" 🚀").await;
    let types: Vec<String> = spec
        .schema()
        .fields()
        .iter()
        .map(|f| {
            format!(
                "{}: {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " not null" }
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            "_airtable_id: Utf8 not null",
            "_airtable_created_time: Timestamp(ms, \"UTC\") not null",
            "Name: Utf8",
            "select: Utf8",
            "Qty: Int64",
            "Price ($): Float64",
            "Share: Float64",
            "Done?: Boolean not null",
            "Due: Date32",
            "At: Timestamp(ms, \"UTC\")",
            "Tags: List(Utf8)",
            "Links: List(Utf8)",
            "Files: List(Struct(\"id\": Utf8, \"url\": Utf8, \"filename\": Utf8, \"size\": Int64, \"type\": Utf8, \"width\": Int64, \"height\": Int64))",
            "Owner: Struct(\"id\": Utf8, \"email\": Utf8, \"name\": Utf8)",
            "Code: Struct(\"text\": Utf8, \"type\": Utf8)",
            "Stars: Int64",
            "Took: Int64",
            "Ratio: Float64",
            "Linked names: List(Utf8)",
            "Poll: Utf8",
        ]
    );
    assert_eq!(spec.primary_key(), ["_airtable_id"]);

    let (batches, notes) = extract_all(&airtable, spec.name(), 100).await.unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    let expected = r#"
+------------------+--------------------------+---------------+-------------------+-----+-----------+-------+-------+------------+--------------------------+------------+--------------------+---------------------------------------------------------------------------------------------------------------------------+-----------------------------------------------------+---------------------------------------+-------+------+-------+--------------+--------------+
| _airtable_id     | _airtable_created_time   | Name          | select            | Qty | Price ($) | Share | Done? | Due        | At                       | Tags       | Links              | Files                                                                                                                     | Owner                                               | Code                                  | Stars | Took | Ratio | Linked names | Poll         |
+------------------+--------------------------+---------------+-------------------+-----+-----------+-------+-------+------------+--------------------------+------------+--------------------+---------------------------------------------------------------------------------------------------------------------------+-----------------------------------------------------+---------------------------------------+-------+------+-------+--------------+--------------+
| recFull000000001 | 2024-01-31T09:15:00Z     | Ada           | line one          | 3   | 19.99     | 0.5   | true  | 2024-02-29 | 2024-01-31T09:15:30.250Z | [vip, b2b] | [recEmpty00000001] | [{id: attA, url: https://example.com/a.png, filename: a.png, size: 1234, type: image/png, width: 10, height: 20}]         | {id: usrA, email: ada@example.com, name: Ada L.}    | {text: 4006381333931, type: ean13}    | 4     | 3723 | 0.25  | [Bob]        | {"votes":3}  |
|                  |                          |               | line "two"        |     |           |       |       |            |                          |            |                    |                                                                                                                           |                                                     |                                       |       |      |       |              |              |
| recEmpty00000001 | 2024-02-01T00:00:00Z     |               |                   |     |           |       | false |            |                          |            |                    |                                                                                                                           |                                                     |                                       |       |      |       |              |              |
| recWrong00000001 | 2024-02-02T12:00:00Z     | Bad values    |                   |     |           |       | false |            |                          |            |                    |                                                                                                                           |                                                     |                                       | 2     |      |       |              |              |
| recError00000001 | 2024-02-03T12:00:00Z     | Formula error |                   |     |           |       | false |            |                          |            |                    |                                                                                                                           |                                                     |                                       |       |      |       |              | "yes"        |
+------------------+--------------------------+---------------+-------------------+-----+-----------+-------+-------+------------+--------------------------+------------+--------------------+---------------------------------------------------------------------------------------------------------------------------+-----------------------------------------------------+---------------------------------------+-------+------+-------+--------------+--------------+"#;
    assert_eq!(normalise(&text), normalise(expected), "got:\n{text}");
    // Qty 2.5, the NaN ratio, the bad date, the #ERROR! ratio.
    assert_eq!(notes.invalid_values(), 4);
    assert_eq!(
        notes.warnings(),
        [
            "field \"Poll\" has type \"someFutureType\", which this version does not know; loaded as JSON text"
        ]
    );
}

/// Cells compared without their padding, so the expected table can be laid out by hand.
fn normalise(table: &str) -> Vec<Vec<String>> {
    table
        .trim()
        .lines()
        .filter(|l| !l.starts_with('+'))
        .map(|l| l.split('|').map(|c| c.trim().to_owned()).collect())
        .collect()
}

#[tokio::test]
async fn pages_are_followed_to_the_end_in_batches_of_whole_pages() {
    let base = Base::sample();
    let expected = base.record_count("Orders").unwrap();
    assert!(expected > 1_000, "the sample base has several pages");
    let server = serve(base, unlimited()).await;
    let airtable = AirtableExtractor::new(config(&server)).unwrap();
    let (batches, notes) = extract_all(&airtable, "Orders", 250).await.unwrap();
    assert_eq!(rows(&batches), expected);
    // 250 rows a batch rounds up to 3 pages: 300 records.
    assert_eq!(batches[0].num_rows(), 300);
    assert_eq!(notes.invalid_values(), 0);
    let stats = server.stats();
    assert_eq!(stats.list_requests, expected.div_ceil(100));
    let ids: std::collections::HashSet<String> = batches
        .iter()
        .flat_map(|b| {
            let ids = b
                .column(0)
                .as_any()
                .downcast_ref::<etl_core::arrow::array::StringArray>()
                .unwrap();
            ids.iter()
                .map(|s| s.unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids.len(), expected, "no record twice, none missing");
}

#[tokio::test]
async fn the_sample_base_reads_with_every_table_and_counts_formula_errors() {
    let base = Base::sample();
    let server = serve(base.clone(), unlimited()).await;
    let airtable = AirtableExtractor::new(config(&server)).unwrap();
    let tables = airtable.tables().await.unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["Customers", "Products", "Orders"]);
    for table in &tables {
        let (batches, notes) = extract_all(&airtable, table.name(), 8192).await.unwrap();
        assert_eq!(rows(&batches), base.record_count(table.name()).unwrap());
        // Only Products has formula errors (NaN and #ERROR! margins).
        assert_eq!(
            notes.invalid_values() > 0,
            table.name() == "Products",
            "{}",
            table.name()
        );
        assert!(notes.warnings().is_empty());
    }
}

#[tokio::test]
async fn a_429_waits_and_retries_and_the_limiter_avoids_it() {
    // The server allows 20 requests a second (Airtable: 5; 20 keeps the test
    // short) and answers 429 for 300 ms to a client that goes over.
    let strict = || {
        ServerOptions::default()
            .with_rate_limit(Some(20))
            .with_penalty(Duration::from_millis(300))
    };
    let server = serve(Base::sample(), strict()).await;
    // No client limiter: 21 requests in a burst get 429s, which are waited out.
    let airtable = AirtableExtractor::new(
        config(&server).with_retry(
            RetryPolicy::default()
                .with_rate_limit_wait(Duration::from_millis(350))
                .with_max_attempts(20),
        ),
    )
    .unwrap();
    let (batches, _) = extract_all(&airtable, "Orders", 100).await.unwrap();
    assert_eq!(rows(&batches), 2000);
    assert!(server.stats().rate_limited > 0, "{:?}", server.stats());

    // With the limiter at the server's rate, none.
    let server = serve(Base::sample(), strict()).await;
    let airtable =
        AirtableExtractor::new(config(&server).with_requests_per_second(Some(20.0))).unwrap();
    let (batches, _) = extract_all(&airtable, "Orders", 100).await.unwrap();
    assert_eq!(rows(&batches), 2000);
    let stats = server.stats();
    assert_eq!(stats.requests, 21, "{stats:?}");
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert!(stats.max_requests_per_second <= 20, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractors_of_one_base_share_its_limit() {
    // Two extractors of one base, reading at once (two steps of a workflow):
    // together they keep to the base's 20 requests a second.
    let server = serve(
        Base::sample(),
        ServerOptions::default()
            .with_rate_limit(Some(20))
            .with_penalty(Duration::from_millis(300)),
    )
    .await;
    let limited =
        || AirtableExtractor::new(config(&server).with_requests_per_second(Some(20.0))).unwrap();
    let (first, second) = (limited(), limited());
    let (a, b) = tokio::join!(
        extract_all(&first, "Orders", 100),
        extract_all(&second, "Orders", 100)
    );
    assert_eq!((rows(&a.unwrap().0), rows(&b.unwrap().0)), (2000, 2000));
    let stats = server.stats();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert!(stats.max_requests_per_second <= 20, "{stats:?}");
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_with_table_and_page() {
    let server = serve(Base::sample(), unlimited()).await;
    let airtable = AirtableExtractor::new(config(&server)).unwrap();
    server.set_faults(Faults {
        fail_page: Some(FailPage {
            table: Some("Products".into()),
            page: 2,
            status: 503,
            times: Some(2),
        }),
        ..Faults::default()
    });
    let (batches, _) = extract_all(&airtable, "Products", 100).await.unwrap();
    assert_eq!(rows(&batches), 250, "two 503s, then the page");

    server.set_faults(Faults {
        fail_page: Some(FailPage {
            table: None,
            page: 3,
            status: 500,
            times: None,
        }),
        ..Faults::default()
    });
    let err = extract_all(&airtable, "Products", 100).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        "Airtable base \"appSampleShop0001\", table \"Products\": HTTP 500: SERVER_ERROR: Injected failure (gave up after 4 attempts)"
    );
}

#[tokio::test]
async fn a_bad_token_fails_at_once_and_never_shows() {
    let server = serve(Base::sample(), unlimited()).await;
    let airtable = AirtableExtractor::new(
        AirtableConfig::new("patWRONGtoken.secret", server.base_id())
            .with_api_url(server.url())
            .with_requests_per_second(None),
    )
    .unwrap();
    let err = airtable.tables().await.unwrap_err();
    let text = err.to_string();
    assert!(!err.is_retryable());
    assert!(
        text.starts_with("Airtable base \"appSampleShop0001\": HTTP 401: AUTHENTICATION_REQUIRED"),
        "{text}"
    );
    assert!(text.contains("check AIRTABLE_TOKEN"), "{text}");
    assert!(!text.contains("secret") && !format!("{err:?}").contains("secret"));
    assert!(!format!("{airtable:?}").contains("secret"));
    assert_eq!(server.stats().requests, 1, "no retry of a 401");
}

#[tokio::test]
async fn unknown_bases_and_tables_are_named() {
    let server = serve(Base::sample(), unlimited()).await;
    let other_base = AirtableExtractor::new(
        AirtableConfig::new(server.token(), "appSomeoneElse001")
            .with_api_url(server.url())
            .with_requests_per_second(None),
    )
    .unwrap();
    let err = other_base.tables().await.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "Airtable base \"appSomeoneElse001\": HTTP 403: INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"
        ),
        "{err}"
    );
    assert!(
        err.contains("not found, or the token may not read it"),
        "{err}"
    );

    let wrong_table =
        AirtableExtractor::new(config(&server).with_tables(["Customers", "Invoices"])).unwrap();
    let err = wrong_table.tables().await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTable { table, offered } if table == "Invoices" && offered.len() == 3),
        "{err}"
    );
    // Only the chosen tables, by name or id.
    let chosen =
        AirtableExtractor::new(config(&server).with_tables(["tblOrders0000001", "Customers"]))
            .unwrap();
    let names: Vec<String> = chosen
        .tables()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    assert_eq!(names, ["Orders", "Customers"]);
}

#[tokio::test]
async fn a_malformed_page_is_an_error_naming_it() {
    let server = serve(Base::sample(), unlimited()).await;
    let airtable = AirtableExtractor::new(config(&server)).unwrap();
    server.set_faults(Faults {
        malformed_page: Some(2),
        ..Faults::default()
    });
    let err = extract_all(&airtable, "Customers", 100)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Airtable base \"appSampleShop0001\", table \"Customers\": page 2: the answer is not the JSON Airtable sends"),
        "{err}"
    );
}

#[tokio::test]
async fn a_long_filter_goes_by_post_and_filters() {
    let server = serve(Base::sample(), unlimited()).await;
    // A formula as long as real ones get (a list of ids, say), padded with spaces.
    let formula = format!(
        "IS_AFTER(LAST_MODIFIED_TIME(), '2030-01-01T00:00:00.000Z'){}",
        " ".repeat(17_000)
    );
    let airtable = AirtableExtractor::new(config(&server).with_filter("Orders", formula)).unwrap();
    let (batches, _) = extract_all(&airtable, "Orders", 100).await.unwrap();
    assert_eq!(rows(&batches), 0, "no record was modified after 2030");
    assert_eq!(server.stats().post_list_requests, 1);
}

#[tokio::test]
async fn snake_case_names_on_request() {
    let server = serve(kinds_base(), unlimited()).await;
    let airtable = AirtableExtractor::new(config(&server).with_snake_case(true)).unwrap();
    let tables = airtable.tables().await.unwrap();
    assert_eq!(tables[0].name(), "every_kind");
    let names: Vec<&str> = tables[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        &names[..8],
        [
            "_airtable_id",
            "_airtable_created_time",
            "name",
            "select",
            "qty",
            "price",
            "share",
            "done"
        ]
    );
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried_then_reported() {
    let server = serve(Base::sample(), unlimited()).await;
    let airtable = AirtableExtractor::new(
        config(&server).with_retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(5), Duration::from_millis(10))
                .with_request_timeout(Duration::from_millis(100))
                .with_max_attempts(2),
        ),
    )
    .unwrap();
    let spec = spec(&airtable, "Products").await;
    server.set_faults(Faults {
        delay: Some(Duration::from_millis(400)),
        ..Faults::default()
    });
    let err = airtable
        .extract(&spec, &ExtractOptions::default())
        .await
        .unwrap()
        .collect_batches()
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with("Airtable base \"appSampleShop0001\", table \"Products\": timed out"),
        "{text}"
    );
    assert!(text.ends_with("(gave up after 2 attempts)"), "{text}");
}

/// What a table's extraction failed with, as text, within `limit`.
async fn failure(airtable: &AirtableExtractor, table: &str, limit: Duration) -> String {
    tokio::time::timeout(limit, extract_all(airtable, table, 100))
        .await
        .unwrap_or_else(|_| panic!("the extraction of {table:?} did not end within {limit:?}"))
        .expect_err("the extraction fails")
        .to_string()
}

#[tokio::test]
async fn absurd_retry_after_values_fail_at_once_and_never_panic() {
    let server = serve(Base::sample(), unlimited()).await;
    for (page, value) in [
        (0, "18446744073709551615"),
        (1, "18446744073709551615"),
        (2, "3600"),
    ] {
        server.set_faults(Faults {
            retry_after: Some(RetryAfter {
                page,
                value: value.into(),
                always: true,
            }),
            ..Faults::default()
        });
        let airtable = AirtableExtractor::new(config(&server)).unwrap();
        let err = if page == 0 {
            tokio::time::timeout(Duration::from_secs(10), airtable.tables())
                .await
                .expect("no wait for an hour")
                .expect_err("the schema request fails")
                .to_string()
        } else {
            failure(&airtable, "Orders", Duration::from_secs(10)).await
        };
        assert!(
            err.contains("HTTP 429")
                && err.contains("Retry-After")
                && err.contains("max_retry_after"),
            "page {page}, Retry-After {value}: {err}"
        );
    }
    // A wait within the bound is waited out, and the table reads.
    server.set_faults(Faults {
        retry_after: Some(RetryAfter {
            page: 1,
            value: "1".into(),
            always: false,
        }),
        ..Faults::default()
    });
    let airtable = AirtableExtractor::new(config(&server)).unwrap();
    let (batches, _) = extract_all(&airtable, "Orders", 100).await.unwrap();
    assert_eq!(
        rows(&batches),
        Base::sample().record_count("Orders").unwrap()
    );
}

#[tokio::test]
async fn an_endless_answer_stops_at_the_configured_size() {
    let server = serve(Base::sample(), unlimited()).await;
    let limited =
        || config(&server).with_limits(Limits::default().with_max_response_bytes(4 << 20));
    server.set_faults(Faults {
        endless_page: Some(2),
        ..Faults::default()
    });
    let airtable = AirtableExtractor::new(limited()).unwrap();
    let err = failure(&airtable, "Orders", Duration::from_secs(30)).await;
    assert!(
        err.contains("\"Orders\"")
            && err.contains("larger than 4194304 bytes")
            && err.contains("max_response_bytes"),
        "{err}"
    );
    server.set_faults(Faults {
        endless_page: Some(0),
        ..Faults::default()
    });
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        AirtableExtractor::new(limited()).unwrap().tables(),
    )
    .await
    .unwrap()
    .unwrap_err()
    .to_string();
    assert!(err.contains("max_response_bytes"), "{err}");
}

#[tokio::test]
async fn an_offset_that_repeats_is_a_loop_and_pages_are_bounded() {
    let server = serve(Base::sample(), unlimited()).await;
    server.set_faults(Faults {
        repeat_offset: true,
        ..Faults::default()
    });
    let airtable = AirtableExtractor::new(config(&server)).unwrap();
    let err = failure(&airtable, "Orders", Duration::from_secs(30)).await;
    assert!(err.contains("page 2") && err.contains("never end"), "{err}");
    assert_eq!(
        server.stats().list_requests,
        2,
        "no page was asked for a third time"
    );

    server.set_faults(Faults::default());
    let few =
        AirtableExtractor::new(config(&server).with_limits(Limits::default().with_max_pages(3)))
            .unwrap();
    let err = failure(&few, "Orders", Duration::from_secs(30)).await;
    assert!(
        err.contains("more than 3 pages") && err.contains("max_pages"),
        "{err}"
    );
}

#[tokio::test]
async fn error_text_a_server_sends_is_cut_escaped_and_rid_of_the_token() {
    let server = serve(Base::sample(), unlimited()).await;
    let airtable = AirtableExtractor::new(
        config(&server).with_retry(RetryPolicy::default().with_max_attempts(1)),
    )
    .unwrap();
    let table = spec(&airtable, "Orders").await;
    let body = format!(
        "\u{1b}[2J\u{1b}[31mproxy error\r\nAuthorization: Bearer {}\n{}",
        server.token(),
        "A".repeat(100_000)
    );
    server.set_faults(Faults {
        error_body: Some((1, body)),
        ..Faults::default()
    });
    let err = airtable
        .extract(&table, &ExtractOptions::default())
        .await
        .unwrap()
        .collect_batches()
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains(server.token()), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err}");
    assert!(err.contains("proxy error") && err.len() < 1_000, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_extractor_conformance_suite() {
    let server = std::sync::Arc::new(serve(kinds_base(), unlimited()).await);
    let config = config(&server);
    let boxed = config.clone();
    let make = move || AirtableExtractor::new(config.clone()).unwrap();
    let counted = server.clone();
    let requests = move || counted.stats().requests as u64;
    etl_testing::extractor::check_extractor(
        etl_testing::extractor::Subject::new("airtable", make).counting(requests),
    )
    .await;
    // The same behind `Box<dyn DynExtractor>`, as chosen at run time.
    let make = move || {
        Box::new(AirtableExtractor::new(boxed.clone()).unwrap()) as etl_core::BoxedExtractor
    };
    let counted = server.clone();
    let requests = move || counted.stats().requests as u64;
    etl_testing::extractor::check_extractor(
        etl_testing::extractor::Subject::new("airtable, boxed", make).counting(requests),
    )
    .await;
}
