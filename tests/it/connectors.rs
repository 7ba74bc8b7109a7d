//! The connector registry (`etl::registry()`): every built-in kind opened
//! from its configuration as JSON, relative paths against the folder given,
//! and every mistake named at its place.

use etl::connectors::ConnectorConfig;
use etl::{ETLWorkflow, Extractor, Warehouse};
use serde_json::json;

#[test]
fn the_registry_has_every_built_in_kind() {
    let registry = etl::registry();
    assert_eq!(
        registry.source_kinds(),
        ["airtable", "duckdb", "files", "http", "postgres", "sqlite"]
    );
    assert_eq!(registry.warehouse_kinds(), ["duckdb", "postgres", "sqlite"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_and_a_warehouse_chosen_by_name_load_as_typed_ones_do() {
    let registry = etl::registry();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/people.csv"),
        "id,name\n1,ada\n2,grace\n",
    )
    .unwrap();
    let files = json!({ "path": "data" });
    let source = registry
        .open_source(&ConnectorConfig::new("files", &files, "sources.s.files").base_dir(dir.path()))
        .unwrap();
    assert!(source.source().starts_with("files:"), "{}", source.source());
    for (kind, file) in [("sqlite", "dwh.sqlite"), ("duckdb", "dwh.duckdb")] {
        let config = json!({ "path": file });
        let at = format!("warehouses.w.{kind}");
        let warehouse = registry
            .open_warehouse(&ConnectorConfig::new(kind, &config, &at).base_dir(dir.path()))
            .unwrap();
        assert_eq!(warehouse.kind(), kind);
        let source = registry
            .open_source(
                &ConnectorConfig::new("files", &files, "sources.s.files").base_dir(dir.path()),
            )
            .unwrap();
        let report = ETLWorkflow::new(source, warehouse).run().await.unwrap();
        assert!(report.succeeded(), "{report}");
        assert_eq!(report.tables[0].rows, 2, "{report}");
        assert!(
            dir.path().join(file).exists(),
            "{kind}: relative to the folder given"
        );
    }
    // The others open from their configs too (no request is made yet).
    let airtable = json!({ "base": "appAAAAAAAAAAAAAA", "token": "pat.secret", "api_url": "http://127.0.0.1:9" });
    let opened = registry
        .open_source(&ConnectorConfig::new(
            "airtable",
            &airtable,
            "sources.a.airtable",
        ))
        .unwrap();
    assert_eq!(opened.source(), "airtable:appAAAAAAAAAAAAAA");
    let http = json!({
        "base_url": "http://127.0.0.1:9/",
        "resources": [{ "name": "users", "path": "users" }],
    });
    registry
        .open_source(&ConnectorConfig::new("http", &http, "sources.h.http"))
        .unwrap();
    // A key left out, or given as null (a pipeline file's unset key), is
    // the default.
    for postgres in [
        json!({ "url": "postgres://etl@127.0.0.1:9/shop", "read_connections": 4 }),
        json!({ "url": "postgres://etl@127.0.0.1:9/shop", "read_connections": null, "schema": null }),
    ] {
        let opened = registry
            .open_source(&ConnectorConfig::new(
                "postgres",
                &postgres,
                "sources.p.postgres",
            ))
            .unwrap();
        assert_eq!(
            opened.source(),
            "postgres:postgres://etl@127.0.0.1:9/shop/public"
        );
    }
}

#[test]
fn every_mistake_is_named_at_its_place_and_no_secret_is_shown() {
    let registry = etl::registry();
    let error = |kind: &str, config: serde_json::Value, at: &str, source: bool| {
        let config = ConnectorConfig::new(kind, &config, at);
        let err = if source {
            registry.open_source(&config).err()
        } else {
            registry.open_warehouse(&config).err()
        };
        err.expect("an error").to_string()
    };
    for (kind, config, at, source, expected) in [
        (
            "sqlite",
            json!({ "path": "x.db", "colour": "red" }),
            "warehouses.w.sqlite",
            false,
            "warehouses.w.sqlite.colour: unknown field `colour`, expected `path`",
        ),
        (
            "duckdb",
            json!({ "path": "x.duckdb", "memory_limit": "lots" }),
            "warehouses.w.duckdb",
            false,
            "warehouses.w.duckdb: memory_limit \"lots\"",
        ),
        (
            "mysql",
            json!({}),
            "warehouses.w.mysql",
            false,
            "warehouses.w.mysql: no warehouse kind \"mysql\": this build has duckdb, postgres, sqlite",
        ),
        (
            "postgres",
            json!({ "schema": "raw" }),
            "warehouses.w.postgres",
            false,
            "warehouses.w.postgres: missing field `url`",
        ),
        (
            "postgres",
            json!({ "url": "postgres://etl:hunter2@db:notaport/shop" }),
            "warehouses.w.postgres",
            false,
            "not a PostgreSQL URL",
        ),
        (
            "postgres",
            json!({ "url": "postgres://etl@db/shop", "read_connections": 0 }),
            "sources.p.postgres",
            true,
            "sources.p.postgres.read_connections: give a whole number from 1 to 64, not 0",
        ),
        (
            "postgres",
            json!({ "url": "postgres://etl@db/shop", "read_connections": -3 }),
            "sources.p.postgres",
            true,
            "sources.p.postgres.read_connections: invalid value: integer `-3`",
        ),
        (
            "airtable",
            json!({ "token": "pat.secret" }),
            "sources.a.airtable",
            true,
            "sources.a.airtable: missing field `base`",
        ),
        (
            "files",
            json!({ "path": 7 }),
            "sources.f.files",
            true,
            "sources.f.files.path: invalid type: integer `7`, expected a string",
        ),
        (
            "http",
            json!({ "config": 7 }),
            "sources.h.http",
            true,
            "sources.h.http: `config` is the path of the API's TOML file",
        ),
        (
            "kafka",
            json!({}),
            "sources.k.kafka",
            true,
            "sources.k.kafka: no source kind \"kafka\": this build has airtable, duckdb, files, http, postgres, sqlite",
        ),
    ] {
        let err = error(kind, config, at, source);
        assert!(err.contains(expected), "{kind}: {err}");
        assert!(!err.contains("pat.secret"), "{kind}: {err}");
        assert!(!err.contains("hunter2"), "{kind}: {err}");
    }
}
