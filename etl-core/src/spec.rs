//! What a table in flight is: [`TableSpec`] and [`WriteMode`].

use std::fmt;

use arrow::datatypes::SchemaRef;

use crate::{Error, Result};

/// Field metadata an extractor sets on a column that had no value in the
/// records its type was inferred from (its type is a guess): a warehouse
/// appending or merging into an existing column of another type takes it
/// while its values are null, and refuses the load at the first value,
/// naming the row, instead of refusing the column outright.
pub const SAMPLED_NULLS_ONLY: &str = "etl.sampled_nulls_only";

/// Whether `field` carries [`SAMPLED_NULLS_ONLY`].
pub fn sampled_nulls_only(field: &arrow::datatypes::Field) -> bool {
    field
        .metadata()
        .get(SAMPLED_NULLS_ONLY)
        .is_some_and(|v| v == "true")
}

/// How a load lands in its table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WriteMode {
    /// The table afterwards holds exactly the loaded rows, with the load's
    /// schema. The rows are written to a staging table that is swapped in.
    #[default]
    Replace,
    /// The rows are added to the table; new columns are added to it.
    Append,
    /// Upsert on the primary key: a row whose key exists replaces it,
    /// others are inserted. Within one load the last row of a key wins.
    Merge,
}

impl WriteMode {
    /// The lower-case name used in reports and in `_etl_loads`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Replace => "replace",
            WriteMode::Append => "append",
            WriteMode::Merge => "merge",
        }
    }
}

impl fmt::Display for WriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for WriteMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "replace" => Ok(WriteMode::Replace),
            "append" => Ok(WriteMode::Append),
            "merge" => Ok(WriteMode::Merge),
            other => Err(Error::Config(format!(
                "unknown write mode {other:?}: expected replace, append or merge"
            ))),
        }
    }
}

/// A table in flight: its name, Arrow schema, primary key, write mode, and
/// the incremental cursor its extractor keeps, if any.
///
/// ```
/// use etl_core::arrow::datatypes::{DataType, Field, Schema};
/// use etl_core::{TableSpec, WriteMode};
///
/// let schema = Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("name", DataType::Utf8, true),
/// ]);
/// let spec = TableSpec::new("users", schema)
///     .with_primary_key(["id"])
///     .with_mode(WriteMode::Merge);
/// spec.validate().unwrap();
/// assert_eq!(spec.primary_key(), ["id"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    name: String,
    schema: SchemaRef,
    primary_key: Vec<String>,
    mode: WriteMode,
    cursor: Option<String>,
}

impl TableSpec {
    /// A table named `name` with `schema`, no primary key, written in [`WriteMode::Replace`].
    pub fn new(name: impl Into<String>, schema: impl Into<SchemaRef>) -> Self {
        TableSpec {
            name: name.into(),
            schema: schema.into(),
            primary_key: Vec::new(),
            mode: WriteMode::default(),
            cursor: None,
        }
    }

    /// Sets the primary key columns.
    pub fn with_primary_key<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.primary_key = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the write mode.
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// Declares the table incremental, its *cursor field* being `field`
    /// (`"LAST_MODIFIED_TIME()"`, `"updated_at"`: what the cursor tracks,
    /// for people). An extract gives a *cursor value*
    /// ([`ExtractNotes::set_cursor_value`](crate::ExtractNotes::set_cursor_value)),
    /// which the warehouse keeps in `_etl_state` with the data as the
    /// *stored cursor* ([`Warehouse::stored_cursor`](crate::Warehouse::stored_cursor)),
    /// and the next run reads only what changed since. See [`crate::ETLWorkflow`].
    pub fn with_cursor_field(mut self, field: impl Into<String>) -> Self {
        self.cursor = Some(field.into());
        self
    }

