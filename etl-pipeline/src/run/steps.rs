//! The steps of a pipeline file: loads through `ETLWorkflow`, SQL through
//! DataFusion, each writing into a warehouse named in the file.

use std::collections::BTreeMap;
use std::sync::Arc;

use etl_dag::{BoxError, Step, StepContext, StepInputs};

use super::{File, HttpSource, ParamType, Source, StepKind, Warehouse, Wrote};
use etl_core::connectors::ConnectorConfig;
use etl_core::{BoxedExtractor, BoxedWarehouse, ETLWorkflow, Extractor};
use etl_extractors::FilesExtractor;

/// Where a reference is expanded, which says what a parameter's value may
/// be there.
#[derive(Clone, Copy)]
pub(crate) enum Place {
    /// As its text (a URL, a table name, a key of an inline config).
    Text,
    /// In a SQL step's or a PostgreSQL source's query: a SQL literal of its type (`42`, `true`,
    /// `DATE '2026-12-01'`, `'it''s'`), so that a value given by whoever
    /// triggers a run (a webhook, the API) is data, never SQL.
    Sql,
    /// In a path (a folder, a warehouse file, a config file): one path
    /// component, never `..`, `/` or `\`, so that such a value cannot
    /// reach another folder.
    Path,
}

/// `text` with its `${params.NAME}` and `${NAME}` references replaced: a
/// parameter by the run's value (or its default), checked against its type
/// and written as `into` asks; an environment variable by its value (or the
/// reference's default). An error names the reference and the key it is in
/// (`path`), never a value of the environment.
pub(crate) fn expand(
    file: &File,
    text: &str,
    path: &str,
    params: &BTreeMap<String, String>,
    into: Place,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{path}: a `${{` is not closed"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if let Some(param) = name.strip_prefix("params.") {
            let (kind, value) = param_value(file, param, params)?;
            match into {
                Place::Sql => out.push_str(&sql_literal(kind, &value)),
                Place::Path
                    if value.is_empty()
                        || value == "."
                        || value == ".."
                        || value.contains(['/', '\\', '\0']) =>
                {
                    return Err(format!(
                        "{path}: parameter {param:?} is {value:?}, and in a path a parameter is one \
                         name: not empty, `.` or `..`, and without `/` or `\\`"
                    ));
                }
                _ => out.push_str(&value),
            }
        } else {
            match std::env::var(name) {
                Ok(value) if !value.is_empty() => out.push_str(&value),
                _ => match default {
                    Some(d) => out.push_str(d),
                    None => {
                        return Err(format!(
                            "{path}: the environment variable {name} is not set"
                        ));
                    }
                },
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `value`, checked to be of `kind`, as a SQL literal.
fn sql_literal(kind: ParamType, value: &str) -> String {
    match kind {
        ParamType::Int | ParamType::Bool => value.to_owned(),
        ParamType::Date => format!("DATE '{value}'"),
        _ => format!("'{}'", value.replace('\'', "''")),
    }
}

/// Parameter `name`'s type and value in this run, checked against the type.
fn param_value(
    file: &File,
    name: &str,
    params: &BTreeMap<String, String>,
) -> Result<(ParamType, String), String> {
    let declared = file
        .pipeline
        .params
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("parameter {name:?} is not declared"))?;
    let value = params
        .get(name)
        .cloned()
        .or_else(|| declared.default.clone())
        .ok_or_else(|| {
            format!("parameter {name:?} has no default: give it with --param {name}=VALUE")
        })?;
    declared
        .kind
        .check(&value)
        .map_err(|e| format!("parameter {name:?}: {e}"))?;
    Ok((declared.kind, value))
}

/// An HTTP config given inline, its strings' references expanded.
fn expand_table(
    file: &File,
    table: &toml::Table,
    path: &str,
    params: &BTreeMap<String, String>,
) -> Result<toml::Table, String> {
    fn value(
        file: &File,
        v: &toml::Value,
        path: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<toml::Value, String> {
        Ok(match v {
            toml::Value::String(s) => {
                toml::Value::String(expand(file, s, path, params, Place::Text)?)
            }
            toml::Value::Array(items) => toml::Value::Array(
                items
                    .iter()
                    .map(|i| value(file, i, path, params))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(t) => toml::Value::Table(expand_table(file, t, path, params)?),
            other => other.clone(),
        })
    }
    table
        .iter()
        .map(|(k, v)| Ok((k.clone(), value(file, v, &format!("{path}.{k}"), params)?)))
        .collect()
}

/// The extractor of source `name`, for a run with `params`: its references
/// expanded, then opened through the connector registry.
pub(crate) fn source(
    file: &File,
    name: &str,
    params: &BTreeMap<String, String>,
    incremental: bool,
) -> Result<BoxedExtractor, BoxError> {
    let path = format!("sources.{name}");
    let source = file
        .pipeline
        .sources
        .get(name)
        .ok_or_else(|| format!("no source {name:?}"))?;
    let text = |value: &str, key: &str, place: Place| {
        expand(file, value, &format!("{path}.{key}"), params, place)
    };
    let (kind, config) = match source {
        Source::Airtable {
            base,
            token,
            tables,
            api_url,
        } => {
            let mut config = serde_json::json!({
                "base": text(base, "airtable.base", Place::Text)?,
                "token": text(token, "airtable.token", Place::Text)?,
                "tables": tables,
            });
            if let Some(url) = api_url {
                config["api_url"] = text(url, "airtable.api_url", Place::Text)?.into();
            }
            ("airtable", config)
        }
        Source::Http { config } => match config {
            HttpSource::File(config) => (
                "http",
                serde_json::json!({ "config": text(config, "http.config", Place::Path)? }),
            ),
            HttpSource::Inline(table) => {
                let table = expand_table(file, table, &format!("{path}.http"), params)?;
                let config = serde_json::to_value(toml::Value::Table(table))
                    .map_err(|e| format!("{path}.http: {e}"))?;
                ("http", config)
            }
        },
        Source::Files { path: folder } => (
            "files",
            serde_json::json!({ "path": text(folder, "files.path", Place::Path)? }),
        ),
        Source::Postgres {
            url,
            schema,
            queries,
            incremental,
            root_certificates,
            read_connections,
        } => {
            let mut sql = serde_json::Map::new();
            for (name, query) in queries {
                // A parameter in a query is a SQL literal of its type, never SQL.
                let query = text(query, &format!("postgres.queries.{name}"), Place::Sql)?;
                sql.insert(name.clone(), query.into());
            }
            (
                "postgres",
                serde_json::json!({
                    "url": text(url, "postgres.url", Place::Text)?,
                    "schema": schema,
                    "queries": sql,
                    "incremental": incremental,
                    "root_certificates": root_certificates
                        .as_deref()
                        .map(|c| text(c, "postgres.root_certificates", Place::Path))
                        .transpose()?,
                    "read_connections": read_connections,
                }),
            )
        }
        Source::Registered { kind, config } => (
            kind.as_str(),
            registered(file, config, &format!("{path}.{kind}"), params)?,
        ),
    };
    let at = format!("{path}.{kind}");
    let config = ConnectorConfig::new(kind, &config, &at)
        .base_dir(&file.dir)
        .incremental(incremental);
    Ok(file.connectors.open_source(&config)?)
}

/// The table of a registered kind as the JSON its constructor reads, its
/// `${ENV}` references expanded.
fn registered(
    file: &File,
    config: &toml::Table,
    path: &str,
    params: &BTreeMap<String, String>,
) -> Result<serde_json::Value, BoxError> {
    let table = expand_table(file, config, path, params)?;
    Ok(serde_json::to_value(toml::Value::Table(table)).map_err(|e| format!("{path}: {e}"))?)
}

/// Source `name`, a folder of files, opened: its tables are known without
/// reading them (`plan` lists them).
pub(crate) fn files_source(
    file: &File,
    name: &str,
    params: &BTreeMap<String, String>,
) -> Result<FilesExtractor, BoxError> {
    let Some(Source::Files { path: folder }) = file.pipeline.sources.get(name) else {
        return Err(format!("no source {name:?} of files").into());
    };
    let folder = expand(
        file,
        folder,
        &format!("sources.{name}.files.path"),
        params,
        Place::Path,
    )?;
    Ok(FilesExtractor::open(file.dir.join(folder))?)
}

/// The warehouse `name`, opened through the connector registry.
pub(crate) fn warehouse(
    file: &File,
    name: &str,
    params: &BTreeMap<String, String>,
) -> Result<BoxedWarehouse, BoxError> {
    let path = format!("warehouses.{name}");
    let warehouse = file
        .pipeline
        .warehouses
        .get(name)
        .ok_or_else(|| format!("no warehouse {name:?}"))?;
    let text = |value: &str, key: &str, place: Place| {
        expand(file, value, &format!("{path}.{key}"), params, place)
    };
    let (kind, config) = match warehouse {
        Warehouse::Sqlite { path: at } => (
            "sqlite",
            serde_json::json!({ "path": text(at, "sqlite.path", Place::Path)? }),
        ),
        Warehouse::Duckdb {
            path: at,
            memory_limit,
        } => (
            "duckdb",
            serde_json::json!({
                "path": text(at, "duckdb.path", Place::Path)?,
                "memory_limit": memory_limit,
            }),
        ),
        Warehouse::Postgres {
            url,
            schema,
            root_certificates,
        } => (
            "postgres",
            serde_json::json!({
                "url": text(url, "postgres.url", Place::Text)?,
                "schema": schema,
                "root_certificates": root_certificates
                    .as_deref()
                    .map(|c| text(c, "postgres.root_certificates", Place::Path))
                    .transpose()?,
            }),
        ),
        Warehouse::Registered { kind, config } => (
            kind.as_str(),
            registered(file, config, &format!("{path}.{kind}"), params)?,
        ),
    };
    let at = format!("{path}.{kind}");
    let config = ConnectorConfig::new(kind, &config, &at).base_dir(&file.dir);
    Ok(file.connectors.open_warehouse(&config)?)
}

/// The step of `[[steps]]` entry `step`.
pub(super) fn step(file: &Arc<File>, step: &crate::Step) -> Step {
    let f = file.clone();
    let name = step.name.clone();
    let mut built = Step::new(
        step.name.clone(),
        move |cx: StepContext, inputs: StepInputs| {
            let file = f.clone();
            let name = name.clone();
            async move { run(&file, &name, &cx, &inputs).await }
        },
    )
    .inputs(step.depends_on.iter().cloned())
    .retries(step.retries)
    .output(super::hooks());
    if let Some(b) = step.backoff {
        built = built.backoff(b);
    }
    if let Some(t) = step.timeout {
        built = built.timeout(t);
    }
    built
}

async fn run(
    file: &File,
    name: &str,
    cx: &StepContext,
    inputs: &StepInputs,
) -> Result<Wrote, BoxError> {
    let step = file
        .pipeline
        .steps
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no step {name:?}"))?;
    let params = cx.params();
    match &step.kind {
        StepKind::Load(load) => {
            let source = source(file, &load.source, params, load.incremental)?;
            let warehouse = warehouse(file, &load.warehouse, params)?;
            let tables = load
                .tables
                .iter()
                .map(|t| {
                    expand(
                        file,
                        t,
                        &format!("steps.{name}.tables"),
                        params,
                        Place::Text,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let report = load_into(source, warehouse, load, tables, cx).await?;
            if !report.succeeded() {
                let failed: Vec<String> = report
                    .tables
                    .iter()
                    .filter(|t| t.error.is_some())
                    .map(|t| format!("{}: {}", t.table, t.error.as_deref().unwrap_or_default()))
                    .collect();
                return Err(format!(
                    "{} of {} tables failed ({}); the others loaded",
                    failed.len(),
                    report.tables.len(),
                    failed.join("; ")
                )
                .into());
            }
            Ok(Wrote {
                warehouse: load.warehouse.clone(),
                tables: report
                    .tables
                    .iter()
                    .map(|t| (t.table.clone(), t.rows))
                    .collect(),
            })
        }
        #[cfg(feature = "datafusion")]
        StepKind::Sql(sql) => {
            let query = expand(
                file,
                &sql.sql,
                &format!("steps.{name}.sql"),
                params,
                Place::Sql,
            )?;
            let mut session = etl_datafusion::Sql::named(format!("step {name:?}"));
            for dep in inputs.names() {
                let wrote: &Wrote = inputs.get(dep)?;
                let from = warehouse(file, &wrote.warehouse, params)?;
                for table in wrote.tables.keys() {
                    let batches = read(&from, table).await.map_err(|e| {
                        format!("reading table {table:?} that step {dep:?} wrote: {e}")
                    })?;
                    session = session.table(table, &batches)?;
                }
            }
            let stream = session.stream(&query).await?;
            let spec = etl_core::TableSpec::new(sql.table.clone(), stream.schema().clone())
                .with_mode(write_mode(sql.mode));
            let into = warehouse(file, &sql.warehouse, params)?;
            let options = etl_core::WriteOptions::default();
            let summary = into.write(&spec, stream, &options).await?;
            cx.progress(summary.rows);
            Ok(Wrote {
                warehouse: sql.warehouse.clone(),
                tables: BTreeMap::from([(sql.table.clone(), summary.rows)]),
            })
        }
        #[cfg(not(feature = "datafusion"))]
        StepKind::Sql(_) => {
            let _ = inputs;
            Err(
                format!("step {name:?} is a SQL step: this etl was built without DataFusion")
                    .into(),
            )
        }
    }
}

#[cfg(feature = "datafusion")]
async fn read<W: etl_core::Warehouse>(w: &W, table: &str) -> etl_core::Result<etl_core::Batches> {
    let schema = w.table_schema(table).await?.ok_or_else(|| {
        etl_core::Error::Config(format!("table {table:?} is not in the warehouse"))
    })?;
    etl_core::Batches::new(schema, w.read_table(table).await?)
}

fn write_mode(mode: super::WriteMode) -> etl_core::WriteMode {
    match mode {
        super::WriteMode::Append => etl_core::WriteMode::Append,
        super::WriteMode::Merge => etl_core::WriteMode::Merge,
        _ => etl_core::WriteMode::Replace,
    }
}

async fn load_into<E: Extractor, W: etl_core::Warehouse>(
    extractor: E,
    warehouse: W,
    load: &crate::Load,
    tables: Vec<String>,
    cx: &StepContext,
) -> etl_core::Result<etl_core::LoadReport> {
    let mut workflow = ETLWorkflow::new(extractor, warehouse)
        .run_id(cx.run_id())
        .drop_tables(load.drop_tables);
    // None: the source's own (an HTTP resource's, replace elsewhere).
    if let Some(mode) = load.mode {
        workflow = workflow.write_mode(write_mode(mode));
    }
    if !tables.is_empty() {
        workflow = workflow.tables(tables);
    }
    if !load.primary_key.is_empty() {
        workflow = workflow.primary_key(load.primary_key.iter().cloned());
    }
    let progress = cx.clone();
    let done = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
    workflow = workflow.on_progress(move |table, rows| {
        let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
        done.insert(table.to_owned(), rows);
        progress.progress(done.values().sum());
    });
    workflow.run().await
}
