//! Everything the page draws, derived from a finished run and serialised as JSON into
//! the page.
//!
//! Times are whole microseconds of simulated time. The long lists (messages, operations)
//! are arrays of numbers rather than objects, and message lines are interned, so a busy
//! run stays a few megabytes; the page's script documents each array's layout where it
//! reads it (`report.js`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

use super::faults::{self, Mark, Span};
use super::joins::{self, group_of, Join, Lock};
use crate::checks::linearizable::{self, Config};
use crate::runner::RunReport;
use crate::scenario::Scenario;
use crate::trace::{short, short_opt, Message, What};
use crate::workload::{Op, Outcome, OutcomeKind};

/// A send still waiting for its receive longer than this is taken as lost once a later
/// identical line has been sent (an idle group's heartbeats repeat word for word).
const LOST_AFTER: Duration = Duration::from_secs(1);

/// Microseconds, the page's unit of time.
fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A message: `[sent, received or -1, from lane, to lane, protocol, line]` (see
/// [`Data::msgs`]).
pub type MsgRow = (u64, i64, u32, u32, u8, u32);

/// An operation: `[key, process, client, invoked, completed, outcome, text]` (see
/// [`Data::ops`]).
pub type OpRow = (u32, u32, u32, u64, u64, u8, String);

/// What the page needs to reproduce the run and say where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// The scenario's name.
    pub scenario: String,
    /// Its description.
    pub description: String,
    /// The seed.
    pub seed: u64,
    /// The trace hash, 16 hex digits.
    pub hash: String,
    /// The command that replays the run.
    pub replay: String,
    /// The scenario as TOML, pinned to this seed.
    pub toml: String,
    /// Simulated time the run covered, in microseconds.
    pub end: u64,
    /// When the workload stopped and the final reads began, in microseconds.
    pub workload_end: u64,
    /// Trace events.
    pub events: usize,
    /// Whether every check passed.
    pub passed: bool,
}

/// One host lane.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// Its name.
    pub name: String,
    /// `ecs`, `node` or `client`.
    pub kind: &'static str,
    /// A node's group (from 1); 0 for others.
    pub group: u64,
}

/// A violated check.
#[derive(Debug, Clone, Serialize)]
pub struct FailureData {
    /// The check's name.
    pub check: String,
    /// What went wrong.
    pub detail: String,
}

/// A linearizability violation, pointing at its operations.
#[derive(Debug, Clone, Serialize)]
pub struct ViolationData {
    /// The key.
    pub key: String,
    /// Indexes into `ops` of the minimal failing sub-history.
    pub ops: Vec<usize>,
    /// The checker's explanation.
    pub explanation: String,
    /// Its ASCII timeline of the sub-history.
    pub timeline: String,
}

