//! Reading a pipeline file: TOML parsed with its spans, then every section
//! walked by hand, so that every problem is found at once (serde stops at
//! the first), each at its line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use etl_rules::graph::{self, StepDecl};
use etl_rules::{Backoff, Cron, parse_duration};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::spec::{
    EnvRef, HttpSource, Kinds, Load, Param, ParamType, Pipeline, Position, Schedule, Source,
    SqlStep, Stage, Step, StepKind, Warehouse, WriteMode,
};

/// One problem of a file, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// Its line, from 1.
    pub line: usize,
    /// Its column, from 1, in characters.
    pub column: usize,
    /// What is wrong, naming the section and key.
    pub message: String,
}

/// Every problem of a file, in the order they appear in it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problems {
    /// The file, as named to [`Pipeline::parse`].
    pub file: String,
    /// Its problems.
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, p.line, p.column, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Problem {
    /// `message`, at `at`.
    pub fn new(at: Position, message: impl Into<String>) -> Self {
        Problem {
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }
}

impl Problems {
    /// The problems of `file`, sorted by their place.
    pub fn new(file: impl Into<String>, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| (p.line, p.column));
        Problems {
            file: file.into(),
            problems,
        }
    }
}

/// The line and column of byte `at` of `text`.
fn position(text: &str, at: usize) -> Position {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    Position::new(line, column)
}

type Value<'i> = Spanned<DeValue<'i>>;
/// Names as written, each with its place in the file.
type Names = Vec<Spanned<String>>;

struct Reader<'t> {
    text: &'t str,
    problems: Vec<(usize, String)>,
    /// `${NAME}` references, at their byte.
    env: Vec<(usize, EnvRef)>,
    /// Where each part starts, by path.
    at: Vec<(String, usize)>,
}

fn listed(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

impl<'t> Reader<'t> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.problems.push((span.start, message.into()));
    }

    /// Refuses the keys of `table` not in `allowed`.
    fn keys(&mut self, table: &DeTable<'_>, path: &str, allowed: &[&str]) {
        for (key, _) in table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                self.at(
                    key.span(),
                    format!(
                        "{path}: unknown key `{}`; the keys here are {}",
                        key.get_ref(),
                        listed(allowed)
                    ),
                );
            }
        }
    }

    fn get<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Value<'i>> {
        table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    fn as_table<'a, 'i>(&mut self, value: &'a Value<'i>, path: &str) -> Option<&'a DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.at(
                    value.span(),
                    format!("{path}: is {}, not a table", type_name(other)),
                );
                None
            }
        }
    }

    /// The one kind of `kinds` the table `value` gives (`{ duckdb = {…} }`):
    /// its name, its value and table, and its path; every problem said.
    #[allow(clippy::type_complexity)]
    fn one_of<'a, 'i, 'k>(
        &mut self,
        value: &'a Value<'i>,
        path: &str,
        kinds: &[&'k str],
    ) -> Option<(&'k str, &'a Value<'i>, &'a DeTable<'i>, String)> {
        let table = self.as_table(value, path)?;
        self.keys(table, path, kinds);
        let given: Vec<&'k str> = kinds
            .iter()
            .copied()
            .filter(|k| Self::get(table, k).is_some())
            .collect();
        if given.len() != 1 {
            self.at(
                value.span(),
                format!("{path}: give one of {}", listed(kinds)),
            );
            return None;
        }
        let kind = given[0];
        let inner = Self::get(table, kind).expect("given");
        let kpath = format!("{path}.{kind}");
        let it = self.as_table(inner, &kpath)?;
        Some((kind, inner, it, kpath))
    }

    /// String `key` of `table`: `None` when it is not there (said when
    /// `required`, at `here`) or not a string (said).
    fn string(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        path: &str,
        required: Option<Range<usize>>,
    ) -> Option<Spanned<String>> {
        match Self::get(table, key) {
            None => {
                if let Some(here) = required {
                    self.at(here, format!("{path}: `{key}` is missing"));
                }
                None
            }
            Some(value) => match value.get_ref() {
                DeValue::String(s) => Some(Spanned::new(value.span(), s.to_string())),
                other => {
                    self.at(
                        value.span(),
                        format!("{path}.{key}: is {}, not a string", type_name(other)),
                    );
                    None
                }
            },
        }
    }

    fn strings(&mut self, table: &DeTable<'_>, key: &str, path: &str) -> Vec<Spanned<String>> {
        let Some(value) = Self::get(table, key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.at(
                value.span(),
                format!(
                    "{path}.{key}: is {}, not an array of strings",
                    type_name(value.get_ref())
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(Spanned::new(item.span(), s.to_string())),
                other => self.at(
                    item.span(),
                    format!("{path}.{key}: holds {}, not a string", type_name(other)),
                ),
            }
        }
        out
    }

    fn boolean(&mut self, table: &DeTable<'_>, key: &str, path: &str) -> Option<bool> {
        let value = Self::get(table, key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.at(
                    value.span(),
                    format!("{path}.{key}: is {}, not true or false", type_name(other)),
                );
                None
            }
        }
    }

    fn integer(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        path: &str,
        range: Range<i64>,
    ) -> Option<i64> {
        let value = Self::get(table, key)?;
        let parsed = match value.get_ref() {
            DeValue::Integer(i) => {
                i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
            }
            _ => None,
        };
        match parsed {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.at(
                    value.span(),
                    format!(
                        "{path}.{key}: give a whole number from {} to {}",
                        range.start,
                        range.end - 1
                    ),
                );
                None
            }
        }
    }

    /// The `${…}` references in `text`: `${params.NAME}` must name a
    /// declared parameter, `${NAME}` an environment variable's name.
    fn references(&mut self, text: &Spanned<String>, path: &str, params: &[Param]) {
        let mut rest = text.get_ref().as_str();
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                self.at(
                    text.span(),
                    format!("{path}: a `${{` is not closed by `}}`"),
                );
                return;
            };
            let name = &after[..end];
            let (name, default) = match name.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (name, None),
            };
            if let Some(param) = name.strip_prefix("params.") {
                if !params.iter().any(|p| p.name == param) {
                    let declared: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                    self.at(
                        text.span(),
                        format!(
                            "{path}: `${{{name}}}` names no parameter; declared: {}",
                            if declared.is_empty() {
                                "none".to_owned()
                            } else {
                                listed(&declared)
                            }
                        ),
                    );
                }
            } else if !env_name(name) {
                self.at(
                    text.span(),
                    format!(
                        "{path}: `${{{name}}}` is neither `${{params.NAME}}` nor an environment variable's name (letters, digits, `_`)"
                    ),
                );
            } else {
                self.env.push((
                    text.span().start,
                    EnvRef {
                        name: name.to_owned(),
                        default: default.map(str::to_owned),
                        path: path.to_owned(),
                        at: Position::default(),
                    },
                ));
            }
            rest = &after[end + 1..];
        }
    }
}

