//! From Airtable's field types to Arrow columns, and from cell values to rows
//! of those columns.
//!
//! A cell value that does not have the shape its field type promises (a
//! formula's `{"error": "#ERROR!"}`, `{"specialValue": "NaN"}`, a number in a
//! text field) becomes null and is counted, never an error.

use serde::Deserialize;
use serde_json::Value;

pub(crate) use crate::json::{Kind, conform};

/// The record id column, the table's primary key.
pub const ID_COLUMN: &str = "_airtable_id";
/// The record's creation time column.
pub const CREATED_COLUMN: &str = "_airtable_created_time";

/// `GET /v0/meta/bases/{baseId}/tables`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BaseSchema {
    pub(crate) tables: Vec<TableMeta>,
}

/// One table of the base's schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TableMeta {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) fields: Vec<FieldMeta>,
}

/// One field of a table.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FieldMeta {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) options: Option<Value>,
}

/// How a field becomes a column: its kind, and whether its type was unknown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mapped {
    pub(crate) kind: Kind,
    pub(crate) unknown: bool,
}

fn collaborator() -> Kind {
    Kind::Struct(vec![
        ("id".into(), Kind::Text),
        ("email".into(), Kind::Text),
        ("name".into(), Kind::Text),
    ])
}

fn attachment() -> Kind {
    Kind::Struct(vec![
        ("id".into(), Kind::Text),
        ("url".into(), Kind::Text),
        ("filename".into(), Kind::Text),
        ("size".into(), Kind::Int),
        ("type".into(), Kind::Text),
        ("width".into(), Kind::Int),
        ("height".into(), Kind::Int),
    ])
}

fn precision(options: Option<&Value>) -> Option<u64> {
    options?.get("precision")?.as_u64()
}

/// The kind of a field of type `kind` with `options`.
pub(crate) fn map_field(kind: &str, options: Option<&Value>) -> Mapped {
    let known = |kind| Mapped {
        kind,
        unknown: false,
    };
    match kind {
        "singleLineText" | "multilineText" | "richText" | "email" | "url" | "phoneNumber"
        | "singleSelect" | "externalSyncSource" => known(Kind::Text),
        "number" | "currency" if precision(options) == Some(0) => known(Kind::Int),
        "number" | "currency" | "percent" => known(Kind::Float),
        "rating" | "count" | "autoNumber" => known(Kind::Int),
        "duration" => {
            // Formats with tenths and below ("h:mm:ss.S") hold fractions of a second.
            let format = options
                .and_then(|o| o.get("durationFormat"))
                .and_then(Value::as_str)
                .unwrap_or("h:mm");
            known(if format.contains(".S") {
                Kind::Float
            } else {
                Kind::Int
            })
        }
        "checkbox" => known(Kind::Checkbox),
        "date" => known(Kind::Date),
        "dateTime" | "createdTime" | "lastModifiedTime" => known(Kind::DateTime),
        "multipleSelects" | "multipleRecordLinks" => known(Kind::List(Box::new(Kind::Text))),
        "multipleAttachments" => known(Kind::List(Box::new(attachment()))),
        "singleCollaborator" | "createdBy" | "lastModifiedBy" => known(collaborator()),
        "multipleCollaborators" => known(Kind::List(Box::new(collaborator()))),
        "barcode" => known(Kind::Struct(vec![
            ("text".into(), Kind::Text),
            ("type".into(), Kind::Text),
        ])),
        "button" => known(Kind::Struct(vec![
            ("label".into(), Kind::Text),
            ("url".into(), Kind::Text),
        ])),
        "aiText" => known(Kind::Struct(vec![
            ("state".into(), Kind::Text),
            ("value".into(), Kind::Text),
            ("isStale".into(), Kind::Bool),
            ("errorType".into(), Kind::Text),
        ])),
        "formula" | "rollup" => known(result_kind(options).unwrap_or(Kind::Json)),
        "multipleLookupValues" => known(match result_kind(options) {
            // A lookup of a list field is flattened by Airtable into one list.
            Some(Kind::List(item)) => Kind::List(item),
            Some(Kind::Checkbox) => Kind::List(Box::new(Kind::Bool)),
            Some(item) => Kind::List(Box::new(item)),
            None => Kind::Json,
        }),
        _ => Mapped {
            kind: Kind::Json,
            unknown: true,
        },
    }
}

