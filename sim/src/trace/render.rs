//! Text renderings of a trace: one line per event, and a sequence diagram with one column
//! per host like the one in `ecs-protocol.md`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::{Event, Message, Trace, What};
use crate::scenario::{ClientTrace, PeerTrace, TraceOptions};

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

/// Counts of one kind of traffic within one simulated second.
type Counts = BTreeMap<(u8, String), u32>;

fn flush(out: &mut String, second: u64, what: &str, counts: &mut Counts) {
    if !counts.is_empty() {
        let parts: Vec<String> = counts
            .iter()
            .map(|((_, k), n)| format!("{n} {k}"))
            .collect();
        let _ = writeln!(
            out,
            "{:>9}s .. {}s {what} traffic: {}",
            second,
            second + 1,
            parts.join(", ")
        );
    }
    counts.clear();
}

/// The trace one line per event. Client-protocol events with [`ClientTrace::Summary`], and
/// peer-protocol events with [`PeerTrace::Summary`], are folded into one line per simulated
/// second with counts of what was sent.
pub fn lines(trace: &Trace, options: TraceOptions) -> String {
    let fold_clients = options.clients == ClientTrace::Summary;
    let fold_peers = options.peers == PeerTrace::Summary;
    let mut out = String::new();
    let mut second: Option<u64> = None;
    let mut clients = Counts::new();
    let mut peers = Counts::new();
    for e in &trace.events {
        // Counts cover whole simulated seconds and print after that second's events.
        let s = e.at.as_secs();
        if second != Some(s) {
            if let Some(done) = second {
                flush(&mut out, done, "client", &mut clients);
                flush(&mut out, done, "peer", &mut peers);
            }
            second = Some(s);
        }
        let (sent, msg) = match &e.what {
            What::Send { msg, .. } => (true, Some(msg)),
            What::Recv { msg, .. } => (false, Some(msg)),
            What::Fault(_) => (false, None),
        };
        if let Some(msg) = msg {
            let counts = if fold_clients && msg.is_client() {
                Some(&mut clients)
            } else if fold_peers && msg.is_peer() {
                Some(&mut peers)
            } else {
                None
            };
            if let Some(counts) = counts {
                if sent {
                    *counts.entry(kind_of(msg)).or_default() += 1;
                }
                continue;
            }
        }
        out.push_str(&line(e));
        out.push('\n');
    }
    if let Some(done) = second {
        flush(&mut out, done, "client", &mut clients);
        flush(&mut out, done, "peer", &mut peers);
    }
    out
}

/// A short class of a packet for summaries, with a rank that orders the classes: `C`,
/// `c`, `e(retry)`, `l(-1)`, ... for clients (by name); `A`, `a`, `V`, `v`, `V(pre)`,
/// `v(pre)`, `S`, `s`, `C`, `c` for peers (replication first, then elections).
fn kind_of(msg: &Message) -> (u8, String) {
    use protocol::peer::PeerMessage as P;
    match msg {
        Message::Client(p) => match p {
            protocol::client::Packet::ErrorResponse(m) if protocol::client::is_retryable(m) => {
                (0, "e(retry)".into())
            }
            protocol::client::Packet::NotLeader(-1) => (0, "l(-1)".into()),
            other => (0, (other.marker() as char).to_string()),
        },
        Message::Peer(m) => {
            let rank = match m {
                P::AppendEntries(_) => 0,
                P::AppendEntriesReply(_) => 1,
                P::RequestVote(v) => 2 + 2 * u8::from(v.pre_vote),
                P::RequestVoteReply(v) => 3 + 2 * u8::from(v.pre_vote),
                P::InstallSnapshot(_) => 6,
                P::InstallSnapshotReply(_) => 7,
                P::Hello(_) => 8,
                P::HelloReply(_) => 9,
                P::HelloProof(_) => 10,
            };
            let pre = match m {
                P::RequestVote(v) if v.pre_vote => "(pre)",
                P::RequestVoteReply(v) if v.pre_vote => "(pre)",
                _ => "",
            };
            (rank, format!("{}{pre}", m.marker() as char))
        }
        _ => (0, "other".into()),
    }
}

/// Whether a send appears in the sequence diagram: ECS-protocol messages, and of the peer
/// traffic only what shows leadership changing: every real (not pre-) `RequestVote`, and
/// the first frame each member sends as the leader of a term (marked `(new leader)`).
fn in_diagram(msg: &Message, first_as_leader: bool) -> bool {
    match msg {
        Message::Client(_) => false,
        Message::Peer(protocol::peer::PeerMessage::RequestVote(v)) => !v.pre_vote,
        Message::Peer(_) => first_as_leader,
        _ => true,
    }
}

const COLUMN: usize = 10;

/// A sequence diagram of the ECS-protocol messages (sends), elections and faults: one
/// column per host, an arrow per message, its text to the right. Of the peer traffic it
/// shows each `RequestVote` (not the pre-votes) and the first frame a member sends as the
/// leader of a term; client traffic is left out.
pub fn diagram(trace: &Trace, hosts: &[String]) -> String {
    let firsts = super::leaders::first_of_each_term(trace);
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
    for (i, e) in trace.events.iter().enumerate() {
        let (row, label) = match &e.what {
            What::Send { from, to, msg } if in_diagram(msg, firsts.contains(&i)) => {
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
                let mut label = msg.summary();
                if msg.is_peer() && firsts.contains(&i) {
                    label.push_str(" (new leader)");
                }
                (row, truncate(&label, 72))
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
pub fn snapshot(report: &crate::runner::RunReport, options: TraceOptions) -> String {
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
    let _ = writeln!(
        out,
        "\n--- sequence diagram (ECS protocol, elections and faults) ---"
    );
    out.push_str(&diagram(&report.trace, &report.hosts));
    let _ = writeln!(out, "\n--- events ---");
    out.push_str(&lines(&report.trace, options));
    out
}