impl Reader<'_> {
    /// A secret: one whole `${NAME}` reference, never a literal, which is
    /// refused without being quoted (it may be a real token).
    fn secret(&mut self, text: &Spanned<String>, path: &str, params: &[Param]) {
        if env_reference(text.get_ref()) {
            self.references(text, path, params);
        } else {
            self.at(
                text.span(),
                format!("{path}: a secret is only ever a reference to the environment, such as \"${{API_TOKEN}}\", never written in the file"),
            );
        }
    }

    /// A PostgreSQL URL: required, never naming a run's parameter, its
    /// password only from the environment.
    fn postgres_url(
        &mut self,
        it: &DeTable<'_>,
        kpath: &str,
        here: Range<usize>,
        params: &[Param],
    ) -> Option<String> {
        let url = self.string(it, "url", kpath, Some(here))?;
        let upath = format!("{kpath}.url");
        self.fixed(&url, &upath);
        if literal_password(url.get_ref()) {
            self.at(
                url.span(),
                format!("{upath}: holds a password; a secret is only ever a reference to the environment: the whole URL (\"${{PG_URL}}\"), the password (\"postgres://etl:${{PG_PASSWORD}}@host/db\"), or none and PGPASSWORD set"),
            );
        } else {
            self.references(&url, &upath, params);
        }
        Some(url.into_inner())
    }

    /// The table of a registered kind: `${ENV}` references checked, and no
    /// run's parameter anywhere in it (which of its keys say where
    /// credentials go, the reader cannot know).
    fn registered(&mut self, table: &DeTable<'_>, path: &str, params: &[Param]) -> toml::Table {
        // Where each key is, as a registered kind's errors name it
        // (`sources.x.kind.tables[1]`), for problems at their place.
        fn places(r: &mut Reader<'_>, value: &Value<'_>, path: String) {
            match value.get_ref() {
                DeValue::Table(t) => {
                    for (k, v) in t.iter() {
                        r.at.push((format!("{path}.{}", k.get_ref()), k.span().start));
                        places(r, v, format!("{path}.{}", k.get_ref()));
                    }
                }
                DeValue::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        r.at.push((format!("{path}[{i}]"), v.span().start));
                        places(r, v, format!("{path}[{i}]"));
                    }
                }
                _ => {}
            }
        }
        for (k, v) in table.iter() {
            let key = format!("{path}.{}", k.get_ref());
            self.at.push((key.clone(), k.span().start));
            places(self, v, key);
        }
        fn strings<'v>(value: &'v Value<'_>, out: &mut Vec<&'v Value<'v>>) {
            match value.get_ref() {
                DeValue::String(_) => out.push(value),
                DeValue::Array(items) => items.iter().for_each(|i| strings(i, out)),
                DeValue::Table(t) => t.iter().for_each(|(_, v)| strings(v, out)),
                _ => {}
            }
        }
        for (key, value) in table.iter() {
            let mut found = Vec::new();
            strings(value, &mut found);
            for text in found {
                if let DeValue::String(t) = text.get_ref() {
                    self.fixed(
                        &Spanned::new(text.span(), t.to_string()),
                        &format!("{path}.{}", key.get_ref()),
                    );
                }
            }
        }
        self.inline(table, path, params)
    }

    /// Table `key` of `table` whose values are all strings (`queries`),
    /// each with its key; every other value said.
    fn string_table(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        path: &str,
    ) -> Vec<(Spanned<String>, Spanned<String>)> {
        let Some(value) = Self::get(table, key) else {
            return Vec::new();
        };
        let Some(t) = self.as_table(value, &format!("{path}.{key}")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            let name = Spanned::new(k.span(), k.get_ref().to_string());
            match v.get_ref() {
                DeValue::String(s) => out.push((name, Spanned::new(v.span(), s.to_string()))),
                other => self.at(
                    v.span(),
                    format!(
                        "{path}.{key}.{}: is {}, not a string",
                        k.get_ref(),
                        type_name(other)
                    ),
                ),
            }
        }
        out
    }

    /// Where credentials go is fixed by the file and the environment: a
    /// run's parameter (which a webhook may give) must not name it.
    fn fixed(&mut self, text: &Spanned<String>, path: &str) {
        if text.get_ref().contains("${params.") {
            self.at(
                text.span(),
                format!("{path}: where credentials are sent is never a run's parameter; use `${{ENV}}` or write it"),
            );
        }
    }

    /// An inline table (an HTTP source's config) as plain TOML, its strings'
    /// references checked, the secrets of its `auth` only references.
    fn inline(&mut self, table: &DeTable<'_>, path: &str, params: &[Param]) -> toml::Table {
        let mut out = toml::Table::new();
        for (key, value) in table.iter() {
            let kpath = format!("{path}.{}", key.get_ref());
            let secret = path.ends_with(".auth")
                && matches!(key.get_ref().as_ref(), "token" | "value" | "password");
            // The source's own keys (not a resource's) that say where
            // credentials go.
            if path.ends_with(".http")
                && matches!(key.get_ref().as_ref(), "base_url" | "follow_hosts")
            {
                let items = match value.get_ref() {
                    DeValue::Array(items) => items.iter().collect(),
                    _ => vec![value],
                };
                for item in items {
                    if let DeValue::String(t) = item.get_ref() {
                        self.fixed(&Spanned::new(item.span(), t.to_string()), &kpath);
                    }
                }
            }
            if let Some(v) = self.plain(value, &kpath, params, secret) {
                out.insert(key.get_ref().to_string(), v);
            }
        }
        out
    }

    fn plain(
        &mut self,
        value: &Value<'_>,
        path: &str,
        params: &[Param],
        secret: bool,
    ) -> Option<toml::Value> {
        if secret && !matches!(value.get_ref(), DeValue::String(_)) {
            // Refused whole, never quoted: an array or table here may hold
            // the secret itself.
            self.at(
                value.span(),
                format!(
                    "{path}: is {}; a secret is only ever a reference to the environment, such as \"${{API_TOKEN}}\"",
                    type_name(value.get_ref())
                ),
            );
            return None;
        }
        Some(match value.get_ref() {
            DeValue::String(text) => {
                let text = Spanned::new(value.span(), text.to_string());
                if secret {
                    self.secret(&text, path, params);
                } else {
                    self.references(&text, path, params);
                }
                toml::Value::String(text.into_inner())
            }
            DeValue::Integer(i) => toml::Value::Integer(
                i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()?,
            ),
            DeValue::Float(f) => toml::Value::Float(f.as_str().replace('_', "").parse().ok()?),
            DeValue::Boolean(b) => toml::Value::Boolean(*b),
            DeValue::Datetime(d) => toml::Value::Datetime(*d),
            DeValue::Array(items) => toml::Value::Array(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        self.plain(item, &format!("{path}[{}]", i + 1), params, false)
                    })
                    .collect(),
            ),
            DeValue::Table(t) => toml::Value::Table(self.inline(t, path, params)),
        })
    }
}

