//! A base held in memory: its schema as the metadata API returns it, and its
//! records in creation order.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// A base: an id, and tables with their schema and records.
#[derive(Debug, Clone)]
pub struct Base {
    pub(crate) id: String,
    pub(crate) tables: Vec<Table>,
}

/// One table: its metadata (exactly as `GET /v0/meta/bases/{id}/tables` lists
/// it) and its records.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) meta: Value,
    pub(crate) records: Vec<Record>,
}

/// One record. `fields` is keyed by field name, as the fixtures and
/// Airtable's default answers have it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) created_time: String,
    pub(crate) modified: DateTime<Utc>,
    pub(crate) fields: Map<String, Value>,
}

impl Table {
    pub(crate) fn id(&self) -> &str {
        self.meta["id"].as_str().unwrap_or_default()
    }

    pub(crate) fn name(&self) -> &str {
        self.meta["name"].as_str().unwrap_or_default()
    }

    /// `(id, name)` of each field.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.meta["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["id"].as_str().unwrap_or_default(),
                    f["name"].as_str().unwrap_or_default(),
                )
            })
    }
}

impl Base {
    /// The sample base shipped with etl: a small shop (customers, products,
    /// orders) using every field type the extractor maps, with linked
    /// records, several pages per table.
    pub fn sample() -> Base {
        Base::from_json(
            include_str!("../fixtures/sample_base/meta.json"),
            &[
                include_str!("../fixtures/sample_base/customers.json"),
                include_str!("../fixtures/sample_base/products.json"),
                include_str!("../fixtures/sample_base/orders.json"),
            ],
        )
        .expect("the sample base fixtures are valid")
    }

    /// A base from its metadata (`{"id": "app…", "tables": [...]}`) and one
    /// `{"table": "tbl…", "records": [...]}` document per table.
    pub fn from_json(meta: &str, records: &[&str]) -> Result<Base, String> {
        let meta: Value = serde_json::from_str(meta).map_err(|e| format!("metadata: {e}"))?;
        let id = meta["id"]
            .as_str()
            .ok_or("metadata: no base \"id\"")?
            .to_owned();
        let mut tables: Vec<Table> = meta["tables"]
            .as_array()
            .ok_or("metadata: no \"tables\" list")?
            .iter()
            .map(|t| Table {
                meta: t.clone(),
                records: Vec::new(),
            })
            .collect();
        for (i, doc) in records.iter().enumerate() {
            let doc: Value =
                serde_json::from_str(doc).map_err(|e| format!("records document {i}: {e}"))?;
            let table_id = doc["table"].as_str().ok_or("records: no \"table\"")?;
            let table = tables
                .iter_mut()
                .find(|t| t.id() == table_id)
                .ok_or_else(|| format!("records for unknown table {table_id}"))?;
            for r in doc["records"]
                .as_array()
                .ok_or("records: no \"records\" list")?
            {
                let created_time = r["createdTime"]
                    .as_str()
                    .ok_or("a record without createdTime")?
                    .to_owned();
                let modified = DateTime::parse_from_rfc3339(&created_time)
                    .map_err(|e| format!("createdTime {created_time:?}: {e}"))?
                    .with_timezone(&Utc);
                table.records.push(Record {
                    id: r["id"].as_str().ok_or("a record without id")?.to_owned(),
                    created_time,
                    modified,
                    fields: r["fields"].as_object().cloned().unwrap_or_default(),
                });
            }
        }
        Ok(Base { id, tables })
    }

    /// Reads `meta.json` and every other `*.json` of a folder.
    pub fn load(dir: &Path) -> Result<Base, String> {
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        let meta = read(&dir.join("meta.json"))?;
        let mut docs = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("meta.json"))
            .collect();
        entries.sort();
        for path in entries {
            docs.push(read(&path)?);
        }
        Base::from_json(&meta, &docs.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The base id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many records `table` (name or id) holds.
    pub fn record_count(&self, table: &str) -> Option<usize> {
        self.table(table).map(|t| t.records.len())
    }

    pub(crate) fn table(&self, table: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.id() == table || t.name() == table)
    }

    pub(crate) fn table_mut(&mut self, table: &str) -> Option<&mut Table> {
        self.tables
            .iter_mut()
            .find(|t| t.id() == table || t.name() == table)
    }

    /// The metadata answer: `{"tables": [...]}`.
    pub(crate) fn meta_json(&self) -> Value {
        let tables: Vec<Value> = self.tables.iter().map(|t| t.meta.clone()).collect();
        serde_json::json!({ "tables": tables })
    }
}

/// Now, as Airtable writes times.
pub(crate) fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whether Airtable would leave `value` out of a record's `fields`.
pub(crate) fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}
