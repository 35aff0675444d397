//! Reading a scenario file: TOML syntax, then the types, then the rules, each failure
//! reported as `file:line: field: message`.
//!
//! Three passes over the same text, each with one job:
//! 1. `toml::de::DeTable::parse` checks the syntax and keeps every key's position, so later
//!    errors can name a line;
//! 2. serde reads the typed [`Scenario`] (unknown fields, wrong types, missing fields);
//!    its error spans are mapped back to a field path and line;
//! 3. `validate` checks the rules types cannot express (hosts that exist, times in
//!    order, ...); of all broken rules the one earliest in the file is reported.
//!
//! Nothing here panics on any input, and nothing here knows how a run uses the scenario.

mod event;
mod spans;
mod validate;

use std::ops::Range;
use std::path::Path;

use toml::de::DeTable;

use crate::scenario::model::Scenario;
pub(crate) use event::RawEvent;
use spans::{join, line_at, Spans};
pub use validate::{Invalid, MAX_CONCURRENCY, MAX_VALUE_SIZE, MIN_PART_SIZE};

/// A scenario file that cannot be used, and where the problem is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}{}: {}{kind}", line_suffix(*.line), field_prefix(.field))]
pub struct ScenarioError {
    /// The file (or whatever name the text was given).
    pub origin: String,
    /// The 1-based line, if the problem has one.
    pub line: Option<usize>,
    /// The field's path, dotted with 0-based indexes (`timeline[2].node`), if known.
    pub field: Option<String>,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// The kinds of problem, one per pass.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(String),
    /// Not valid TOML.
    #[error("{0}")]
    Syntax(String),
    /// Valid TOML, but not a scenario: unknown field, wrong type, missing field.
    #[error("{0}")]
    Schema(String),
    /// A scenario that breaks a rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

fn field_prefix(field: &Option<String>) -> String {
    match field {
        Some(f) if !f.is_empty() => format!("{f}: "),
        _ => String::new(),
    }
}

/// Reads and checks the scenario in `path`; errors name the path as given.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &origin),
        Err(e) => Err(ScenarioError {
            origin,
            line: None,
            field: None,
            kind: ErrorKind::Read(e.to_string()),
        }),
    }
}

/// Parses and checks the scenario in `text`; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    let error = |line, field, kind| ScenarioError {
        origin: origin.to_owned(),
        line,
        field,
        kind,
    };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            let kind = ErrorKind::Syntax(e.message().to_owned());
            return Err(error(
                Some(line_at(text, offset)),
                syntax_field(text, offset),
                kind,
            ));
        }
    };
    let spans = Spans::new(text, &doc);
    let scenario: Scenario = match toml::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            let (line, field) = schema_position(&spans, text, e.span(), e.message());
            return Err(error(
                line,
                field,
                ErrorKind::Schema(e.message().to_owned()),
            ));
        }
    };
    let broken = validate::check(&scenario);
    let earliest = broken
        .into_iter()
        .map(|(path, invalid)| (spans.line_of(&path), path, invalid))
        .min_by_key(|(line, _, _)| line.unwrap_or(usize::MAX));
    match earliest {
        Some((line, path, invalid)) => Err(error(line, Some(path), invalid.into())),
        None => Ok(scenario),
    }
}

/// The line and field a serde error points at. Errors on a whole table (a missing field,
/// or a timeline entry's action taking issue with a field) name the field in the message
/// as ``field `x` ``; it is appended to the table's path.
fn schema_position(
    spans: &Spans,
    text: &str,
    span: Option<Range<usize>>,
    message: &str,
) -> (Option<usize>, Option<String>) {
    let Some(span) = span else {
        return (None, named_field(message).map(str::to_owned));
    };
    let Some(found) = spans.locate(span.clone()) else {
        return (
            Some(line_at(text, span.start)),
            named_field(message).map(str::to_owned),
        );
    };
    match named_field(message) {
        Some(name) if found.is_table => {
            let path = join(&found.path, name);
            (spans.line_of(&path).or(Some(found.line)), Some(path))
        }
        _ => (Some(found.line), Some(found.path).filter(|p| !p.is_empty())),
    }
}

/// `x` in a message containing ``field `x` ``.
fn named_field(message: &str) -> Option<&str> {
    let rest = &message[message.find("field `")? + "field `".len()..];
    Some(&rest[..rest.find('`')?])
}

/// The field a syntax error is in, read from the text (the document did not parse): the
/// key on the error's line, or the table header, prefixed by the current table. A
/// best-effort reading: a `[` opening a line inside a multi-line value looks like a header.
fn syntax_field(text: &str, offset: usize) -> Option<String> {
    let line_no = line_at(text, offset);
    let mut table = String::new();
    let mut arrays: Vec<(String, usize)> = Vec::new();
    for (n, line) in text.lines().enumerate().take(line_no) {
        let line = line.trim();
        let Some(header) = line.strip_prefix('[') else {
            continue;
        };
        let array = header.starts_with('[');
        let name = header.trim_start_matches('[');
        let name = name.split([']', '#']).next().unwrap_or("").trim();
        let name: String = name.split('.').map(str::trim).collect::<Vec<_>>().join(".");
        table = if array {
            let count = match arrays.iter_mut().find(|(a, _)| *a == name) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    arrays.push((name.clone(), 0));
                    0
                }
            };
            format!("{name}[{count}]")
        } else {
            name
        };
        if n + 1 == line_no {
            return Some(table).filter(|t| !t.is_empty());
        }
    }
    // A line without `=` (inside a multi-line array, say) names no key of its own.
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    let key = match line.split_once('=') {
        Some((key, _)) if !line.starts_with('#') => key,
        _ => "",
    };
    let key = key.split('.').map(str::trim).collect::<Vec<_>>().join(".");
    if key.is_empty() {
        return Some(table).filter(|t| !t.is_empty());
    }
    Some(join(&table, &key))
}