/// `[[stages]]`, each stage's dependencies folded into its steps' (and into
/// `decls`, for the graph's checks).
fn read_stages(
    r: &mut Reader<'_>,
    top: &DeTable<'_>,
    steps: &mut [Step],
    decls: &mut [(Spanned<String>, Vec<Spanned<String>>)],
) -> Vec<Stage> {
    let Some(v) = Reader::get(top, "stages") else {
        return Vec::new();
    };
    let DeValue::Array(items) = v.get_ref() else {
        r.at(
            v.span(),
            format!(
                "stages: is {}, not `[[stages]]` tables",
                type_name(v.get_ref())
            ),
        );
        return Vec::new();
    };
    let mut stages: Vec<(Stage, Names, Names)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("stages[{}]", i + 1);
        let Some(t) = r.as_table(item, &path) else {
            continue;
        };
        r.keys(t, &path, &["name", "steps", "depends_on", "parallel"]);
        let Some(name) = r.string(t, "name", &path, Some(item.span())) else {
            continue;
        };
        if stages.iter().any(|(s, _, _)| &s.name == name.get_ref()) {
            r.at(
                name.span(),
                format!("{path}: duplicate stage {:?}", name.get_ref()),
            );
        }
        let members = r.strings(t, "steps", &path);
        if members.is_empty() {
            r.at(item.span(), format!("{path}: a stage lists its `steps`"));
        }
        let depends_on = r.strings(t, "depends_on", &path);
        let parallel = r.boolean(t, "parallel", &path).unwrap_or(true);
        stages.push((
            Stage {
                name: name.into_inner(),
                steps: members.iter().map(|m| m.get_ref().clone()).collect(),
                depends_on: depends_on.iter().map(|d| d.get_ref().clone()).collect(),
                parallel,
            },
            members,
            depends_on,
        ));
    }
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (stage, members, _) in &stages {
        for m in members {
            if !steps.iter().any(|s| &s.name == m.get_ref()) {
                r.at(
                    m.span(),
                    format!(
                        "stages: stage {:?} lists unknown step {:?}",
                        stage.name,
                        m.get_ref()
                    ),
                );
            } else if let Some(other) = owner.insert(m.get_ref().clone(), stage.name.clone()) {
                r.at(
                    m.span(),
                    format!(
                        "stages: step {:?} is in stage {other:?} already, and in {:?}",
                        m.get_ref(),
                        stage.name
                    ),
                );
            }
        }
    }
    // Each step of a stage runs after every step of the stages it depends
    // on, and after the step listed before it when the stage is not
    // parallel.
    for (stage, members, depends_on) in &stages {
        let mut before: Vec<Spanned<String>> = Vec::new();
        for dep in depends_on {
            match stages.iter().find(|(s, _, _)| &s.name == dep.get_ref()) {
                Some((_, theirs, _)) => before.extend(
                    theirs
                        .iter()
                        .map(|t| Spanned::new(dep.span(), t.get_ref().clone())),
                ),
                None => r.at(
                    dep.span(),
                    format!(
                        "stages: stage {:?} depends on unknown stage {:?}",
                        stage.name,
                        dep.get_ref()
                    ),
                ),
            }
        }
        for (i, m) in members.iter().enumerate() {
            let mut extra = before.clone();
            if !stage.parallel && i > 0 {
                extra.push(members[i - 1].clone());
            }
            let Some(step) = steps.iter_mut().find(|s| &s.name == m.get_ref()) else {
                continue;
            };
            let Some((_, deps)) = decls.iter_mut().find(|(n, _)| n.get_ref() == m.get_ref()) else {
                continue;
            };
            for e in extra {
                if !step.depends_on.contains(e.get_ref()) && e.get_ref() != m.get_ref() {
                    step.depends_on.push(e.get_ref().clone());
                    deps.push(e);
                }
            }
        }
    }
    stages.into_iter().map(|(s, _, _)| s).collect()
}

