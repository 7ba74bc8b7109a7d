//! The exceptions the package raises: one class under `etl.Error` for each
//! kind of failure, each carrying what it names (`table`, `column`, `row`,
//! `file`, `field`, `warehouse`) as attributes, `None` when it names none.
//! Messages are etl's own, which never hold a credential.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(etl, Error, PyException, "Every error etl raises.");
create_exception!(
    etl,
    ConfigError,
    Error,
    "A configuration etl cannot use: a connector's settings, a missing environment variable, a bad name. `field` names the setting when known."
);
create_exception!(
    etl,
    SourceError,
    Error,
    "An extractor could not read: `table` names the table."
);
create_exception!(
    etl,
    LoadError,
    Error,
    "A warehouse could not write: `table` names the table, `warehouse` its kind; after a load, `report` holds every table's outcome."
);
create_exception!(
    etl,
    SchemaError,
    Error,
    "Data whose shape does not fit: a type the warehouse cannot store, a column changed incompatibly. `table` and `column` name it."
);
create_exception!(
    etl,
    DataError,
    Error,
    "A value that cannot be read or written: `table`, `column` and `row` (or `file` and `line`) name it."
);
create_exception!(
    etl,
    CancelledError,
    Error,
    "A load cancelled before its stream ended: nothing of it was written."
);
create_exception!(
    etl,
    TransformError,
    Error,
    "A transform (SQL, Polars, a Python function) failed."
);
create_exception!(
    etl,
    RunError,
    Error,
    "A run where a step failed: `report` holds every step's outcome."
);
create_exception!(
    etl,
    WorkflowValidationError,
    Error,
    "A workflow whose graph cannot run; the message lists every problem."
);

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("SourceError", py.get_type::<SourceError>())?;
    m.add("LoadError", py.get_type::<LoadError>())?;
    m.add("SchemaError", py.get_type::<SchemaError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add("TransformError", py.get_type::<TransformError>())?;
    m.add("RunError", py.get_type::<RunError>())?;
    m.add(
        "WorkflowValidationError",
        py.get_type::<WorkflowValidationError>(),
    )?;
    Ok(())
}

/// What an error names, set as the exception's attributes.
#[derive(Default)]
pub(crate) struct Names {
    pub(crate) table: Option<String>,
    pub(crate) column: Option<String>,
    pub(crate) row: Option<u64>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u64>,
    pub(crate) warehouse: Option<&'static str>,
    /// The setting at fault, as `Class.field` says it (`read_connections`).
    pub(crate) field: Option<String>,
    pub(crate) retryable: bool,
}

/// `error` as the exception of its kind, its names as attributes.
pub(crate) fn to_py(py: Python<'_>, error: etl::Error) -> PyErr {
    use etl::Error as E;
    let message = error.to_string();
    let retryable = error.is_retryable();
    let mut names = Names {
        retryable,
        ..Names::default()
    };
    let new: fn(String) -> PyErr = match &error {
        E::Config(text) => {
            names.field = field_of(text);
            ConfigError::new_err
        }
        E::InvalidName { .. } => ConfigError::new_err,
        E::UnknownTable { table, .. } => {
            names.table = Some(table.clone());
            ConfigError::new_err
        }
        E::UnsupportedType {
            table,
            column,
            warehouse,
            ..
        } => {
            names.table = Some(table.clone());
            names.column = Some(column.clone());
            names.warehouse = Some(warehouse);
            SchemaError::new_err
        }
        E::IncompatibleSchema { table, column, .. } => {
            names.table = Some(table.clone());
            names.column = Some(column.clone());
            SchemaError::new_err
        }
        E::Schema { table, .. } => {
            names.table = Some(table.clone());
            SchemaError::new_err
        }
        E::SchemaMismatch { .. } => SchemaError::new_err,
        E::Value {
            table, column, row, ..
        } => {
            names.table = Some(table.clone());
            names.column = Some(column.clone());
            names.row = Some(*row);
            DataError::new_err
        }
        E::Malformed {
            path, line, column, ..
        } => {
            names.file = Some(path.display().to_string());
            names.line = *line;
            names.column = column.clone();
            DataError::new_err
        }
        E::Io { path, .. } => {
            names.file = Some(path.display().to_string());
            SourceError::new_err
        }
        E::Database {
            warehouse, table, ..
        } => {
            names.warehouse = Some(warehouse);
            names.table = table.clone();
            LoadError::new_err
        }
        E::Extract { table, .. } => {
            names.table = Some(table.clone());
            SourceError::new_err
        }
        E::Remote { .. } => SourceError::new_err,
        E::Cancelled { table } => {
            names.table = Some(table.clone());
            CancelledError::new_err
        }
        E::TablesFailed { .. } => LoadError::new_err,
        E::Workflow(_) => WorkflowValidationError::new_err,
        E::Transform { table, .. } => {
            names.table = Some(table.clone());
            TransformError::new_err
        }
        E::Polars { column, .. } => {
            names.column = column.clone();
            TransformError::new_err
        }
        E::Sql { .. } => TransformError::new_err,
        _ => Error::new_err,
    };
    let err = new(message);
    named(py, &err, names);
    if let etl::Error::TablesFailed { report, .. } = error {
        let report = crate::workflow::Report::from(*report);
        if let Ok(report) = Py::new(py, report) {
            let _ = err.value(py).setattr("report", report);
        }
    }
    err
}

/// Sets what `err` names as its attributes, each `None` when unknown.
pub(crate) fn named(py: Python<'_>, err: &PyErr, names: Names) {
    let value = err.value(py);
    // Setting an attribute on a fresh exception of ours cannot fail.
    let _ = value.setattr("table", names.table);
    let _ = value.setattr("column", names.column);
    let _ = value.setattr("row", names.row);
    let _ = value.setattr("file", names.file);
    let _ = value.setattr("line", names.line);
    let _ = value.setattr("warehouse", names.warehouse);
    let _ = value.setattr("field", names.field);
    let _ = value.setattr("retryable", names.retryable);
    let _ = value.setattr("report", py.None());
}

/// The field a configuration message starts with: `read_connections` of
/// `PostgresExtractor.read_connections: give …`.
fn field_of(message: &str) -> Option<String> {
    let (place, _) = message.split_once(": ")?;
    if place.contains(char::is_whitespace) {
        return None;
    }
    place.split_once('.').map(|(_, field)| field.to_owned())
}

/// A `ConfigError` of the package's own about `field` of `class`.
pub(crate) fn config(class: &str, field: &str, message: impl std::fmt::Display) -> PyErr {
    let err = ConfigError::new_err(format!("{class}.{field}: {message}"));
    Python::attach(|py| {
        named(
            py,
            &err,
            Names {
                field: Some(field.to_owned()),
                ..Names::default()
            },
        )
    });
    err
}
