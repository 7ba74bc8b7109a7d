//! Pipeline files read as `etl` will read them: a good one into its model,
//! a broken one into every one of its problems, each at its position.

use etl_pipeline::{HttpSource, Pipeline, Source, StepKind, Warehouse, WriteMode};

mod schema;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/it/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn a_good_file_reads_into_its_model() {
    let pipeline = Pipeline::parse(&fixture("good.toml"), "good.toml").unwrap();
    assert_eq!(pipeline.name, "shop");
    let schedule = pipeline.schedule.as_ref().unwrap();
    assert_eq!(
        (schedule.cron.as_str(), schedule.zone.as_deref()),
        ("0 6 * * *", Some("Europe/Paris"))
    );
    assert_eq!(pipeline.params.len(), 2);
    assert_eq!(pipeline.params[0].default.as_deref(), Some("2026-12-01"));
    assert_eq!(pipeline.params[1].default, None, "limit is required");
    assert!(
        matches!(&pipeline.sources["shop"], Source::Airtable { token, tables, .. } if token == "${AIRTABLE_TOKEN}" && tables == &["Orders"])
    );
    assert!(
        matches!(&pipeline.sources["api"], Source::Http { config: HttpSource::File(f) } if f == "api/users.toml")
    );
    assert!(
        matches!(&pipeline.warehouses["dwh"], Warehouse::Duckdb { memory_limit: Some(m), .. } if m == "256MB")
    );
    let names: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["orders", "users", "revenue"]);
    let orders = &pipeline.steps[0];
    assert_eq!(
        (orders.retries, orders.timeout.map(|t| t.as_secs())),
        (2, Some(600))
    );
    assert!(
        matches!(&orders.kind, StepKind::Load(l) if l.mode == Some(WriteMode::Merge) && l.primary_key == ["id"])
    );
    assert!(matches!(&pipeline.steps[2].kind, StepKind::Sql(q) if q.table == "revenue"));
    assert_eq!(pipeline.steps[2].depends_on, ["orders", "users"]);
}