fn env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `text` is one `${NAME}` reference to the environment, whole.
/// The source kinds the reader knows itself.
const SOURCES: &[&str] = &["airtable", "http", "files", "postgres"];
/// The warehouse kinds the reader knows itself.
const WAREHOUSES: &[&str] = &["sqlite", "duckdb", "postgres"];

/// `known`, then the `registered` kinds it does not have.
fn with_registered<'k>(known: &[&'k str], registered: &'k [String]) -> Vec<&'k str> {
    let mut kinds = known.to_vec();
    for kind in registered {
        if !kinds.contains(&kind.as_str()) {
            kinds.push(kind);
        }
    }
    kinds
}

/// Whether a PostgreSQL URL (or `key=value` connection string) written in
/// the file holds a password that is not one whole `${NAME}` reference.
fn literal_password(url: &str) -> bool {
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        return authority
            .rsplit_once('@')
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .is_some_and(|(_, password)| !password.is_empty() && !env_reference(password));
    }
    url.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .any(|(key, value)| {
            key.trim() == "password"
                && !value.is_empty()
                && !env_reference(value.trim_matches('\''))
        })
}

fn env_reference(text: &str) -> bool {
    text.strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .is_some_and(env_name)
}

fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A step's `mode`, `None` when it gives none.
fn mode(reader: &mut Reader<'_>, table: &DeTable<'_>, path: &str) -> Option<WriteMode> {
    let m = reader.string(table, "mode", path, None)?;
    match m.get_ref().as_str() {
        "replace" => Some(WriteMode::Replace),
        "append" => Some(WriteMode::Append),
        "merge" => Some(WriteMode::Merge),
        other => {
            reader.at(
                m.span(),
                format!("{path}.mode: {other:?} is not `replace`, `append` or `merge`"),
            );
            None
        }
    }
}

impl Pipeline {
    /// Reads pipeline `text`, which comes from `file` (named in problems):
    /// every problem at once, each at its line and column.
    pub fn parse(text: &str, file: &str) -> Result<Pipeline, Problems> {
        Self::parse_with(text, file, &Kinds::default())
    }