/// The page's data.
#[derive(Debug, Clone, Serialize)]
pub struct Data {
    /// Where the run came from.
    pub meta: Meta,
    /// Host lanes: the ECS, nodes in join order, clients, then `verify` (the final reads).
    pub hosts: Vec<Host>,
    /// Interned message lines (see `msgs`).
    pub lines: Vec<String>,
    /// Messages in send order: `[sent, received or -1, from, to, protocol, line]`, times in
    /// µs, hosts as lane indexes, protocol 0 client / 1 ECS / 2 peer / 3 undecodable,
    /// line an index into `lines`.
    pub msgs: Vec<MsgRow>,
    /// Down, absent, cut and held spans on host lanes.
    pub spans: Vec<(u32, &'static str, u64, u64, String)>,
    /// Fault lines: `[at, lane or -1, text]`.
    pub marks: Vec<(u64, i64, String)>,
    /// Leadership: `[group, lane, term, first frame as leader, last frame as leader]`.
    pub leaders: Vec<(u64, u32, u64, u64, u64)>,
    /// The joins.
    pub joins: Vec<JoinData>,
    /// Write locks: `[group, lane, join or -1, from, to, released]`.
    pub locks: Vec<(u64, u32, i64, u64, u64, bool)>,
    /// Keys, sorted.
    pub keys: Vec<String>,
    /// Operations, history records first (by record index) then the final reads:
    /// `[key, process, client, invoked, completed, outcome, text]`, outcome 0 ok / 1 fail /
    /// 2 unknown, client 0 for the final reads.
    pub ops: Vec<OpRow>,
    /// The violated checks.
    pub failures: Vec<FailureData>,
    /// Linearizability violations with their operations.
    pub violations: Vec<ViolationData>,
    /// Keys the linearizability search left undecided.
    pub undecided: Vec<String>,
}

/// A join for the page: its steps as `[name, from, to, lines, lane]`.
#[derive(Debug, Clone, Serialize)]
pub struct JoinData {
    /// The join number.
    pub join: u64,
    /// The newcomer's lane.
    pub newcomer: i64,
    /// The steps.
    pub steps: Vec<(String, u64, u64, u32, i64)>,
}

/// Builds the page's data from a finished run of `scenario` with `replay` as the
/// command that reproduces it.
pub fn build(report: &RunReport, scenario: &Scenario, replay: &str) -> Data {
    let mut hosts: Vec<Host> = report
        .hosts
        .iter()
        .map(|h| Host {
            name: h.clone(),
            kind: if h == "ecs" { "ecs" } else { "node" },
            group: group_of(h).unwrap_or(0),
        })
        .collect();
    for i in 1..=scenario.workload.clients {
        hosts.push(Host {
            name: format!("c{i}"),
            kind: "client",
            group: 0,
        });
    }
    for name in ["verify", crate::runner::AUDITOR] {
        hosts.push(Host {
            name: name.to_string(),
            kind: "client",
            group: 0,
        });
    }
    let lane: HashMap<&str, u32> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i as u32))
        .collect();
    let lane_of = |h: &str| lane.get(h).map_or(-1, |&i| i64::from(i));
    // The verifier and the auditor start after the faults: no fault line is about them,
    // and `isolate .. from every other host` cuts the ECS, nodes and clients only.
    let names: Vec<String> = hosts
        .iter()
        .filter(|h| h.name != "verify" && h.name != crate::runner::AUDITOR)
        .map(|h| h.name.clone())
        .collect();
    let end = report.simulated;

    let (msgs, lines) = messages(report, &lane);
    let (spans, marks) = faults::read(&report.trace, &names, end);
    let spans = spans
        .into_iter()
        .filter_map(|s: Span| {
            let kind = match s.kind {
                faults::SpanKind::Absent => "absent",
                faults::SpanKind::Down => "down",
                faults::SpanKind::Cut => "cut",
                faults::SpanKind::Held => "held",
            };
            Some((
                *lane.get(s.host.as_str())?,
                kind,
                us(s.from),
                us(s.to),
                s.text,
            ))
        })
        .collect();
    let marks = marks
        .into_iter()
        .map(|m: Mark| (us(m.at), m.host.as_deref().map_or(-1, lane_of), m.text))
        .collect();

    let joins = joins::joins(&report.trace)
        .into_iter()
        .map(|j: Join| JoinData {
            join: j.join,
            newcomer: lane_of(&j.newcomer),
            steps: j
                .steps
                .into_iter()
                .map(|s| (s.name, us(s.from), us(s.to), s.lines, lane_of(&s.to_host)))
                .collect(),
        })
        .collect();
    let locks = joins::locks(&report.trace, end)
        .into_iter()
        .filter_map(|l: Lock| {
            Some((
                l.group,
                *lane.get(l.host.as_str())?,
                l.join.map_or(-1, |j| j as i64),
                us(l.from),
                us(l.to),
                l.released,
            ))
        })
        .collect();

    let (keys, ops) = operations(report);
    let key_index: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let failures: Vec<FailureData> = report
        .failures
        .iter()
        .map(|f| FailureData {
            check: f.check.to_string(),
            detail: f.detail.clone(),
        })
        .collect();
    let violations = violations(report, scenario, &key_index, &ops);

    let mut pinned = scenario.clone();
    pinned.seeds = vec![report.seed];
    Data {
        meta: Meta {
            scenario: report.scenario.clone(),
            description: scenario.description.clone(),
            seed: report.seed,
            hash: format!("{:016x}", report.trace.hash()),
            replay: replay.to_string(),
            toml: pinned.to_toml(),
            end: us(end),
            workload_end: us(scenario.duration),
            events: report.trace.events.len(),
            passed: report.passed(),
        },
        leaders: leaders(report, &lane),
        hosts,
        lines,
        msgs,
        spans,
        marks,
        joins,
        locks,
        keys,
        ops,
        failures,
        violations,
        undecided: report.undecided.iter().map(|(k, _)| k.clone()).collect(),
    }
}

