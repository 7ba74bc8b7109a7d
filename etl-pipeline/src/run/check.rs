//! `etl check` and `etl plan`: what can be known of a pipeline without
//! moving data.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use etl_core::arrow::datatypes::SchemaRef;
use etl_core::{Extractor, TableSpec};

use super::steps::{Place, expand, files_source, source, warehouse as warehouse_of};
use super::{File, Problem, Problems, Source, StepKind, Warehouse, WriteMode};

/// The place a connector's error names within `key` (the deepest path
/// under it that the message starts a sentence with, as
/// `ConnectorConfig::parse` words it: `sources.x.kind.tables[1]: …`), else
/// `key` itself.
fn at_fault<'m>(key: &'m str, message: &'m str) -> &'m str {
    let prefix = format!("{key}.");
    message
        .match_indices(&prefix)
        .filter_map(|(start, _)| {
            let rest = &message[start..];
            let end = rest.find(": ")?;
            let path = &rest[..end];
            (!path.contains(char::is_whitespace)).then_some(path)
        })
        .max_by_key(|p| p.len())
        .unwrap_or(key)
}

/// What [`check`] found nothing wrong with, and what it could not check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// What was not checked, and why (a source read only `--online`).
    pub notes: Vec<String>,
    /// SQL steps planned against their inputs' schemas.
    pub planned: Vec<String>,
}

/// The tables of each step, as far as they are known.
type Tables = BTreeMap<String, SchemaRef>;

/// Checks `file` without moving data: every `${ENV}` it names is set, the
/// folders it names exist, each source can be configured (and, `online`,
/// reached: its tables and schemas read), each load's tables are offered
/// by its source and its primary key is in them, and each SQL step plans
/// against the schemas of the tables the steps it depends on write. Every
/// problem at once, each at its place in the file.
pub async fn check(file: &File, online: bool) -> Result<Checked, Problems> {
    check_with(file, online, &BTreeMap::new()).await
}