    /// [`Pipeline::parse`], taking `kinds` too: source and warehouse kinds
    /// the build registered beyond those the reader knows.
    pub fn parse_with(text: &str, file: &str, kinds: &Kinds) -> Result<Pipeline, Problems> {
        let (doc, errors) = DeTable::parse_recoverable(text);
        let mut r = Reader {
            text,
            problems: Vec::new(),
            env: Vec::new(),
            at: Vec::new(),
        };
        for e in &errors {
            let at = e.span().map_or(0, |s| s.start);
            r.problems.push((at, format!("not TOML: {}", e.message())));
        }
        let top = doc.get_ref();
        let whole = doc.span();
        r.keys(
            top,
            "the file",
            &[
                "name",
                "schedule",
                "params",
                "sources",
                "warehouses",
                "steps",
                "stages",
                "max_parallel",
            ],
        );
        let max_parallel = r
            .integer(top, "max_parallel", "the file", 1..1025)
            .map(|n| n as usize);

        let name = r.string(top, "name", "the file", Some(0..0));
        if let Some(n) = &name
            && n.get_ref().trim().is_empty()
        {
            r.at(n.span(), "name: the workflow's name is empty");
        }

        let schedule = Reader::get(top, "schedule").and_then(|v| {
            let t = r.as_table(v, "schedule")?;
            r.keys(t, "schedule", &["cron", "zone"]);
            let cron = r.string(t, "cron", "schedule", Some(v.span()))?;
            if let Err(e) = Cron::parse(cron.get_ref()) {
                r.at(cron.span(), format!("schedule.cron: {e}"));
            }
            let zone = r.string(t, "zone", "schedule", None);
            if let Some(z) = &zone
                && z.get_ref().parse::<chrono_tz::Tz>().is_err()
            {
                r.at(
                    z.span(),
                    format!(
                        "schedule.zone: {:?} is not a time zone (an IANA name: Europe/Paris)",
                        z.get_ref()
                    ),
                );
            }
            Some(Schedule {
                cron: cron.into_inner(),
                zone: zone.map(Spanned::into_inner),
            })
        });

        let mut params = Vec::new();
        if let Some(v) = Reader::get(top, "params")
            && let Some(t) = r.as_table(v, "params")
        {
            for (key, value) in t.iter() {
                let pname = key.get_ref().to_string();
                let path = format!("params.{pname}");
                if !plain_name(&pname) {
                    r.at(key.span(), format!("{path}: a parameter's name is 1 to 128 letters, digits, `_`, `-` or `.`"));
                }
                let Some(pt) = r.as_table(value, &path) else {
                    continue;
                };
                r.keys(pt, &path, &["type", "default"]);
                let kind = match r.string(pt, "type", &path, None) {
                    None => ParamType::Text,
                    Some(k) => ParamType::parse(k.get_ref()).unwrap_or_else(|| {
                        let other = k.get_ref();
                        r.at(
                            k.span(),
                            format!(
                                "{path}.type: {other:?} is not `string`, `int`, `bool` or `date`"
                            ),
                        );
                        ParamType::Text
                    }),
                };
                let default = Reader::get(pt, "default").and_then(|d| {
                    let text = match (kind, d.get_ref()) {
                        (ParamType::Text, DeValue::String(s)) => Some(s.to_string()),
                        (ParamType::Int, DeValue::Integer(i)) => Some(i.as_str().replace('_', "")),
                        (ParamType::Bool, DeValue::Boolean(b)) => Some(b.to_string()),
                        (ParamType::Date, DeValue::Datetime(dt))
                            if dt.time.is_none() && dt.offset.is_none() =>
                        {
                            Some(dt.to_string())
                        }
                        (ParamType::Date, DeValue::String(s)) if date(s) => Some(s.to_string()),
                        _ => None,
                    };
                    if text.is_none() {
                        r.at(
                            d.span(),
                            format!(
                                "{path}.default: is {}, not a {}",
                                type_name(d.get_ref()),
                                match kind {
                                    ParamType::Int => "whole number",
                                    ParamType::Bool => "boolean",
                                    ParamType::Date => "date (YYYY-MM-DD)",
                                    _ => "string",
                                }
                            ),
                        );
                    }
                    text
                });
                params.push(Param {
                    name: pname,
                    kind,
                    default,
                });
            }
        }

        let source_kinds = with_registered(SOURCES, &kinds.sources);
        let warehouse_kinds = with_registered(WAREHOUSES, &kinds.warehouses);
        let mut sources = BTreeMap::new();
        if let Some(v) = Reader::get(top, "sources")
            && let Some(t) = r.as_table(v, "sources")
        {
            for (key, value) in t.iter() {
                let sname = key.get_ref().to_string();
                let path = format!("sources.{sname}");
                r.at.push((path.clone(), key.span().start));
                let Some((kind, inner, it, kpath)) = r.one_of(value, &path, &source_kinds) else {
                    continue;
                };
                let source = match kind {
                    k if !SOURCES.contains(&k) => Source::Registered {
                        kind: k.to_owned(),
                        config: r.registered(it, &kpath, &params),
                    },
                    "postgres" => {
                        r.keys(
                            it,
                            &kpath,
                            &[
                                "url",
                                "schema",
                                "queries",
                                "incremental",
                                "root_certificates",
                                "read_connections",
                            ],
                        );
                        let url = r.postgres_url(it, &kpath, inner.span(), &params);
                        let schema = r.string(it, "schema", &kpath, None);
                        let certificates = r.string(it, "root_certificates", &kpath, None);
                        if let Some(c) = &certificates {
                            r.references(c, &format!("{kpath}.root_certificates"), &params);
                        }
                        let queries = r.string_table(it, "queries", &kpath);
                        for (name, sql) in &queries {
                            if name.get_ref().trim().is_empty() {
                                r.at(
                                    name.span(),
                                    format!("{kpath}.queries: a query needs a name"),
                                );
                            }
                            r.references(
                                sql,
                                &format!("{kpath}.queries.{}", name.get_ref()),
                                &params,
                            );
                        }
                        let incremental = r.string_table(it, "incremental", &kpath);
                        let read_connections = r
                            .integer(it, "read_connections", &kpath, 1..65)
                            .map(|n| n as usize);
                        Source::Postgres {
                            url: url.unwrap_or_default(),
                            schema: schema.map(Spanned::into_inner),
                            queries: queries
                                .into_iter()
                                .map(|(k, v)| (k.into_inner(), v.into_inner()))
                                .collect(),
                            incremental: incremental
                                .into_iter()
                                .map(|(k, v)| (k.into_inner(), v.into_inner()))
                                .collect(),
                            root_certificates: certificates.map(Spanned::into_inner),
                            read_connections,
                        }
                    }
                    "airtable" => {
                        r.keys(it, &kpath, &["base", "token", "tables", "api_url"]);
                        let base = r.string(it, "base", &kpath, Some(inner.span()));
                        let token = r.string(it, "token", &kpath, Some(inner.span()));
                        if let Some(t) = &token {
                            r.secret(t, &format!("{kpath}.token"), &params);
                        }
                        for s in base.iter() {
                            r.references(s, &format!("{kpath}.base"), &params);
                        }
                        let api_url = r.string(it, "api_url", &kpath, None);
                        if let Some(u) = &api_url {
                            r.references(u, &format!("{kpath}.api_url"), &params);
                            r.fixed(u, &format!("{kpath}.api_url"));
                        }
                        let tables = r.strings(it, "tables", &kpath);
                        Source::Airtable {
                            base: base.map(Spanned::into_inner).unwrap_or_default(),
                            token: token.map(Spanned::into_inner).unwrap_or_default(),
                            tables: tables.into_iter().map(Spanned::into_inner).collect(),
                            api_url: api_url.map(Spanned::into_inner),
                        }
                    }
                    "http" => {
                        let config = if Reader::get(it, "config").is_some() {
                            r.keys(it, &kpath, &["config"]);
                            let config = r.string(it, "config", &kpath, Some(inner.span()));
                            HttpSource::File(config.map(Spanned::into_inner).unwrap_or_default())
                        } else {
                            HttpSource::Inline(r.inline(it, &kpath, &params))
                        };
                        Source::Http { config }
                    }
                    _ => {
                        r.keys(it, &kpath, &["path"]);
                        let p = r.string(it, "path", &kpath, Some(inner.span()));
                        if let Some(p) = &p {
                            r.references(p, &format!("{kpath}.path"), &params);
                        }
                        Source::Files {
                            path: p.map(Spanned::into_inner).unwrap_or_default(),
                        }
                    }
                };
                sources.insert(sname, source);
            }
        }

        let mut warehouses = BTreeMap::new();
        if let Some(v) = Reader::get(top, "warehouses")
            && let Some(t) = r.as_table(v, "warehouses")
        {
            for (key, value) in t.iter() {
                let wname = key.get_ref().to_string();
                let path = format!("warehouses.{wname}");
                r.at.push((path.clone(), key.span().start));
                let Some((kind, inner, it, kpath)) = r.one_of(value, &path, &warehouse_kinds)
                else {
                    continue;
                };
                if !WAREHOUSES.contains(&kind) {
                    let config = r.registered(it, &kpath, &params);
                    warehouses.insert(
                        wname,
                        Warehouse::Registered {
                            kind: kind.to_owned(),
                            config,
                        },
                    );
                    continue;
                }
                if kind == "postgres" {
                    r.keys(it, &kpath, &["url", "schema", "root_certificates"]);
                    let url = r.postgres_url(it, &kpath, inner.span(), &params);
                    let certificates = r.string(it, "root_certificates", &kpath, None);
                    if let Some(c) = &certificates {
                        r.references(c, &format!("{kpath}.root_certificates"), &params);
                    }
                    warehouses.insert(
                        wname,
                        Warehouse::Postgres {
                            url: url.unwrap_or_default(),
                            schema: r
                                .string(it, "schema", &kpath, None)
                                .map(Spanned::into_inner),
                            root_certificates: certificates.map(Spanned::into_inner),
                        },
                    );
                    continue;
                }
                r.keys(
                    it,
                    &kpath,
                    if kind == "sqlite" {
                        &["path"]
                    } else {
                        &["path", "memory_limit"]
                    },
                );
                let p = r.string(it, "path", &kpath, Some(inner.span()));
                if let Some(p) = &p {
                    r.references(p, &format!("{kpath}.path"), &params);
                }
                let path_text = p.map(Spanned::into_inner).unwrap_or_default();
                let warehouse = if kind == "sqlite" {
                    Warehouse::Sqlite { path: path_text }
                } else {
                    Warehouse::Duckdb {
                        path: path_text,
                        memory_limit: r
                            .string(it, "memory_limit", &kpath, None)
                            .map(Spanned::into_inner),
                    }
                };
                warehouses.insert(wname, warehouse);
            }
        }

        let mut steps = Vec::new();
        let mut decls: Vec<(Spanned<String>, Vec<Spanned<String>>)> = Vec::new();
        match Reader::get(top, "steps") {
            None => r.at(whole.start..whole.start, "the file has no `[[steps]]`"),
            Some(v) => match v.get_ref() {
                DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let path = format!("steps[{}]", i + 1);
                        let Some(t) = r.as_table(item, &path) else {
                            continue;
                        };
                        if let Some(step) = read_step(
                            &mut r,
                            t,
                            item.span(),
                            &path,
                            &params,
                            &sources,
                            &warehouses,
                            &mut decls,
                        ) {
                            steps.push(step);
                        }
                    }
                }
                other => r.at(
                    v.span(),
                    format!("steps: is {}, not `[[steps]]` tables", type_name(other)),
                ),
            },
        }

        let stages = read_stages(&mut r, top, &mut steps, &mut decls);

        // The graph: duplicate names, unknown dependencies, cycles.
        let graph_decls: Vec<StepDecl<'_>> = decls
            .iter()
            .map(|(n, deps)| StepDecl::new(n.get_ref(), deps.iter().map(|d| d.get_ref().as_str())))
            .collect();
        for problem in graph::check(&graph_decls, false).problems {
            let at = match &problem {
                graph::Problem::EmptyName { step } | graph::Problem::DuplicateStep { step, .. } => {
                    decls[*step].0.span()
                }
                graph::Problem::UnknownStep { step, dep, .. }
                | graph::Problem::RepeatedDependency { step, dep, .. } => {
                    decls[*step].1[*dep].span()
                }
                graph::Problem::Cycle { steps, .. } => decls[steps[0]].0.span(),
                _ => whole.clone(),
            };
            r.at(at, format!("steps: {problem}"));
        }

        let text = r.text;
        if r.problems.is_empty() {
            return Ok(Pipeline {
                name: name.map(Spanned::into_inner).unwrap_or_default(),
                schedule,
                params,
                sources,
                warehouses,
                steps,
                stages,
                max_parallel,
                env: r
                    .env
                    .into_iter()
                    .map(|(at, mut env)| {
                        env.at = position(text, at);
                        env
                    })
                    .collect(),
                at: r
                    .at
                    .into_iter()
                    .map(|(path, at)| (path, position(text, at)))
                    .collect(),
            });
        }
        let mut problems: Vec<(usize, String)> = r.problems;
        problems.sort_by_key(|(at, _)| *at);
        Err(Problems {
            file: file.to_owned(),
            problems: problems
                .into_iter()
                .map(|(at, message)| Problem::new(position(text, at), message))
                .collect(),
        })
    }
}

