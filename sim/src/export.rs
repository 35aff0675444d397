//! A run's client history written for people and outside checkers: JSON lines (one
//! record per operation, read back by [`read_json_lines`]) and EDN in the shape Jepsen's
//! Knossos and Elle read (an `:invoke` event and its completion per operation).
//!
//! The verifier's final reads are part of the exported history, as reads of a process of
//! their own (client 0, the process after every workload lane), so an outside checker
//! judges the same operations the harness does. docs/histories.md documents both formats.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use protocol::client::SessionTag;
use serde::{Deserialize, Serialize};

use crate::workload::{History, Op, Outcome, OutcomeKind, Record};

/// The format of an exported history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFormat {
    /// One JSON object per operation, per line.
    Json,
    /// Jepsen-style EDN: an invocation and a completion map per operation, in time order.
    Edn,
}

impl HistoryFormat {
    /// The file extension for this format.
    pub fn extension(self) -> &'static str {
        match self {
            HistoryFormat::Json => "jsonl",
            HistoryFormat::Edn => "edn",
        }
    }

    /// The history in this format.
    pub fn render(self, history: &History) -> String {
        match self {
            HistoryFormat::Json => to_json_lines(history),
            HistoryFormat::Edn => to_edn(history),
        }
    }
}

/// Every operation of `history`, the verifier's final reads included, in completion
/// order.
pub fn operations(history: &History) -> Vec<Record> {
    let verifier = history
        .records
        .iter()
        .map(|r| r.process + 1)
        .max()
        .unwrap_or(0);
    let mut ops = history.records.clone();
    for (key, read) in &history.final_reads {
        let outcome = match &read.result {
            Ok(v) => Outcome::Value(v.clone()),
            Err(e) => Outcome::Failed(e.clone()),
        };
        ops.push(Record {
            client: 0,
            process: verifier,
            key: key.clone(),
            op: Op::Get,
            session: None,
            invoked: read.invoked,
            completed: read.completed,
            invoke_seq: read.invoke_seq,
            complete_seq: read.complete_seq,
            outcome,
        });
    }
    ops.sort_by_key(|r| r.complete_seq);
    ops
}

/// A value as JSON: a string when it is UTF-8 (every value the workload writes is), else
/// `{"hex": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JsonValue {
    /// UTF-8 text.
    Text(String),
    /// Other bytes, hex-encoded.
    Hex {
        /// Lower-case hex digits, two per byte.
        hex: String,
    },
}

impl JsonValue {
    fn from_bytes(b: &Bytes) -> Self {
        match std::str::from_utf8(b) {
            Ok(s) => JsonValue::Text(s.to_string()),
            Err(_) => JsonValue::Hex {
                hex: b.iter().map(|x| format!("{x:02x}")).collect(),
            },
        }
    }

    fn to_bytes(&self) -> Result<Bytes, String> {
        match self {
            JsonValue::Text(s) => Ok(Bytes::copy_from_slice(s.as_bytes())),
            JsonValue::Hex { hex } => {
                let digits = hex.as_bytes();
                if digits.len() % 2 != 0 {
                    return Err(format!("odd number of hex digits in {hex:?}"));
                }
                digits
                    .chunks(2)
                    .map(|pair| {
                        let s = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
                        u8::from_str_radix(s, 16).map_err(|e| format!("bad hex {s:?}: {e}"))
                    })
                    .collect::<Result<Vec<u8>, String>>()
                    .map(Bytes::from)
            }
        }
    }
}

fn opt_value(v: &Option<Bytes>) -> Option<JsonValue> {
    v.as_ref().map(JsonValue::from_bytes)
}

fn opt_bytes(v: &Option<JsonValue>) -> Result<Option<Bytes>, String> {
    v.as_ref().map(JsonValue::to_bytes).transpose()
}

/// A session tag in JSON: the client id as 16 hex digits (it is a random 64-bit number,
/// which JSON readers that use doubles would round).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSession {
    /// The client id, hex.
    pub client_id: String,
    /// The command's sequence number.
    pub sequence: u64,
}

