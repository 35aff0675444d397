//! Where things are in the file: from a field path to a line, and from a byte span to a
//! field path.
//!
//! Works on the document parsed a second time as a spanned table (`toml::de::DeTable`),
//! so validation, which sees only the typed [`crate::scenario::Scenario`], can still point
//! at a line. Paths are dotted keys with 0-based array indexes: `timeline[2].a[0]`.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The 1-based line holding byte `offset` of `text` (the last line if past the end).
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// `timeline[2].a` with `[0]` as `timeline[2].a[0]`; `.` only between keys.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A node of the document a span points at.
pub(super) struct Found {
    /// Its path (empty for the whole document).
    pub path: String,
    /// Whether it is a table (so an error on it may be about one of its fields).
    pub is_table: bool,
    /// Its line.
    pub line: usize,
}

/// The spanned document and its text.
pub(super) struct Spans<'a> {
    text: &'a str,
    root: &'a Spanned<DeTable<'a>>,
}

enum Segment<'p> {
    Key(&'p str),
    Index(usize),
}

/// Splits `timeline[2].a[0]` into keys and indexes; `None` if malformed.
fn segments(path: &str) -> Option<Vec<Segment<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        out.push(Segment::Key(key));
        while let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']')?;
            out.push(Segment::Index(inner[..close].parse().ok()?));
            rest = &inner[close + 1..];
        }
    }
    Some(out)
}

impl<'a> Spans<'a> {
    /// Wraps a document parsed from `text`.
    pub(super) fn new(text: &'a str, root: &'a Spanned<DeTable<'a>>) -> Self {
        Spans { text, root }
    }

    /// The line of the field at `path`, or of its nearest ancestor written in the file
    /// (a field left at its default has no line of its own); `None` if no part is written.
    pub(super) fn line_of(&self, path: &str) -> Option<usize> {
        let mut value: Option<&DeValue> = None;
        let mut offset = None;
        for segment in segments(path)? {
            let next = match (segment, value) {
                (Segment::Key(key), None) => find(self.root.get_ref(), key),
                (Segment::Key(key), Some(DeValue::Table(table))) => find(table, key),
                (Segment::Index(i), Some(DeValue::Array(items))) => {
                    items.get(i).map(|item| (item.span().start, item))
                }
                _ => None,
            };
            let Some((start, next)) = next else { break };
            offset = Some(start);
            value = Some(next.get_ref());
        }
        offset.map(|o| line_at(self.text, o))
    }

    /// The node an error span points at: a key or value with exactly that span, else the
    /// smallest non-table value containing it; the whole document for an empty span at 0.
    pub(super) fn locate(&self, span: Range<usize>) -> Option<Found> {
        let mut best: Option<(usize, Found)> = None;
        self.visit_table(self.root.get_ref(), "", &span, &mut best);
        if best.is_none() && span == (0..0) {
            return Some(Found {
                path: String::new(),
                is_table: true,
                line: 1,
            });
        }
        best.map(|(_, found)| found)
    }

    fn visit_table(
        &self,
        table: &DeTable,
        path: &str,
        span: &Range<usize>,
        best: &mut Option<(usize, Found)>,
    ) {
        for (key, value) in table.iter() {
            let path = join(path, key.get_ref());
            if key.span() == *span {
                self.offer(best, 0, &path, false, key.span().start);
            }
            self.visit_value(value, path, span, best);
        }
    }

    fn visit_value(
        &self,
        value: &Spanned<DeValue>,
        path: String,
        span: &Range<usize>,
        best: &mut Option<(usize, Found)>,
    ) {
        let here = value.span();
        let is_table = value.get_ref().is_table();
        if here == *span {
            self.offer(best, 0, &path, is_table, here.start);
        } else if !is_table && here.start <= span.start && span.end <= here.end {
            self.offer(best, here.len(), &path, false, here.start);
        }
        match value.get_ref() {
            DeValue::Table(t) => self.visit_table(t, &path, span, best),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.visit_value(item, format!("{path}[{i}]"), span, best);
                }
            }
            _ => {}
        }
    }

    /// Keeps the candidate with the smallest size; on a tie the later (deeper) one.
    fn offer(
        &self,
        best: &mut Option<(usize, Found)>,
        size: usize,
        path: &str,
        is_table: bool,
        start: usize,
    ) {
        if best.as_ref().is_none_or(|(s, _)| size <= *s) {
            let line = line_at(self.text, start);
            let path = path.to_owned();
            *best = Some((
                size,
                Found {
                    path,
                    is_table,
                    line,
                },
            ));
        }
    }
}

/// The key's offset and the value of `key` in `table`.
fn find<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<(usize, &'t Spanned<DeValue<'i>>)> {
    table
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .map(|(k, v)| (k.span().start, v))
}