fn date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[allow(clippy::too_many_arguments)]
fn read_step(
    r: &mut Reader<'_>,
    t: &DeTable<'_>,
    here: Range<usize>,
    path: &str,
    params: &[Param],
    sources: &BTreeMap<String, Source>,
    warehouses: &BTreeMap<String, Warehouse>,
    decls: &mut Vec<(Spanned<String>, Vec<Spanned<String>>)>,
) -> Option<Step> {
    r.keys(
        t,
        path,
        &[
            "name",
            "source",
            "warehouse",
            "tables",
            "mode",
            "primary_key",
            "drop_tables",
            "incremental",
            "sql",
            "table",
            "depends_on",
            "retries",
            "backoff",
            "timeout",
        ],
    );
    let name = r.string(t, "name", path, Some(here.clone()));
    let depends_on = r.strings(t, "depends_on", path);
    if let Some(n) = &name {
        decls.push((n.clone(), depends_on.clone()));
        r.at.push((format!("steps.{}", n.get_ref()), n.span().start));
        for key in ["sql", "tables"] {
            if let Some(v) = Reader::get(t, key) {
                r.at.push((format!("steps.{}.{key}", n.get_ref()), v.span().start));
            }
        }
    }
    let warehouse = r.string(t, "warehouse", path, Some(here.clone()));
    if let Some(w) = &warehouse
        && !warehouses.contains_key(w.get_ref())
    {
        let known: Vec<&str> = warehouses.keys().map(String::as_str).collect();
        r.at(
            w.span(),
            format!(
                "{path}.warehouse: no warehouse {:?}; the warehouses are {}",
                w.get_ref(),
                if known.is_empty() {
                    "none".into()
                } else {
                    listed(&known)
                }
            ),
        );
    }
    let source = r.string(t, "source", path, None);
    let sql = r.string(t, "sql", path, None);
    let mode = mode(r, t, path);
    let kind = match (&source, &sql) {
        (Some(_), Some(s)) => {
            r.at(
                s.span(),
                format!("{path}: a step loads a `source` or runs `sql`, not both"),
            );
            None
        }
        (None, None) => {
            r.at(
                here.clone(),
                format!("{path}: give a `source` to load, or `sql` to run"),
            );
            None
        }
        (Some(s), None) => {
            if !sources.contains_key(s.get_ref()) {
                let known: Vec<&str> = sources.keys().map(String::as_str).collect();
                r.at(
                    s.span(),
                    format!(
                        "{path}.source: no source {:?}; the sources are {}",
                        s.get_ref(),
                        if known.is_empty() {
                            "none".into()
                        } else {
                            listed(&known)
                        }
                    ),
                );
            }
            for key in ["sql", "table"] {
                if let Some(v) = Reader::get(t, key) {
                    r.at(
                        v.span(),
                        format!("{path}.{key}: belongs to a SQL step, not a load"),
                    );
                }
            }
            let tables = r.strings(t, "tables", path);
            for table in &tables {
                r.references(table, &format!("{path}.tables"), params);
            }
            let primary_key = r.strings(t, "primary_key", path);
            // An HTTP source's resources name their own keys (its config
            // refuses a merge without one).
            let keyed = matches!(sources.get(s.get_ref()), Some(Source::Http { .. }));
            if mode == Some(WriteMode::Merge) && primary_key.is_empty() && !keyed {
                r.at(
                    here.clone(),
                    format!("{path}: `mode = \"merge\"` needs a `primary_key`"),
                );
            }
            let incremental = r.boolean(t, "incremental", path).unwrap_or(false);
            if incremental && matches!(mode, Some(WriteMode::Replace | WriteMode::Append)) {
                // Replace would keep only what changed; append would
                // double every changed record.
                r.at(
                    here.clone(),
                    format!("{path}.mode: an incremental load merges what changed into its tables: `merge`, or leave `mode` out"),
                );
            }
            Some(StepKind::Load(Load {
                source: s.get_ref().clone(),
                warehouse: warehouse
                    .as_ref()
                    .map(|w| w.get_ref().clone())
                    .unwrap_or_default(),
                tables: tables.into_iter().map(Spanned::into_inner).collect(),
                mode,
                primary_key: primary_key.into_iter().map(Spanned::into_inner).collect(),
                drop_tables: r.boolean(t, "drop_tables", path).unwrap_or(false),
                incremental,
            }))
        }
        (None, Some(q)) => {
            if q.get_ref().trim().is_empty() {
                r.at(q.span(), format!("{path}.sql: the query is empty"));
            }
            r.references(q, &format!("{path}.sql"), params);
            for key in ["tables", "primary_key", "drop_tables", "incremental"] {
                if let Some(v) = Reader::get(t, key) {
                    r.at(
                        v.span(),
                        format!("{path}.{key}: belongs to a load, not a SQL step"),
                    );
                }
            }
            if mode == Some(WriteMode::Merge) {
                r.at(
                    here.clone(),
                    format!("{path}.mode: a SQL step's table has no key to merge on: `replace` or `append`"),
                );
            }
            let table = r.string(t, "table", path, Some(here.clone()));
            Some(StepKind::Sql(SqlStep {
                sql: q.get_ref().clone(),
                table: table.map(Spanned::into_inner).unwrap_or_default(),
                warehouse: warehouse
                    .as_ref()
                    .map(|w| w.get_ref().clone())
                    .unwrap_or_default(),
                mode: mode.unwrap_or(WriteMode::Replace),
            }))
        }
    };
    let retries = r.integer(t, "retries", path, 0..101).unwrap_or(0) as u32;
    let backoff =
        r.string(t, "backoff", path, None)
            .and_then(|b| match Backoff::parse(b.get_ref()) {
                Ok(backoff) => Some(backoff),
                Err(e) => {
                    r.at(b.span(), format!("{path}.backoff: {e}"));
                    None
                }
            });
    let timeout =
        r.string(t, "timeout", path, None)
            .and_then(|d| match parse_duration(d.get_ref()) {
                Ok(timeout) => Some(timeout),
                Err(e) => {
                    r.at(d.span(), format!("{path}.timeout: {e}"));
                    None
                }
            });
    Some(Step {
        name: name?.into_inner(),
        kind: kind?,
        depends_on: depends_on.into_iter().map(Spanned::into_inner).collect(),
        retries,
        backoff,
        timeout,
    })
}