/// One line of the JSON-lines history. See docs/histories.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRecord {
    /// Position in the file, from 0.
    pub index: usize,
    /// Jepsen process: one per client lane (the verifier has the last).
    pub process: u32,
    /// Client host number, from 1; 0 is the verifier.
    pub client: u32,
    /// The key, as text.
    pub key: String,
    /// `get`, `put`, `delete` or `cas`.
    pub f: String,
    /// `put`: the value written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<JsonValue>,
    /// `cas`: the value expected (`null`: absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub expected: Option<Option<JsonValue>>,
    /// `cas`: the value to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<JsonValue>,
    /// The session tag a write carried; absent for reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<JsonSession>,
    /// Simulated nanoseconds when the client sent it.
    pub invoke_ns: u64,
    /// Simulated nanoseconds when the client got the answer or gave up.
    pub complete_ns: u64,
    /// Position of the invocation among all invocations and completions of the run: many
    /// events share a simulated tick, and this orders them as they happened.
    pub invoke_seq: u64,
    /// Position of the completion among all invocations and completions of the run.
    pub complete_seq: u64,
    /// `ok`, `fail` or `info`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `ok` answers: what the store said (see docs/histories.md); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JsonResult>,
    /// `fail` and `info`: why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of an `ok` operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum JsonResult {
    /// A get: the value read, `null` when absent.
    Read(Option<JsonValue>),
    /// A put was stored.
    Stored(bool),
    /// A delete: whether the key existed.
    Existed(bool),
    /// A compare-and-set: whether it wrote, and the key's value after it.
    Cas {
        /// Whether it wrote.
        swapped: bool,
        /// The value after it (`null`: absent).
        current: Option<JsonValue>,
    },
}

/// A field that is there, `null` included: serde reads a present `null` as an absent
/// field unless told otherwise, and a cas's `"expected": null` means "expects absent".
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl JsonRecord {
    /// The JSON line of `r`, at position `index`.
    pub fn from_record(index: usize, r: &Record) -> Self {
        let (f, value, expected, new) = match &r.op {
            Op::Get => ("get", None, None, None),
            Op::Put(v) => ("put", Some(JsonValue::from_bytes(v)), None, None),
            Op::Delete => ("delete", None, None, None),
            Op::Cas { expected, new } => (
                "cas",
                None,
                Some(opt_value(expected)),
                Some(JsonValue::from_bytes(new)),
            ),
        };
        let (result, error) = match &r.outcome {
            Outcome::Value(v) => (Some(JsonResult::Read(opt_value(v))), None),
            Outcome::Stored => (Some(JsonResult::Stored(true)), None),
            Outcome::Deleted(existed) => (Some(JsonResult::Existed(*existed)), None),
            Outcome::Cas { swapped, current } => (
                Some(JsonResult::Cas {
                    swapped: *swapped,
                    current: opt_value(current),
                }),
                None,
            ),
            Outcome::Failed(e) | Outcome::Unknown(e) => (None, Some(e.clone())),
        };
        JsonRecord {
            index,
            process: r.process,
            client: r.client,
            key: r.key.clone(),
            f: f.to_string(),
            value,
            expected,
            new,
            session: r.session.map(|s| JsonSession {
                client_id: format!("{:016x}", s.client_id),
                sequence: s.sequence,
            }),
            invoke_ns: nanos(r.invoked),
            complete_ns: nanos(r.completed),
            invoke_seq: r.invoke_seq,
            complete_seq: r.complete_seq,
            kind: r.outcome.kind().name().to_string(),
            result,
            error,
        }
    }

    /// The record this line describes.
    pub fn to_record(&self) -> Result<Record, String> {
        let op = match self.f.as_str() {
            "get" => Op::Get,
            "put" => Op::Put(
                self.value
                    .as_ref()
                    .ok_or("a put needs `value`")?
                    .to_bytes()?,
            ),
            "delete" => Op::Delete,
            "cas" => Op::Cas {
                expected: opt_bytes(self.expected.as_ref().ok_or("a cas needs `expected`")?)?,
                new: self.new.as_ref().ok_or("a cas needs `new`")?.to_bytes()?,
            },
            other => return Err(format!("unknown operation `f`: {other:?}")),
        };
        let why = || self.error.clone().unwrap_or_default();
        let outcome = match (self.kind.as_str(), &self.result) {
            ("fail", _) => Outcome::Failed(why()),
            ("info", _) => Outcome::Unknown(why()),
            ("ok", Some(JsonResult::Read(v))) => Outcome::Value(opt_bytes(v)?),
            ("ok", Some(JsonResult::Stored(_))) => Outcome::Stored,
            ("ok", Some(JsonResult::Existed(e))) => Outcome::Deleted(*e),
            ("ok", Some(JsonResult::Cas { swapped, current })) => Outcome::Cas {
                swapped: *swapped,
                current: opt_bytes(current)?,
            },
            ("ok", None) => return Err("an `ok` record needs `result`".into()),
            (other, _) => return Err(format!("unknown `type`: {other:?}")),
        };
        let session = match &self.session {
            None => None,
            Some(s) => Some(SessionTag {
                client_id: u64::from_str_radix(&s.client_id, 16)
                    .map_err(|e| format!("bad session client_id {:?}: {e}", s.client_id))?,
                sequence: s.sequence,
            }),
        };
        Ok(Record {
            client: self.client,
            process: self.process,
            key: self.key.clone(),
            op,
            session,
            invoked: Duration::from_nanos(self.invoke_ns),
            completed: Duration::from_nanos(self.complete_ns),
            invoke_seq: self.invoke_seq,
            complete_seq: self.complete_seq,
            outcome,
        })
    }
}