    /// The table's cursor field; `None` for a table read whole every time.
    pub fn cursor_field(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Replaces the schema (the name, key and mode stay).
    pub fn with_schema(mut self, schema: impl Into<SchemaRef>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The table's name, exactly as it will appear in the warehouse.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table's Arrow schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The primary key columns, empty when the table has none.
    pub fn primary_key(&self) -> &[String] {
        &self.primary_key
    }

    /// How the table is written.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }

    /// Checks the spec before any data moves: a table name that is not
    /// empty and not reserved (`_etl_…` in any case, see [`crate::names`]),
    /// columns that are not empty, not reserved and not the same in any case
    /// (`id` and `ID` would be one column in SQLite and DuckDB), key columns
    /// that exist, and a key for [`WriteMode::Merge`].
    pub fn validate(&self) -> Result<()> {
        let table = &self.name;
        if table.is_empty() {
            return Err(Error::InvalidName {
                what: "table \"\"".into(),
                message: "a table name must not be empty".into(),
            });
        }
        if crate::names::is_reserved(table) {
            return Err(Error::InvalidName {
                what: format!("table {table:?}"),
                message: format!(
                    "names starting with {} (in any case) are reserved for etl's own tables",
                    crate::names::RESERVED_PREFIX
                ),
            });
        }
        let schema_error = |message: String| Error::Schema {
            table: table.clone(),
            message,
        };
        for field in self.schema.fields() {
            if field.name().is_empty() {
                return Err(schema_error("a column name must not be empty".into()));
            }
            if crate::names::is_reserved(field.name()) {
                return Err(schema_error(format!(
                    "column {:?}: names starting with {} (in any case) are reserved for etl's own columns",
                    field.name(),
                    crate::names::RESERVED_PREFIX
                )));
            }
        }
        let names = self.schema.fields().iter().map(|f| f.name().as_str());
        if let Some((first, second)) = crate::names::collisions(names).first() {
            return Err(schema_error(if first == second {
                format!("column {first:?} appears twice")
            } else {
                format!(
                    "columns {first:?} and {second:?} differ only in case, and warehouses \
                     resolve names without case: they would be one column"
                )
            }));
        }
        for key in &self.primary_key {
            if self.schema.field_with_name(key).is_err() {
                return Err(Error::Schema {
                    table: table.clone(),
                    message: format!("primary key column {key:?} is not in the schema"),
                });
            }
        }
        if self.mode == WriteMode::Merge && self.primary_key.is_empty() {
            return Err(Error::Schema {
                table: table.clone(),
                message: "merge needs a primary key; set one with TableSpec::with_primary_key"
                    .into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ])
    }

    #[test]
    fn merge_without_key_is_refused() {
        let err = TableSpec::new("t", schema())
            .with_mode(WriteMode::Merge)
            .validate()
            .unwrap_err();
        assert!(
            err.to_string().contains("merge needs a primary key"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_column_is_named() {
        let err = TableSpec::new("t", schema())
            .with_primary_key(["nope"])
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "table \"t\": primary key column \"nope\" is not in the schema"
        );
    }

    #[test]
    fn duplicate_column_is_named() {
        let s = Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("a", DataType::Utf8, true),
        ]);
        let err = TableSpec::new("t", s).validate().unwrap_err();
        assert!(
            err.to_string().contains("column \"a\" appears twice"),
            "{err}"
        );
    }

    #[test]
    fn names_that_differ_only_in_case_and_reserved_names_are_refused() {
        let s = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("ID", DataType::Utf8, true),
        ]);
        let err = TableSpec::new("t", s).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "table \"t\": columns \"id\" and \"ID\" differ only in case, and warehouses \
             resolve names without case: they would be one column"
        );
        let err = TableSpec::new("_ETL_STATE", schema())
            .validate()
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidName { what, .. } if what == "table \"_ETL_STATE\""),
            "{err:?}"
        );
        assert!(err.to_string().contains("reserved"), "{err}");
        let err = TableSpec::new("", schema()).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "table \"\": a table name must not be empty"
        );
        let s = Schema::new(vec![Field::new("_Etl_seq", DataType::Int64, false)]);
        let err = TableSpec::new("t", s).validate().unwrap_err();
        assert!(err.to_string().contains("column \"_Etl_seq\""), "{err}");
    }

    #[test]
    fn write_mode_parses_its_own_names() {
        for mode in [WriteMode::Replace, WriteMode::Append, WriteMode::Merge] {
            assert_eq!(mode.as_str().parse::<WriteMode>().unwrap(), mode);
        }
        assert!("upsert".parse::<WriteMode>().is_err());
    }
}