/// Every message sent, paired with its receipt, and the interned lines.
type Msgs = (Vec<MsgRow>, Vec<String>);

fn messages(report: &RunReport, lane: &HashMap<&str, u32>) -> Msgs {
    let mut lines: Vec<String> = Vec::new();
    let mut interned: HashMap<String, u32> = HashMap::new();
    let mut msgs = Vec::new();
    // (from, to, line) -> sends not yet received, oldest first. TCP keeps a connection's
    // order, so the oldest waiting copy of a line is the one that arrives.
    let mut waiting: HashMap<(u32, u32, u32), VecDeque<usize>> = HashMap::new();
    for e in &report.trace.events {
        let (from, to, msg, sent) = match &e.what {
            What::Send { from, to, msg } => (from, to, msg, true),
            What::Recv { host, from, msg } => (from, host, msg, false),
            What::Fault(_) => continue,
        };
        let (Some(&a), Some(&b)) = (lane.get(&**from), lane.get(&**to)) else {
            continue;
        };
        let summary = msg.summary();
        let line = match interned.get(&summary) {
            Some(&i) => i,
            None => {
                let i = lines.len() as u32;
                interned.insert(summary.clone(), i);
                lines.push(summary);
                i
            }
        };
        let queue = waiting.entry((a, b, line)).or_default();
        if sent {
            queue.push_back(msgs.len());
            msgs.push((us(e.at), -1, a, b, protocol_of(msg), line));
        } else {
            while queue.len() > 1 && e.at.saturating_sub(sent_at(&msgs, queue[0])) > LOST_AFTER {
                queue.pop_front();
            }
            if let Some(i) = queue.pop_front() {
                msgs[i].1 = us(e.at) as i64;
            }
        }
    }
    (msgs, lines)
}

fn sent_at(msgs: &[MsgRow], i: usize) -> Duration {
    Duration::from_micros(msgs[i].0)
}

/// 0 client, 1 ECS protocol, 2 peer (Raft), 3 bytes that did not decode.
fn protocol_of(msg: &Message) -> u8 {
    match msg {
        Message::Client(_) => 0,
        Message::AdminRequest(_) | Message::AdminReply(_) | Message::Auth(_) => 1,
        Message::Peer(_) => 2,
        Message::Garbage(_) => 3,
    }
}

/// Who led each group in which term: the first and last `AppendEntries` or
/// `InstallSnapshot` each member sent in each term (only a leader sends them).
fn leaders(report: &RunReport, lane: &HashMap<&str, u32>) -> Vec<(u64, u32, u64, u64, u64)> {
    use protocol::peer::PeerMessage;
    let mut seen: BTreeMap<(u64, u64, u32), (u64, u64)> = BTreeMap::new();
    for e in &report.trace.events {
        let What::Send {
            from,
            msg: Message::Peer(m),
            ..
        } = &e.what
        else {
            continue;
        };
        let term = match m {
            PeerMessage::AppendEntries(a) => a.term.0,
            PeerMessage::InstallSnapshot(s) => s.term.0,
            _ => continue,
        };
        let (Some(group), Some(&l)) = (group_of(from), lane.get(&**from)) else {
            continue;
        };
        let t = us(e.at);
        let entry = seen.entry((group, term, l)).or_insert((t, t));
        entry.1 = t;
    }
    let mut out: Vec<_> = seen
        .into_iter()
        .map(|((group, term, l), (a, b))| (group, l, term, a, b))
        .collect();
    out.sort_by_key(|&(g, _, term, a, _)| (g, a, term));
    out
}

