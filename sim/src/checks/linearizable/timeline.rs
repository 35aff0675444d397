//! An ASCII timeline of a (sub-)history: one row per process, time left to right, each
//! operation a bar from its invocation to its completion, and a legend with every
//! operation in full.
//!
//! Columns follow the order of event times, not their magnitudes: each distinct
//! invocation or completion time gets its own column position, spread evenly over the
//! width. What decides linearizability is which operation ended before which began, and
//! a proportional scale would squash a 1 µs gap next to a 10 s one into the same column;
//! here equal times share a column and a later time is always further right.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

use super::{KeyOp, FINAL_READ_PROCESS};
use crate::workload::{Op, Outcome, OutcomeKind};

/// Columns the bars span.
const WIDTH: usize = 100;

/// How many characters of a value to show: harness values look like
/// `c1-v17-abcdefgh`, and the client and write number come first.
const VALUE_CHARS: usize = 12;

/// A value, shortened when long.
pub(super) fn short(v: &Bytes) -> String {
    cut(v, VALUE_CHARS)
}

/// A value as text (hex if it is not printable ASCII), cut to `chars` characters.
fn cut(v: &Bytes, chars: usize) -> String {
    match std::str::from_utf8(v) {
        Ok(s) if s.chars().all(|c| c.is_ascii_graphic()) => {
            if s.len() > chars {
                // `c1-v17-abc` cut after the dash reads better without it.
                format!("{}..", s[..chars].trim_end_matches('-'))
            } else {
                s.to_string()
            }
        }
        _ => {
            let hex: String = v
                .iter()
                .take(chars / 2)
                .map(|b| format!("{b:02x}"))
                .collect();
            if v.len() > chars / 2 {
                format!("0x{hex}..")
            } else {
                format!("0x{hex}")
            }
        }
    }
}

/// A register state: a value or `absent`.
pub(super) fn state(v: Option<&Bytes>) -> String {
    state_cut(v, VALUE_CHARS)
}

fn state_cut(v: Option<&Bytes>, chars: usize) -> String {
    v.map_or_else(|| "absent".to_string(), |v| cut(v, chars))
}

/// An operation with its arguments.
pub(super) fn op_text(op: &Op) -> String {
    op_cut(op, VALUE_CHARS)
}

fn op_cut(op: &Op, chars: usize) -> String {
    match op {
        Op::Get => "get".to_string(),
        Op::Put(v) => format!("put {}", cut(v, chars)),
        Op::Delete => "delete".to_string(),
        Op::Cas { expected, new } => format!(
            "cas {}->{}",
            state_cut(expected.as_ref(), chars),
            cut(new, chars)
        ),
    }
}

/// An answer.
pub(super) fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Value(v) => format!("-> {}", state(v.as_ref())),
        Outcome::Stored => "stored".to_string(),
        Outcome::Deleted(true) => "existed".to_string(),
        Outcome::Deleted(false) => "was absent".to_string(),
        Outcome::Cas {
            swapped: true,
            current,
        } => format!("swapped, now {}", state(current.as_ref())),
        Outcome::Cas {
            swapped: false,
            current,
        } => format!("not swapped, current {}", state(current.as_ref())),
        Outcome::Failed(why) => format!("failed ({})", clip(why, 40)),
        Outcome::Unknown(why) => format!("unknown ({})", clip(why, 40)),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}..", s.chars().take(n).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A process's name.
pub(super) fn process(p: u32) -> String {
    if p == FINAL_READ_PROCESS {
        "final".to_string()
    } else {
        format!("p{p}")
    }
}

/// A time in milliseconds (to the microsecond).
pub(super) fn millis(d: Duration) -> String {
    format!("{:.3}ms", d.as_secs_f64() * 1e3)
}

/// One operation to draw; `note` says how the checker treated it when that differs from
/// its outcome.
pub(super) struct Bar<'a> {
    pub op: &'a KeyOp,
    pub note: Option<&'static str>,
}

/// Draws `ops` (any order) as a timeline with a legend.
pub fn render_timeline(ops: &[KeyOp]) -> String {
    let bars: Vec<Bar> = ops.iter().map(|op| Bar { op, note: None }).collect();
    render(&bars)
}