/// The history as JSON lines, one [`JsonRecord`] per operation (final reads included).
pub fn to_json_lines(history: &History) -> String {
    let mut out = String::new();
    for (i, r) in operations(history).iter().enumerate() {
        let line = serde_json::to_string(&JsonRecord::from_record(i, r))
            .expect("a history record always serialises");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Reads JSON lines written by [`to_json_lines`] back into records; an error names the
/// line (from 1).
pub fn read_json_lines(text: &str) -> Result<Vec<Record>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<JsonRecord>(line)
                .map_err(|e| e.to_string())
                .and_then(|j| j.to_record())
                .map_err(|e| format!("line {}: {e}", i + 1))
        })
        .collect()
}

/// An EDN string literal.
fn edn_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn edn_value(v: &Option<Bytes>) -> String {
    match v {
        None => "nil".to_string(),
        Some(b) => edn_str(&String::from_utf8_lossy(b)),
    }
}

/// The history in Jepsen's shape: per operation an `:invoke` map and an `:ok`, `:fail` or
/// `:info` map, all in the order they happened (`invoke_seq`, `complete_seq`).
///
/// Operations map onto Knossos's `cas-register` model: get is `:read`, put is `:write`,
/// delete is `:write nil`, compare-and-set is `:cas [expected new]` (`:ok` when it
/// swapped, `:fail` when it did not, as Knossos expects). `:key` names the register, so
/// `(group-by :key history)` gives one register history per key; `:ringkv/f` keeps the
/// store's own operation name.
pub fn to_edn(history: &History) -> String {
    // (event position, line)
    let mut events: Vec<(u64, String)> = Vec::new();
    for r in &operations(history) {
        let (f, own, invoke_value) = match &r.op {
            Op::Get => (":read", ":get", "nil".to_string()),
            Op::Put(v) => (":write", ":put", edn_value(&Some(v.clone()))),
            Op::Delete => (":write", ":delete", "nil".to_string()),
            Op::Cas { expected, new } => (
                ":cas",
                ":cas",
                format!(
                    "[{} {}]",
                    edn_value(expected),
                    edn_value(&Some(new.clone()))
                ),
            ),
        };
        let common = |kind: &str, value: &str, time: Duration| {
            format!(
                "{{:process {}, :type {kind}, :f {f}, :key {}, :value {value}, :time {}, :ringkv/f {own}",
                r.process,
                edn_str(&r.key),
                nanos(time)
            )
        };
        events.push((
            r.invoke_seq,
            format!("{}}}", common(":invoke", &invoke_value, r.invoked)),
        ));
        let completion = match (&r.outcome, r.outcome.kind()) {
            (Outcome::Value(v), _) => common(":ok", &edn_value(v), r.completed),
            (Outcome::Cas { swapped, current }, _) => format!(
                "{}, :current {}",
                common(
                    if *swapped { ":ok" } else { ":fail" },
                    &invoke_value,
                    r.completed
                ),
                edn_value(current)
            ),
            (Outcome::Deleted(existed), _) => format!(
                "{}, :existed {existed}",
                common(":ok", &invoke_value, r.completed)
            ),
            (Outcome::Stored, _) => common(":ok", &invoke_value, r.completed),
            (Outcome::Failed(e), _) | (Outcome::Unknown(e), _) => {
                let kind = if r.outcome.kind() == OutcomeKind::Fail {
                    ":fail"
                } else {
                    ":info"
                };
                format!(
                    "{}, :error {}",
                    common(kind, &invoke_value, r.completed),
                    edn_str(e)
                )
            }
        };
        events.push((r.complete_seq, format!("{completion}}}")));
    }
    events.sort_by_key(|(position, _)| *position);
    let mut out = String::new();
    for (index, (_, line)) in events.iter().enumerate() {
        // `:index` goes first so a reader sees the position before the rest.
        let _ = writeln!(out, "{{:index {index}, {}", &line[1..]);
    }
    out
}