#[test]
fn a_file_whose_every_section_has_a_mistake_gives_every_problem_at_its_place() {
    let problems = Pipeline::parse(&fixture("broken.toml"), "broken.toml").unwrap_err();
    let text = problems.to_string();
    assert!(
        !text.contains("patSECRETSECRET") && !text.contains("literal-secret-value"),
        "a literal secret is never quoted: {text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn text_that_is_not_toml_is_said_at_its_place_and_the_rest_still_read() {
    let text = "name = \"x\"\n[steps\nbroken = = 1\n[[steps]]\nname = \"a\"\nsource = \"none\"\nwarehouse = \"w\"\n";
    let problems = Pipeline::parse(text, "bad.toml").unwrap_err().to_string();
    assert!(problems.starts_with("bad.toml:2:"), "{problems}");
    assert!(problems.contains("not TOML"), "{problems}");
}

#[test]
fn a_cycle_is_named_whole() {
    let text = r#"
name = "loop"
[warehouses.w]
sqlite = { path = "x.sqlite" }
[[steps]]
name = "a"
sql = "SELECT 1"
table = "a"
warehouse = "w"
depends_on = ["c"]
[[steps]]
name = "b"
sql = "SELECT 1"
table = "b"
warehouse = "w"
depends_on = ["a"]
[[steps]]
name = "c"
sql = "SELECT 1"
table = "c"
warehouse = "w"
depends_on = ["b"]
"#;
    let problems = Pipeline::parse(text, "loop.toml").unwrap_err().to_string();
    assert_eq!(
        problems,
        "loop.toml:6:8: steps: dependency cycle: a -> b -> c -> a"
    );
}

#[test]
fn stages_become_dependencies_of_their_steps() {
    let text = r#"
name = "staged"
max_parallel = 2
[warehouses.w]
sqlite = { path = "x.sqlite" }
[[steps]]
name = "a"
sql = "SELECT 1 AS one"
table = "a"
warehouse = "w"
[[steps]]
name = "b"
sql = "SELECT 2 AS two"
table = "b"
warehouse = "w"
[[steps]]
name = "c"
sql = "SELECT * FROM a"
table = "c"
warehouse = "w"
[[steps]]
name = "d"
sql = "SELECT * FROM b"
table = "d"
warehouse = "w"
[[stages]]
name = "extract"
steps = ["a", "b"]
[[stages]]
name = "transform"
steps = ["c", "d"]
depends_on = ["extract"]
parallel = false
"#;
    let pipeline = Pipeline::parse(text, "staged.toml").unwrap();
    let deps = |name: &str| {
        pipeline
            .steps
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .depends_on
            .clone()
    };
    assert!(deps("a").is_empty() && deps("b").is_empty());
    assert_eq!(deps("c"), ["a", "b"]);
    assert_eq!(deps("d"), ["a", "b", "c"], "one after another");
    assert_eq!(pipeline.max_parallel, Some(2));
    assert_eq!(pipeline.stages.len(), 2);

    // A stage that depends on a later one whose steps depend on it: a cycle.
    let looped = text.replace(
        "name = \"extract\"\n",
        "name = \"extract\"\ndepends_on = [\"transform\"]\n",
    );
    let problems = Pipeline::parse(&looped, "staged.toml")
        .unwrap_err()
        .to_string();
    assert!(problems.contains("dependency cycle"), "{problems}");
}

#[test]
fn a_postgres_warehouse_takes_its_url_from_the_environment_never_the_file() {
    let file = |url: &str| {
        format!(
            "name = \"pg\"\n[warehouses.pg]\npostgres = {{ url = \"{url}\", schema = \"raw\" }}\n\
             [[steps]]\nname = \"s\"\nsql = \"SELECT 1\"\ntable = \"t\"\nwarehouse = \"pg\"\n"
        )
    };
    let pipeline = Pipeline::parse(&file("${PG_URL}"), "pg.toml").unwrap();
    assert!(matches!(
        &pipeline.warehouses["pg"],
        Warehouse::Postgres { url, schema: Some(s), root_certificates: None } if url == "${PG_URL}" && s == "raw"
    ));
    Pipeline::parse(
        &file("postgres://etl:${PG_PASSWORD}@db:5432/shop"),
        "pg.toml",
    )
    .unwrap();
    Pipeline::parse(&file("postgres://etl@db/shop?sslmode=require"), "pg.toml").unwrap();
    for literal in [
        "postgres://etl:hunter2-in-file@db/shop",
        "host=db user=etl password=hunter2-in-file",
    ] {
        let problems = Pipeline::parse(&file(literal), "pg.toml")
            .unwrap_err()
            .to_string();
        assert!(problems.contains("pg.toml:3:"), "{problems}");
        assert!(
            problems.contains("warehouses.pg.postgres.url: holds a password"),
            "{problems}"
        );
        assert!(!problems.contains("hunter2"), "never quoted: {problems}");
    }
    // Where the credentials go is never a run's parameter.
    let text = file("postgres://etl@${params.host}/shop").replace(
        "name = \"pg\"\n",
        "name = \"pg\"\n[params.host]\ntype = \"string\"\ndefault = \"db\"\n",
    );
    let problems = Pipeline::parse(&text, "pg.toml").unwrap_err().to_string();
    assert!(problems.contains("never a run's parameter"), "{problems}");
    // Unknown keys name the known ones.
    let problems = Pipeline::parse(&file("${PG_URL}\", password = \"x"), "pg.toml")
        .unwrap_err()
        .to_string();
    assert!(problems.contains("root_certificates"), "{problems}");
}

#[test]
fn a_postgres_source_reads_its_queries_and_cursors() {
    let text = r#"
name = "pg"
[params.min]
type = "int"
default = 1
[sources.shop]
postgres = { url = "${PG_URL}", schema = "shop", queries = { big = "SELECT * FROM orders WHERE total > ${params.min}" }, incremental = { orders = "updated_at" }, read_connections = 4 }
[warehouses.w]
sqlite = { path = "w.sqlite" }
[[steps]]
name = "copy"
source = "shop"
warehouse = "w"
tables = ["orders", "big"]
"#;
    let pipeline = Pipeline::parse(text, "pg.toml").unwrap();
    match &pipeline.sources["shop"] {
        Source::Postgres {
            url,
            schema,
            queries,
            incremental,
            read_connections,
            ..
        } => {
            assert_eq!(*read_connections, Some(4));
            assert_eq!(url, "${PG_URL}");
            assert_eq!(schema.as_deref(), Some("shop"));
            assert_eq!(
                queries["big"],
                "SELECT * FROM orders WHERE total > ${params.min}"
            );
            assert_eq!(incremental["orders"], "updated_at");
        }
        other => panic!("{other:?}"),
    }
    // A cursor that is not a column name, a password in the URL.
    let broken = text
        .replace("orders = \"updated_at\"", "orders = 7")
        .replace("read_connections = 4", "read_connections = 0")
        .replace("${PG_URL}", "postgres://etl:hunter2@db/shop");
    let problems = Pipeline::parse(&broken, "pg.toml").unwrap_err().to_string();
    assert!(
        problems.contains("sources.shop.postgres.incremental.orders: is an integer, not a string"),
        "{problems}"
    );
    assert!(
        problems.contains("sources.shop.postgres.url: holds a password"),
        "{problems}"
    );
    assert!(
        problems
            .contains("sources.shop.postgres.read_connections: give a whole number from 1 to 64"),
        "{problems}"
    );
    assert!(!problems.contains("hunter2"), "{problems}");
}

#[test]
fn a_place_not_recorded_is_the_nearest_one_around_it() {
    let text = "name = \"p\"\n[sources.s]\nsqlite = { path = \"a.sqlite\", tables = [\"x\", \"y\"] }\n[warehouses.w]\nsqlite = { path = \"w.sqlite\" }\n[[steps]]\nname = \"copy\"\nsource = \"s\"\nwarehouse = \"w\"\n";
    let kinds = etl_pipeline::Kinds::new(["sqlite"], []);
    let pipeline = Pipeline::parse_with(text, "p.toml", &kinds).unwrap();
    let line3 = text.lines().nth(2).unwrap();
    let at = |needle: &str| line3.find(needle).unwrap() + 1;
    // Each key of a registered kind's table, and each item of its arrays.
    assert_eq!(
        pipeline.position("sources.s.sqlite.tables").column,
        at("tables")
    );
    assert_eq!(
        pipeline.position("sources.s.sqlite.tables[1]").column,
        at("\"y\"")
    );
    // A place deeper than any recorded: the nearest around it.
    assert_eq!(
        pipeline
            .position("sources.s.sqlite.tables[1].deeper")
            .column,
        at("\"y\"")
    );
    // A key the table does not have: the source's own place.
    assert_eq!(pipeline.position("sources.s.sqlite.colour").line, 2);
    assert_eq!(pipeline.position("nowhere").line, 1);
}
