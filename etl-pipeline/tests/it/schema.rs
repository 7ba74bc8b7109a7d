//! The published JSON Schema (`pipeline.schema.json`), for editors: it takes
//! every example pipeline and the good fixture, and refuses the broken ones,
//! each for the reason the reader refuses it.

use std::path::{Path, PathBuf};

use boon::{Compiler, Schemas};
use serde_json::Value;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The schema, compiled.
fn schema() -> (Schemas, boon::SchemaIndex) {
    let path = crate_dir().join("pipeline.schema.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut schemas = Schemas::new();
    let mut compiler = Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource("urn:etl:pipeline", doc)
        .expect("the schema is added");
    let index = compiler
        .compile("urn:etl:pipeline", &mut schemas)
        .unwrap_or_else(|e| panic!("the schema compiles: {e:#}"));
    (schemas, index)
}

/// A TOML file as the JSON an editor validates: dates become their text,
/// as editors' TOML support (Taplo) gives them.
fn json(text: &str) -> Value {
    fn convert(v: toml::Value) -> Value {
        match v {
            toml::Value::String(s) => Value::String(s),
            toml::Value::Integer(i) => Value::from(i),
            toml::Value::Float(f) => Value::from(f),
            toml::Value::Boolean(b) => Value::Bool(b),
            toml::Value::Datetime(d) => Value::String(d.to_string()),
            toml::Value::Array(items) => Value::Array(items.into_iter().map(convert).collect()),
            toml::Value::Table(t) => {
                Value::Object(t.into_iter().map(|(k, v)| (k, convert(v))).collect())
            }
        }
    }
    convert(toml::Value::Table(text.parse::<toml::Table>().unwrap()))
}

/// The schema's verdict on `text`: `Err` with every error it gives.
fn validate(text: &str) -> Result<(), String> {
    let (schemas, index) = schema();
    schemas
        .validate(&json(text), index)
        .map_err(|e| format!("{e:#}"))
}

fn examples() -> Vec<PathBuf> {
    let dir = crate_dir().join("../examples/pipelines");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_schema_takes_every_example_and_the_good_fixture() {
    let files = examples();
    assert!(files.len() >= 3, "the examples: {files:?}");
    for file in files
        .iter()
        .map(PathBuf::as_path)
        .chain([crate_dir().join("tests/it/fixtures/good.toml").as_path()])
    {
        let text = std::fs::read_to_string(file).unwrap();
        if let Err(e) = validate(&text) {
            panic!("{}: {e}", file.display());
        }
        // And the reader takes it too: the two agree on the good files.
        etl_pipeline::Pipeline::parse(&text, &file.display().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Each file of `fixtures/schema/`, broken in one way, is refused by the
/// schema and by the reader alike; its first line says what to find in the
/// schema's errors.
#[test]
fn the_schema_refuses_the_broken_files() {
    let dir = crate_dir().join("tests/it/fixtures/schema");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for file in files
        .iter()
        .map(PathBuf::as_path)
        .chain([crate_dir().join("tests/it/fixtures/broken.toml").as_path()])
    {
        let text = std::fs::read_to_string(file).unwrap();
        let errors = validate(&text).expect_err(&name(file));
        // Each broken file says what to find in the errors; the big one
        // is refused for many reasons at once.
        match text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# schema: "))
        {
            Some(expected) => assert!(errors.contains(expected), "{}: {errors}", name(file)),
            None => assert!(errors.lines().count() > 10, "{}: {errors}", name(file)),
        }
        assert!(
            etl_pipeline::Pipeline::parse(&text, &name(file)).is_err(),
            "the reader refuses {} too",
            name(file)
        );
    }
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}
