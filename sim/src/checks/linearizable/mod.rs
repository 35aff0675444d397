//! Linearizability, key by key.
//!
//! Each key is a register holding either nothing or one value; a history is linearizable
//! if every operation can be given one instant inside its [invoked, completed] window such
//! that applying them in that order explains every answer. Linearizability is
//! compositional (P-compositionality): a history is linearizable iff each key's
//! sub-history is, so each key is checked on its own.
//!
//! How the history maps onto the model:
//! - an operation that definitely failed (`fail`) was not applied and is left out;
//! - an operation with no answer (`info`) may take effect at any point after its
//!   invocation, or never: its completion is taken as +infinity and any answer fits it
//!   (an unanswered compare-and-set still swaps only from its expected value); an
//!   unanswered get changes nothing and is left out;
//! - A precedes B iff A completed strictly before B was invoked;
//! - the verifier's successful final read of a key is one more get, by the process
//!   [`FINAL_READ_PROCESS`].
//!
//! The search is Wing–Gong–Lowe as Porcupine implements it (`search.rs`, over the
//! register of `model.rs`), bounded by a step budget so a verdict never depends on the
//! machine's speed: a key whose search runs out is [`Verdict::Undecided`], not a failure.
//! A violation is reduced to a small failing sub-history (`minimize.rs`), explained in
//! words (`explain.rs`) and drawn as a timeline (`timeline.rs`). [`bench_history`]
//! (`bench.rs`) generates large valid histories to time the checker.

mod bench;
mod explain;
mod failures;
mod minimize;
mod model;
mod search;
#[cfg(test)]
mod tests;
mod timeline;

pub use failures::judge;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub use bench::bench_history;
pub use timeline::render_timeline;

use crate::workload::{History, Op, Outcome, OutcomeKind, Record};
use model::{Call, Interner, Ret};
use search::{search, Found, Operation};

/// The process the verifier's final reads are attributed to.
pub const FINAL_READ_PROCESS: u32 = u32::MAX;

/// How much work the checker may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The search steps one key may take before its verdict is [`Verdict::Undecided`]. A
    /// violating key gets as many again to minimise and explain the violation.
    pub max_steps_per_key: u64,
}

impl Default for Config {
    /// Two million steps: far more than a correct key's history of a few hundred
    /// operations needs (about one step per operation and a little backtracking).
    fn default() -> Self {
        Config {
            max_steps_per_key: 2_000_000,
        }
    }
}

/// Where a [`KeyOp`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// `History::records[i]`.
    Record(usize),
    /// The verifier's final read of the key (`History::final_reads`).
    FinalRead,
}

/// One operation on one key, as the checker takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOp {
    /// Where it came from, so a violation can name history records.
    pub source: Source,
    /// The process that ran it ([`FINAL_READ_PROCESS`] for the final read).
    pub process: u32,
    /// What was asked.
    pub op: Op,
    /// The answer.
    pub outcome: Outcome,
    /// When it was invoked.
    pub invoked: Duration,
    /// When it completed (for an unanswered one: when the client gave up).
    pub completed: Duration,
    /// Position of the invocation among the run's history events: this, not `invoked`,
    /// orders operations (simulated times tie within a tick and each host's clock can
    /// lead another's by up to a tick).
    pub invoke_seq: u64,
    /// Position of the completion among the run's history events.
    pub complete_seq: u64,
}

impl KeyOp {
    /// The operation of `History::records[index]`.
    pub fn from_record(index: usize, r: &Record) -> KeyOp {
        KeyOp {
            source: Source::Record(index),
            process: r.process,
            op: r.op.clone(),
            outcome: r.outcome.clone(),
            invoked: r.invoked,
            completed: r.completed,
            invoke_seq: r.invoke_seq,
            complete_seq: r.complete_seq,
        }
    }
}

/// One key's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some order of the operations explains every answer.
    Linearizable,
    /// None does.
    Violation(Violation),
    /// The search ran out of steps (the count it took) before deciding.
    Undecided {
        /// Steps taken.
        steps: u64,
    },
}

/// A key whose history is not linearizable, with a small sub-history that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The key.
    pub key: String,
    /// The minimal failing sub-history: indexes into `History::records`, ascending.
    pub records: Vec<usize>,
    /// Whether the verifier's final read of the key is part of that sub-history.
    pub final_read: bool,
    /// The records of `records` that were still running when the history stopped being
    /// explainable: the checker counts them as unanswered (they may or may not have taken
    /// effect by then), so their answers play no part in the failure. They stay because
    /// a remaining answer observed their effect.
    pub unused_answers: Vec<usize>,
    /// What could not be explained, in words.
    pub explanation: String,
    /// The sub-history drawn as an ASCII timeline with a legend.
    pub timeline: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.explanation, self.timeline)
    }
}