/// [`check`] for a run given `params` (`--param`): paths and queries are
/// read with them, each checked against its type, and with the defaults of
/// the others. `etl run` checks so before it starts, offline.
pub async fn check_with(
    file: &File,
    online: bool,
    params: &BTreeMap<String, String>,
) -> Result<Checked, Problems> {
    let mut problems = Vec::new();
    let mut checked = Checked::default();
    let p = &file.pipeline;

    let mut unset = Vec::new();
    for env in &p.env {
        let set = std::env::var(&env.name).is_ok_and(|v| !v.is_empty());
        if !set && env.default.is_none() {
            // Named, never valued: it is not set.
            problems.push(Problem::new(
                env.at,
                format!(
                    "{}: the environment variable {} is not set",
                    env.path, env.name
                ),
            ));
            unset.push(env.path.clone());
        }
    }
    // Whether a variable under `key` (a source, a warehouse) is unset, and
    // said so already.
    let unset_under = |key: &str| unset.iter().any(|u| u.starts_with(&format!("{key}.")));
    if let Err(e) = file.dag() {
        problems.push(Problem::new(super::Position::new(1, 1), e.to_string()));
    }
    let mut defaults = file.defaults();
    defaults.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));

    for (name, warehouse) in &p.warehouses {
        let key = format!("warehouses.{name}");
        let path = match warehouse {
            Warehouse::Sqlite { path } | Warehouse::Duckdb { path, .. } => path,
            Warehouse::Postgres { .. } | Warehouse::Registered { .. } if unset_under(&key) => {
                continue;
            }
            Warehouse::Postgres { .. } | Warehouse::Registered { .. } if !online => {
                checked.notes.push(format!(
                    "{key}: configured; it is opened, and its configuration checked, with --online"
                ));
                continue;
            }
            Warehouse::Postgres { .. } | Warehouse::Registered { .. } => {
                // Connecting makes sure of the schema and etl's tables.
                let reached = match warehouse_of(file, name, &defaults) {
                    Ok(w) => w.table_names().await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = reached {
                    problems
                        .push(file.problem(at_fault(&key, &e.to_string()), format!("{key}: {e}")));
                }
                continue;
            }
        };
        let path = match expand(file, path, &key, &defaults, Place::Path) {
            Ok(path) => path,
            Err(e) => {
                if !unset_under(&key) {
                    problems.push(file.problem(&key, e));
                }
                continue;
            }
        };
        let path = file.dir.join(path);
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.is_dir()
        {
            problems.push(file.problem(
                &key,
                format!("{key}: the folder {} does not exist", parent.display()),
            ));
        }
    }

    // Each source's tables, where they can be read here.
    let mut offered: BTreeMap<&str, Option<Vec<TableSpec>>> = BTreeMap::new();
    for (name, src) in &p.sources {
        let key = format!("sources.{name}");
        if unset_under(&key) {
            offered.insert(name, None);
            continue;
        }
        let extractor = match source(file, name, &defaults, false) {
            Ok(e) => e,
            Err(e) => {
                problems.push(file.problem(at_fault(&key, &e.to_string()), format!("{key}: {e}")));
                offered.insert(name, None);
                continue;
            }
        };
        let local = matches!(src, Source::Files { .. });
        if !local && !online {
            checked.notes.push(format!(
                "{key}: configured; its tables and schemas are read with --online"
            ));
            offered.insert(name, None);
            continue;
        }
        let tables = extractor.tables().await;
        match tables {
            Ok(tables) => {
                offered.insert(name, Some(tables));
            }
            Err(e) => {
                problems.push(file.problem(at_fault(&key, &e.to_string()), format!("{key}: {e}")));
                offered.insert(name, None);
            }
        }
    }

    // Each step's tables, in the order the steps run.
    let mut wrote: BTreeMap<&str, Option<Tables>> = BTreeMap::new();
    let order = file
        .dag()
        .map(|d| d.order().into_iter().map(str::to_owned).collect::<Vec<_>>());
    let order = order.unwrap_or_else(|_| p.steps.iter().map(|s| s.name.clone()).collect());
    for name in &order {
        let Some(step) = p.steps.iter().find(|s| &s.name == name) else {
            continue;
        };
        let key = format!("steps.{name}");
        match &step.kind {
            StepKind::Load(load) => {
                let Some(Some(tables)) = offered.get(load.source.as_str()) else {
                    wrote.insert(name, None);
                    continue;
                };
                let mut selected = Tables::new();
                if load.tables.is_empty() {
                    selected.extend(
                        tables
                            .iter()
                            .map(|t| (t.name().to_owned(), t.schema().clone())),
                    );
                } else {
                    for wanted in &load.tables {
                        match tables.iter().find(|t| t.name() == wanted) {
                            Some(t) => {
                                selected.insert(t.name().to_owned(), t.schema().clone());
                            }
                            None => problems.push(file.problem(
                                &format!("{key}.tables"),
                                format!(
                                    "{key}.tables: source {:?} has no table {wanted:?}; it offers {}",
                                    load.source,
                                    names(tables.iter().map(TableSpec::name))
                                ),
                            )),
                        }
                    }
                }
                for column in &load.primary_key {
                    for (table, schema) in &selected {
                        if schema.field_with_name(column).is_err() {
                            problems.push(file.problem(
                                &key,
                                format!(
                                    "{key}.primary_key: table {table:?} has no column {column:?}; its columns are {}",
                                    names(schema.fields().iter().map(|f| f.name().as_str()))
                                ),
                            ));
                        }
                    }
                }
                wrote.insert(name, Some(selected));
            }
            StepKind::Sql(sql) => {
                let inputs: Option<Vec<(String, SchemaRef)>> = step
                    .depends_on
                    .iter()
                    .map(|d| wrote.get(d.as_str()).cloned().flatten())
                    .collect::<Option<Vec<Tables>>>()
                    .map(|all| all.into_iter().flatten().collect());
                let Some(inputs) = inputs else {
                    checked.notes.push(format!(
                        "{key}: not planned, the schemas of the tables it reads are not known here (--online reads them)"
                    ));
                    wrote.insert(name, None);
                    continue;
                };
                match plan_sql(file, name, &sql.sql, &inputs, &defaults).await {
                    Ok(schema) => {
                        checked.planned.push(name.clone());
                        wrote.insert(name, Some(Tables::from([(sql.table.clone(), schema)])));
                    }
                    Err(e) => {
                        problems
                            .push(file.problem(&format!("{key}.sql"), format!("{key}.sql: {e}")));
                        wrote.insert(name, None);
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(file.problems(problems))
    }
}

#[cfg(feature = "datafusion")]
async fn plan_sql(
    file: &File,
    step: &str,
    sql: &str,
    inputs: &[(String, SchemaRef)],
    params: &BTreeMap<String, String>,
) -> Result<SchemaRef, String> {
    let query = expand(file, sql, &format!("steps.{step}.sql"), params, Place::Sql)?;
    let mut session = etl_datafusion::Sql::named(format!("step {step:?}"));
    for (table, schema) in inputs {
        let empty =
            etl_core::Batches::new(schema.clone(), Vec::new()).map_err(|e| e.to_string())?;
        session = session.table(table, &empty).map_err(|e| e.to_string())?;
    }
    // Over empty tables: the query is planned and checked, no row is read.
    let stream = session.stream(&query).await.map_err(|e| {
        e.to_string()
            .trim_start_matches(&format!("step {step:?}: "))
            .to_owned()
    })?;
    Ok(stream.schema().clone())
}

#[cfg(not(feature = "datafusion"))]
async fn plan_sql(
    _: &File,
    step: &str,
    _: &str,
    _: &[(String, SchemaRef)],
    _: &BTreeMap<String, String>,
) -> Result<SchemaRef, String> {
    Err(format!(
        "step {step:?} is a SQL step: this etl was built without DataFusion"
    ))
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// A step's write mode as `plan` says it; `None` is the source's own.
fn mode(mode: Option<WriteMode>, key: &[String], http: bool, incremental: bool) -> String {
    match mode {
        None if http => "each resource's own mode".into(),
        None if incremental => "merge on each record's id".into(),
        Some(WriteMode::Append) => "append".into(),
        Some(WriteMode::Merge) if key.is_empty() => "merge on each table's key".into(),
        Some(WriteMode::Merge) => format!("merge on {}", key.join(", ")),
        _ => "replace".into(),
    }
}

/// What a run of `file` would do, offline: its parameters, then each step in
/// the order they start, with its tables (a files source's as found on
/// disk), write mode, dependencies and options.
pub fn plan(file: &File) -> String {
    let p = &file.pipeline;
    let mut out = String::new();
    let n = p.steps.len();
    let _ = write!(
        out,
        "pipeline {:?}: {n} step{}",
        p.name,
        if n == 1 { "" } else { "s" }
    );
    if let Some(s) = &p.schedule {
        let _ = write!(
            out,
            ", on {:?} ({})",
            s.cron,
            s.zone.as_deref().unwrap_or("UTC")
        );
    }
    if let Some(n) = p.max_parallel {
        let _ = write!(out, ", at most {n} at once");
    }
    out.push('\n');
    for param in &p.params {
        let _ = writeln!(
            out,
            "  param {}: {}",
            param.name,
            param
                .default
                .as_deref()
                .map_or("required (--param)".to_owned(), |d| format!(
                    "default {d:?}"
                ))
        );
    }
    let order: Vec<String> = match file.dag() {
        Ok(d) => d.order().into_iter().map(str::to_owned).collect(),
        Err(_) => p.steps.iter().map(|s| s.name.clone()).collect(),
    };
    let defaults = file.defaults();
    for (i, name) in order.iter().enumerate() {
        let Some(step) = p.steps.iter().find(|s| &s.name == name) else {
            continue;
        };
        let _ = write!(out, "{}. {name}: ", i + 1);
        match &step.kind {
            StepKind::Load(load) => {
                let kind = match p.sources.get(&load.source) {
                    Some(Source::Airtable { .. }) => "airtable",
                    Some(Source::Http { .. }) => "http",
                    Some(Source::Postgres { .. }) => "postgres",
                    Some(Source::Registered { kind, .. }) => kind.as_str(),
                    _ => "files",
                };
                let _ = writeln!(
                    out,
                    "load {kind} source {:?} into warehouse {:?} ({}{}{})",
                    load.source,
                    load.warehouse,
                    mode(
                        load.mode,
                        &load.primary_key,
                        kind == "http",
                        load.incremental
                    ),
                    if load.drop_tables {
                        ", tables dropped first"
                    } else {
                        ""
                    },
                    if load.incremental {
                        ", incremental"
                    } else {
                        ""
                    },
                );
                let tables = if !load.tables.is_empty() {
                    load.tables.join(", ")
                } else {
                    match files_source(file, &load.source, &defaults) {
                        Ok(e) => e.table_names().join(", "),
                        Err(_) => "every table the source offers".into(),
                    }
                };
                let _ = writeln!(out, "   tables: {tables}");
            }
            StepKind::Sql(sql) => {
                let _ = writeln!(
                    out,
                    "sql into table {:?} of warehouse {:?} ({})",
                    sql.table,
                    sql.warehouse,
                    mode(Some(sql.mode), &[], false, false)
                );
            }
        }
        if !step.depends_on.is_empty() {
            let _ = writeln!(out, "   after: {}", step.depends_on.join(", "));
        }
        let mut options = Vec::new();
        if step.retries > 0 {
            options.push(format!("{} retries", step.retries));
        }
        if let Some(b) = step.backoff {
            options.push(format!("backoff {b}"));
        }
        if let Some(t) = step.timeout {
            options.push(format!("timeout {}", etl_dag::format_duration(t)));
        }
        if !options.is_empty() {
            let _ = writeln!(out, "   {}", options.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::at_fault;

    #[test]
    fn a_connector_error_is_placed_at_the_deepest_key_it_names() {
        let key = "sources.old";
        assert_eq!(
            at_fault(
                key,
                "invalid configuration: sources.old.sqlite.tables[1]: invalid type: integer `7`"
            ),
            "sources.old.sqlite.tables[1]"
        );
        assert_eq!(
            at_fault(
                key,
                "invalid configuration: sources.old.sqlite: missing field `path`"
            ),
            "sources.old.sqlite"
        );
        // Nothing under the key: the key itself; a path with a space is not one.
        assert_eq!(at_fault(key, "the server is gone"), key);
        assert_eq!(at_fault(key, "sources.old.a b: x"), key);
        assert_eq!(at_fault(key, "sources.older.x: y"), key);
    }
}