/// The kind of a computed field's `options.result`, when it is a known type.
fn result_kind(options: Option<&Value>) -> Option<Kind> {
    let result = options?.get("result")?;
    let kind = result.get("type")?.as_str()?;
    let mapped = map_field(kind, result.get("options"));
    match mapped.kind {
        // A formula's checkbox result is true, false or absent, never "unchecked".
        Kind::Checkbox => Some(Kind::Bool),
        _ if mapped.unknown => None,
        kind => Some(kind),
    }
}

/// `name` in snake_case: letters and digits kept (lower-cased), every run of
/// anything else one `_`, none at either end. Empty when nothing is left.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_lower_or_digit = false;
    let mut pending_underscore = false;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower_or_digit {
                pending_underscore = true;
            }
            if pending_underscore && !out.is_empty() {
                out.push('_');
            }
            pending_underscore = false;
            out.extend(c.to_lowercase());
            prev_lower_or_digit = c.is_lowercase() || c.is_numeric();
        } else {
            pending_underscore = true;
            prev_lower_or_digit = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use etl_core::arrow::datatypes::{DataType, TimeUnit};
    use serde_json::json;

    #[test]
    fn field_types_map_as_documented() {
        let cases = [
            ("singleLineText", json!(null), DataType::Utf8),
            ("number", json!({"precision": 0}), DataType::Int64),
            ("number", json!({"precision": 2}), DataType::Float64),
            ("percent", json!({"precision": 0}), DataType::Float64),
            ("checkbox", json!(null), DataType::Boolean),
            ("date", json!(null), DataType::Date32),
            ("rating", json!(null), DataType::Int64),
            (
                "formula",
                json!({"result": {"type": "number", "options": {"precision": 1}}}),
                DataType::Float64,
            ),
            ("formula", json!({"isValid": true}), DataType::Utf8),
            ("someFutureType", json!(null), DataType::Utf8),
        ];
        for (kind, options, expected) in cases {
            let options = (!options.is_null()).then_some(options);
            assert_eq!(
                map_field(kind, options.as_ref()).kind.data_type(),
                expected,
                "{kind}"
            );
        }
        assert!(map_field("someFutureType", None).unknown);
        assert_eq!(
            map_field("createdTime", None).kind.data_type(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        let links = map_field("multipleRecordLinks", None).kind.data_type();
        assert!(matches!(links, DataType::List(f) if f.data_type() == &DataType::Utf8));
        let lookup = map_field(
            "multipleLookupValues",
            Some(&json!({"result": {"type": "multipleSelects"}})),
        );
        assert_eq!(lookup.kind, Kind::List(Box::new(Kind::Text)));
    }

    #[test]
    fn values_that_do_not_match_become_none() {
        assert_eq!(conform(&Kind::Float, &json!({"specialValue": "NaN"})), None);
        assert_eq!(conform(&Kind::Float, &json!({"error": "#ERROR!"})), None);
        assert_eq!(conform(&Kind::Text, &json!(12)), None);
        assert_eq!(conform(&Kind::Int, &json!(2.5)), None);
        assert_eq!(conform(&Kind::Int, &json!(3.0)), Some(json!(3)));
        assert_eq!(conform(&Kind::Date, &json!("2024-02-30")), None);
        assert_eq!(conform(&Kind::Date, &json!("1970-01-03")), Some(json!(2)));
        assert_eq!(
            conform(&Kind::DateTime, &json!("1970-01-01T00:00:01.500Z")),
            Some(json!(1500))
        );
        assert_eq!(
            conform(&Kind::List(Box::new(Kind::Text)), &json!(["a", 1])),
            None
        );
        let text = conform(&Kind::Json, &json!({"b": 1, "a": [true]})).unwrap();
        let back: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
        assert_eq!(back, json!({"b": 1, "a": [true]}));
    }

    #[test]
    fn structs_keep_their_declared_keys_only() {
        let got = conform(
            &collaborator(),
            &json!({"id": "usr1", "email": "a@b.c", "name": "Ada", "permissionLevel": "edit"}),
        );
        assert_eq!(
            got,
            Some(json!({"id": "usr1", "email": "a@b.c", "name": "Ada"}))
        );
        assert_eq!(conform(&collaborator(), &json!({"id": 7})), None);
    }

    #[test]
    fn names_become_snake_case() {
        assert_eq!(snake_case("Order Lines"), "order_lines");
        assert_eq!(snake_case("  Unit price ($) "), "unit_price");
        assert_eq!(snake_case("createdTime"), "created_time");
        assert_eq!(snake_case("Café № 2"), "café_2");
        assert_eq!(snake_case("🚀"), "");
    }
}