/// Draws `bars` as a timeline with a legend.
pub(super) fn render(bars: &[Bar]) -> String {
    let mut bars: Vec<&Bar> = bars.iter().collect();
    // Columns follow the event order (positions), which simulated times may not: within
    // one tick a host's clock can lead another's.
    bars.sort_by_key(|b| {
        (
            b.op.invoke_seq,
            b.op.complete_seq,
            b.op.process,
            b.op.source,
        )
    });
    let end = |b: &Bar| b.op.complete_seq.max(b.op.invoke_seq);
    let mut times: Vec<u64> = bars
        .iter()
        .flat_map(|b| [b.op.invoke_seq, end(b)])
        .collect();
    times.sort_unstable();
    times.dedup();
    let col = |t: u64| {
        let rank = times.binary_search(&t).unwrap_or(0);
        rank * (WIDTH - 1) / (times.len() - 1).max(1)
    };

    // Lanes per process: a process runs one operation at a time, but bars that end and
    // begin in one column (more distinct times than columns) go on a lane of their own.
    let mut rows: BTreeMap<u32, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
    for (n, b) in bars.iter().enumerate() {
        let (a, z) = (col(b.op.invoke_seq), col(end(b)));
        let lanes = rows.entry(b.op.process).or_default();
        let lane = match lanes.iter().position(|(last, _)| *last < a) {
            Some(l) => l,
            None => {
                lanes.push((0, vec![b' '; WIDTH]));
                lanes.len() - 1
            }
        };
        let (last, line) = &mut lanes[lane];
        *last = z;
        draw(line, a, z, b, n + 1);
    }

    let names: Vec<String> = rows.keys().map(|&p| process(p)).collect();
    let pad = names.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(out, "{:pad$}  time ->", "");
    for ((_, lanes), name) in rows.iter().zip(&names) {
        for (_, line) in lanes {
            let line = String::from_utf8_lossy(line);
            let _ = writeln!(out, "{name:pad$}  {}", line.trim_end());
        }
    }
    let _ = writeln!(
        out,
        "{:pad$}  (columns order the events; equal times share one, spacing is not to scale; \
         `?`: no answer)",
        ""
    );

    let rows: Vec<[String; 7]> = bars
        .iter()
        .enumerate()
        .map(|(n, b)| {
            let mut result = outcome_text(&b.op.outcome);
            if let Some(note) = b.note {
                result = format!("{result} [{note}]");
            }
            [
                format!("{}", n + 1),
                process(b.op.process),
                op_text(&b.op.op),
                result,
                b.op.outcome.kind().name().to_string(),
                millis(b.op.invoked),
                millis(b.op.completed),
            ]
        })
        .collect();
    let header = [
        "#",
        "process",
        "operation",
        "result",
        "kind",
        "invoked",
        "completed",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    for r in std::iter::once(header.map(String::from)).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            // Numbers and times right-aligned, text left-aligned.
            if matches!(i, 0 | 5 | 6) {
                let _ = write!(line, "{cell:>w$}  ");
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        let _ = writeln!(out, "  {}", line.trim_end());
    }
    out
}

/// Draws one bar `|-- n label --|` over columns `a..=z` (`?` closes an unanswered one).
fn draw(line: &mut [u8], a: usize, z: usize, b: &Bar, n: usize) {
    let close = if b.op.outcome.kind() == OutcomeKind::Info {
        b'?'
    } else {
        b'|'
    };
    line[a] = b'|';
    if z == a {
        return;
    }
    for c in &mut line[a + 1..z] {
        *c = b'-';
    }
    line[z] = close;
    let inner = z - a - 1;
    // The most telling label that leaves a dash on each side: values cut shorter as
    // space runs out, then the bare number (the legend has the rest).
    let mut labels = Vec::new();
    for chars in [VALUE_CHARS, 6] {
        let op = op_cut(&b.op.op, chars);
        let result = match &b.op.outcome {
            Outcome::Value(v) => format!("-> {}", state_cut(v.as_ref(), chars)),
            o => o.kind().name().to_string(),
        };
        labels.push(format!("{n} {op} {result}"));
    }
    for chars in [VALUE_CHARS, 6] {
        labels.push(format!("{n} {}", op_cut(&b.op.op, chars)));
    }
    let number = n.to_string();
    let label = labels
        .into_iter()
        .find(|l| l.len() + 2 <= inner)
        .or_else(|| (number.len() <= inner).then_some(number));
    if let Some(label) = label {
        let start = a + 1 + (inner - label.len()) / 2;
        line[start..start + label.len()].copy_from_slice(label.as_bytes());
    }
}
