//! Text renderings of a trace: one line per event, and a sequence diagram with one column
//! per host like the one in `ecs-protocol.md`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::{Event, Message, Trace, What};
use crate::scenario::ClientTrace;

fn secs(at: Duration) -> String {
    format!("{:>9.3}s", at.as_secs_f64())
}

/// One event as one line.
pub fn line(e: &Event) -> String {
    match &e.what {
        What::Send { from, to, msg } => {
            format!("{} {from:>4} -> {to:<4} {}", secs(e.at), msg.summary())
        }
        What::Recv { host, from, msg } => {
            format!("{} {host:>4} <- {from:<4} {}", secs(e.at), msg.summary())
        }
        What::Fault(text) => format!("{} ** {text}", secs(e.at)),
    }
}

/// The trace one line per event. With [`ClientTrace::Summary`], client-protocol events
/// are folded into one line per simulated second with counts.
pub fn lines(trace: &Trace, clients: ClientTrace) -> String {
    let mut out = String::new();
    let mut second: Option<u64> = None;
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let flush = |out: &mut String, second: Option<u64>, counts: &mut BTreeMap<String, u32>| {
        if let Some(s) = second {
            if !counts.is_empty() {
                let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
                let _ = writeln!(
                    out,
                    "{:>9}s .. {}s client traffic: {}",
                    s,
                    s + 1,
                    parts.join(", ")
                );
            }
        }
        counts.clear();
    };
    for e in &trace.events {
        if clients == ClientTrace::Summary {
            // Counts cover whole simulated seconds and print after that second's events.
            let s = e.at.as_secs();
            if second != Some(s) {
                flush(&mut out, second, &mut counts);
                second = Some(s);
            }
            match &e.what {
                What::Send { msg, .. } if msg.is_client() => {
                    *counts.entry(kind_of(msg)).or_default() += 1;
                    continue;
                }
                What::Recv { msg, .. } if msg.is_client() => continue,
                _ => {}
            }
        }
        out.push_str(&line(e));
        out.push('\n');
    }
    flush(&mut out, second, &mut counts);
    out
}

/// A short class of a client packet for summaries: `C`, `c`, `e retry`, `e`, `l`, ...
fn kind_of(msg: &Message) -> String {
    match msg {
        Message::Client(p) => match p {
            protocol::client::Packet::ErrorResponse(m) if protocol::client::is_retryable(m) => {
                "e(retry)".into()
            }
            protocol::client::Packet::NotLeader(-1) => "l(-1)".into(),
            other => (other.marker() as char).to_string(),
        },
        _ => "other".into(),
    }
}

const COLUMN: usize = 10;

/// A sequence diagram of the ECS-protocol messages (sends) and faults: one column per
/// host, an arrow per message, its text to the right.
pub fn diagram(trace: &Trace, hosts: &[String]) -> String {
    let col = |h: &str| hosts.iter().position(|x| x == h);
    let width = hosts.len() * COLUMN;
    let mut out = String::new();
    let mut header = format!("{:>10} ", "time");
    for h in hosts {
        let _ = write!(header, "{:^w$}", h, w = COLUMN);
    }
    out.push_str(header.trim_end());
    out.push('\n');
    let idle = || {
        let mut row = vec![b' '; width];
        for i in 0..hosts.len() {
            row[i * COLUMN + COLUMN / 2] = b'|';
        }
        row
    };
    for e in &trace.events {
        let (row, label) = match &e.what {
            What::Send { from, to, msg } if !msg.is_client() => {
                let (Some(a), Some(b)) = (col(from), col(to)) else {
                    continue;
                };
                let mut row = idle();
                let (xa, xb) = (a * COLUMN + COLUMN / 2, b * COLUMN + COLUMN / 2);
                let (lo, hi) = (xa.min(xb), xa.max(xb));
                for c in row.iter_mut().take(hi).skip(lo + 1) {
                    *c = b'-';
                }
                if xb > xa {
                    row[hi - 1] = b'>';
                } else {
                    row[lo + 1] = b'<';
                }
                (row, truncate(&msg.summary(), 72))
            }
            What::Fault(text) => {
                let mut row = idle();
                for c in row.iter_mut() {
                    if *c == b' ' {
                        *c = b'~';
                    }
                }
                (row, format!("** {text}"))
            }
            _ => continue,
        };
        let row = String::from_utf8(row).unwrap_or_default();
        let _ = writeln!(out, "{} {row} {label}", secs(e.at));
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 3).collect();
        t.push_str("...");
        t
    }
}

/// The text recorded in a scenario's snapshot: the run's identity and result, the
/// sequence diagram, then every event.
pub fn snapshot(report: &crate::runner::RunReport, clients: ClientTrace) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", report.scenario);
    let _ = writeln!(out, "seed: {}", report.seed);
    let _ = writeln!(out, "trace hash: {:016x}", report.trace.hash());
    if report.passed() {
        let _ = writeln!(out, "result: passed");
    } else {
        for f in &report.failures {
            let _ = writeln!(out, "FAILED {f}");
        }
    }
    let _ = writeln!(out, "\n--- sequence diagram (ECS protocol and faults) ---");
    out.push_str(&diagram(&report.trace, &report.hosts));
    let _ = writeln!(out, "\n--- events ---");
    out.push_str(&lines(&report.trace, clients));
    out
}