/// An operation in a few words: what was asked, then what came back.
fn op_text(op: &Op, outcome: &Outcome) -> String {
    let asked = match op {
        Op::Get => "get".to_string(),
        Op::Put(v) => format!("put {}", short(v)),
        Op::Delete => "delete".to_string(),
        Op::Cas { expected, new } => format!("cas {} -> {}", short_opt(expected), short(new)),
    };
    let answer = match outcome {
        Outcome::Value(v) => format!("value {}", short_opt(v)),
        Outcome::Stored => "stored".to_string(),
        Outcome::Deleted(existed) => format!("deleted (existed: {existed})"),
        Outcome::Cas { swapped, current } => {
            format!("swapped={swapped}, now {}", short_opt(current))
        }
        Outcome::Failed(why) => format!("failed: {why}"),
        Outcome::Unknown(why) => format!("unknown: {why}"),
    };
    format!("{asked} -> {answer}")
}

fn outcome_code(kind: OutcomeKind) -> u8 {
    match kind {
        OutcomeKind::Ok => 0,
        OutcomeKind::Fail => 1,
        OutcomeKind::Info => 2,
    }
}

/// Every key and every operation: the history's records in order, then the final reads.
type Ops = (Vec<String>, Vec<OpRow>);

fn operations(report: &RunReport) -> Ops {
    let history = &report.history;
    let mut keys: Vec<String> = history
        .records
        .iter()
        .map(|r| r.key.clone())
        .chain(history.final_reads.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    let index: HashMap<&str, u32> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i as u32))
        .collect();
    let mut ops = Vec::with_capacity(history.records.len() + history.final_reads.len());
    for r in &history.records {
        ops.push((
            index[r.key.as_str()],
            r.process,
            r.client,
            us(r.invoked),
            us(r.completed),
            outcome_code(r.outcome.kind()),
            op_text(&r.op, &r.outcome),
        ));
    }
    for (key, read) in &history.final_reads {
        let (code, text) = match &read.result {
            Ok(v) => (0, format!("final read -> value {}", short_opt(v))),
            Err(why) => (2, format!("final read -> gave up: {why}")),
        };
        ops.push((
            index[key.as_str()],
            linearizable::FINAL_READ_PROCESS,
            0,
            us(read.invoked),
            us(read.completed),
            code,
            text,
        ));
    }
    (keys, ops)
}

/// The linearizability violations, found again with the scenario's budget (the run's
/// failures carry them as text only) so the page can point at their operations.
fn violations(
    report: &RunReport,
    scenario: &Scenario,
    key_index: &HashMap<&str, usize>,
    ops: &[OpRow],
) -> Vec<ViolationData> {
    if !report.failures.iter().any(|f| f.check == "linearizable") {
        return Vec::new();
    }
    let config = Config {
        max_steps_per_key: scenario.checks.linearizable_steps,
    };
    let found = linearizable::check_history(&report.history, &config);
    let records = report.history.records.len();
    found
        .violations
        .into_iter()
        .map(|v| {
            let mut indexes: Vec<usize> = v.records.clone();
            if v.final_read {
                // The final reads follow the records, in key order.
                let k = key_index.get(v.key.as_str()).copied();
                let at = ops[records..].iter().position(|o| Some(o.0 as usize) == k);
                indexes.extend(at.map(|p| records + p));
            }
            ViolationData {
                key: v.key,
                ops: indexes,
                explanation: v.explanation,
                timeline: v.timeline,
            }
        })
        .collect()
}