/// The verdicts on a whole history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Keys with at least one operation or a final read.
    pub keys_checked: usize,
    /// The keys found not linearizable, in key order.
    pub violations: Vec<Violation>,
    /// The keys whose search ran out of steps, with the steps taken, in key order.
    pub undecided: Vec<(String, u64)>,
    /// Steps over all keys: search steps (list entries visited), plus for violations
    /// those of minimising and explaining them, where bookkeeping counts one step per
    /// pair of operations compared.
    pub steps: u64,
}

/// Each key's operations: its records in history order, then its final read if the
/// verifier could read it (a read that gave up says nothing about the key's state).
pub fn key_ops(history: &History) -> BTreeMap<&str, Vec<KeyOp>> {
    let mut by_key: BTreeMap<&str, Vec<KeyOp>> = BTreeMap::new();
    for (i, r) in history.records.iter().enumerate() {
        by_key
            .entry(r.key.as_str())
            .or_default()
            .push(KeyOp::from_record(i, r));
    }
    for (key, read) in &history.final_reads {
        if let Ok(v) = &read.result {
            by_key.entry(key.as_str()).or_default().push(KeyOp {
                source: Source::FinalRead,
                process: FINAL_READ_PROCESS,
                op: Op::Get,
                outcome: Outcome::Value(v.clone()),
                invoked: read.invoked,
                completed: read.completed,
                invoke_seq: read.invoke_seq,
                complete_seq: read.complete_seq,
            });
        }
    }
    by_key
}

/// Checks every key of `history`.
pub fn check_history(history: &History, config: &Config) -> Report {
    let mut report = Report::default();
    for (key, ops) in key_ops(history) {
        report.keys_checked += 1;
        let (verdict, steps) = check_key_counted(key, &ops, config);
        report.steps += steps;
        match verdict {
            Verdict::Linearizable => {}
            Verdict::Violation(v) => report.violations.push(v),
            Verdict::Undecided { steps } => report.undecided.push((key.to_string(), steps)),
        }
    }
    report
}

/// Checks one key's operations (all on `key`, in any order; see [`key_ops`]).
pub fn check_key(key: &str, ops: &[KeyOp], config: &Config) -> Verdict {
    check_key_counted(key, ops, config).0
}

fn check_key_counted(key: &str, ops: &[KeyOp], config: &Config) -> (Verdict, u64) {
    let h = KeyHistory::new(key, ops);
    let s = search(&h.operations, config.max_steps_per_key);
    match s.found {
        Found::Linearizable => (Verdict::Linearizable, s.steps),
        Found::OutOfBudget => (Verdict::Undecided { steps: s.steps }, s.steps),
        Found::NotLinearizable => {
            // Minimising takes its own budget so a violation found late in a key's
            // search still gets explained.
            let mut budget = minimize::Budget::new(config.max_steps_per_key);
            let v = explain::violation(&h, s.longest, &mut budget);
            (Verdict::Violation(v), s.steps + budget.used)
        }
    }
}

/// One key's operations ready for the search: the ones that belong to the history
/// (definite failures and unanswered gets are left out), with their values interned.
struct KeyHistory<'a> {
    key: &'a str,
    /// The kept operations.
    ops: Vec<&'a KeyOp>,
    /// The same operations as the search sees them (same indexes).
    operations: Vec<Operation>,
    interner: Interner,
}

impl<'a> KeyHistory<'a> {
    fn new(key: &'a str, all: &'a [KeyOp]) -> Self {
        let mut h = KeyHistory {
            key,
            ops: Vec::with_capacity(all.len()),
            operations: Vec::with_capacity(all.len()),
            interner: Interner::default(),
        };
        for o in all {
            if o.outcome.kind() == OutcomeKind::Fail
                || (o.outcome.kind() == OutcomeKind::Info && o.op == Op::Get)
            {
                continue;
            }
            let call = h.interner.call(&o.op);
            let Some(ret) = h.interner.ret(&o.outcome) else {
                continue;
            };
            let completed = if ret == Ret::Unknown {
                u64::MAX
            } else {
                o.complete_seq.max(o.invoke_seq)
            };
            h.ops.push(o);
            h.operations.push(Operation {
                call,
                ret,
                invoked: o.invoke_seq,
                completed,
            });
        }
        h
    }

    /// Whether kept operation `i` was answered.
    fn answered(&self, i: usize) -> bool {
        self.operations[i].ret != Ret::Unknown
    }

    /// Whether kept operation `i` is a get.
    fn is_get(&self, i: usize) -> bool {
        self.operations[i].call == Call::Get
    }
}
