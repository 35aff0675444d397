//! Turning a failing key history into a [`Violation`]: minimise it, find the operation
//! no order can place, say what it would have needed and what it could have answered,
//! and draw the sub-history.

use std::time::Duration;

use super::minimize::{operations, shortest_failing_prefix, shrink, Budget, Member, Prefix};
use super::model::{Call, Ret, State};
use super::search::Found;
use super::timeline::{self, Bar};
use super::{KeyHistory, Source, Violation};

/// The violation `h` (which failed the search) shows.
/// `known`: how many answered operations, in completion order, the failed search
/// linearized at once (that prefix passes).
pub(super) fn violation(h: &KeyHistory, known: usize, budget: &mut Budget) -> Violation {
    let all: Vec<usize> = (0..h.operations.len()).collect();
    let whole = shortest_failing_prefix(h, &all, known, budget);
    let start = match &whole {
        Some(p) => p.members.clone(),
        // A history with no answered operation always passes; kept for totality.
        None => all
            .iter()
            .map(|&op| Member { op, pending: false })
            .collect(),
    };
    let shrunk = shrink(h, start, whole.as_ref().map(|p| p.culprit), budget);
    // Re-cut the shrunk history at its own failing point: pending operations it no longer
    // needs fall away, and its last answered operation is the one to blame.
    let set: Vec<usize> = shrunk.iter().map(|m| m.op).collect();
    let (members, text) = match shortest_failing_prefix(h, &set, 0, budget) {
        Some(last) => {
            let text = words(h, &last, whole.as_ref(), budget);
            (last.members, text)
        }
        None => (shrunk, format!("{}: not linearizable", h.key)),
    };

    let mut records = Vec::new();
    let mut unused_answers = Vec::new();
    let mut final_read = false;
    for m in &members {
        match h.ops[m.op].source {
            Source::Record(i) => {
                records.push(i);
                if m.pending {
                    unused_answers.push(i);
                }
            }
            Source::FinalRead => final_read = true,
        }
    }
    records.sort_unstable();
    unused_answers.sort_unstable();
    let bars: Vec<Bar> = members
        .iter()
        .map(|m| Bar {
            op: h.ops[m.op],
            note: m
                .pending
                .then_some("answer not used: it came after the failing point"),
        })
        .collect();
    Violation {
        key: h.key.to_string(),
        records,
        final_read,
        unused_answers,
        explanation: text,
        timeline: timeline::render(&bars),
    }
}

/// The explanation of a minimal failing prefix `last`; `whole` is the shortest failing
/// prefix of the key's full history.
fn words(h: &KeyHistory, last: &Prefix, whole: Option<&Prefix>, budget: &mut Budget) -> String {
    let x = last.culprit;
    let o = h.ops[x];
    let op = &h.operations[x];
    let mut s = format!(
        "{}: {} {} {} (invoked {}, completed {}) cannot be placed: ",
        h.key,
        timeline::process(o.process),
        timeline::op_text(&o.op),
        timeline::outcome_text(&o.outcome),
        secs(o.invoked),
        secs(o.completed),
    );
    match needed(h, op.call, op.ret) {
        Some(need) => s.push_str(&format!(
            "no order of the operations before or concurrent with it leaves the key {need} \
             when it takes effect"
        )),
        None => s.push_str("its answer does not fit its operation"),
    }
    match alternatives(h, &last.members, x, budget) {
        Some(alts) if alts.is_empty() => s.push_str("; no other answer would fit either."),
        Some(alts) => {
            let alts: Vec<String> = alts.iter().map(|&r| answer(h, r)).collect();
            let alts = alts.join(" or ");
            // A shortened value already ends in "..".
            let stop = if alts.ends_with("..") { "" } else { "." };
            s.push_str(&format!("; it could only have answered: {alts}{stop}"));
        }
        None => s.push('.'),
    }
    if let Some(p) = whole {
        if p.k == 1 {
            s.push_str(" It is the first answered operation on the key to fail.");
        } else if p.rest_linearizable {
            let end = h.ops[p.culprit].completed;
            s.push_str(&format!(
                " The longest linearizable prefix of the key's history is its first {} of {} \
                 answered operations; the history stops being linearizable when the next \
                 completes, at {}.",
                p.k - 1,
                p.answered,
                secs(end),
            ));
        } else {
            s.push_str(&format!(
                " The key's history fails by its {}th answered operation of {} (the step \
                 budget ran out before shorter prefixes were decided).",
                p.k, p.answered,
            ));
        }
    }
    s.push_str(&format!(
        " Minimal failing sub-history: {} operations.",
        last.members.len()
    ));
    s
}

/// The state an answer needed the key to be in, in words; `None` for an answer that
/// fits no state (it does not match its operation).
fn needed(h: &KeyHistory, call: Call, ret: Ret) -> Option<String> {
    let holding = |s: State| match s {
        None => "absent".to_string(),
        Some(v) => format!("holding {}", timeline::short(h.interner.value(v))),
    };
    match (call, ret) {
        (Call::Get, Ret::Value(v)) => Some(holding(v)),
        (Call::Delete, Ret::Deleted(true)) => Some("holding a value".to_string()),
        (Call::Delete, Ret::Deleted(false)) => Some("absent".to_string()),
        (Call::Cas { expected, .. }, Ret::Cas { swapped: true, .. }) => Some(holding(expected)),
        (Call::Cas { expected, .. }, Ret::Cas { current, .. }) if current != expected => {
            Some(holding(current))
        }
        _ => None,
    }
}

/// An answer in words.
fn answer(h: &KeyHistory, ret: Ret) -> String {
    let state = |s: State| timeline::state(s.map(|v| h.interner.value(v)));
    match ret {
        Ret::Value(v) => state(v),
        Ret::Stored => "stored".to_string(),
        Ret::Deleted(true) => "existed".to_string(),
        Ret::Deleted(false) => "was absent".to_string(),
        Ret::Cas { swapped: true, .. } => "swapped".to_string(),
        Ret::Cas { current, .. } => format!("not swapped, current {}", state(current)),
        Ret::Unknown => "unknown".to_string(),
    }
}

/// The answers other than its own that would let the culprit `x` fit into `members`
/// (`None` if the budget ran out). Only states the sub-history mentions are tried: the
/// key can hold no other.
fn alternatives(
    h: &KeyHistory,
    members: &[Member],
    x: usize,
    budget: &mut Budget,
) -> Option<Vec<Ret>> {
    let mut states: Vec<State> = vec![None];
    for m in members {
        let o = &h.operations[m.op];
        match o.call {
            Call::Put(v) => states.push(Some(v)),
            Call::Cas { expected, new } => states.extend([expected, Some(new)]),
            Call::Get | Call::Delete => {}
        }
        match o.ret {
            Ret::Value(s) | Ret::Cas { current: s, .. } => states.push(s),
            _ => {}
        }
    }
    states.sort_unstable();
    states.dedup();
    let own = h.operations[x];
    let candidates: Vec<Ret> = match own.call {
        Call::Get => states.iter().map(|&s| Ret::Value(s)).collect(),
        Call::Delete => vec![Ret::Deleted(false), Ret::Deleted(true)],
        Call::Cas { new, .. } => std::iter::once(Ret::Cas {
            swapped: true,
            current: Some(new),
        })
        .chain(states.iter().map(|&s| Ret::Cas {
            swapped: false,
            current: s,
        }))
        .collect(),
        Call::Put(_) => Vec::new(),
    };
    let at = members.iter().position(|m| m.op == x)?;
    let mut ops = operations(h, members);
    let mut fits = Vec::new();
    for ret in candidates.into_iter().filter(|&r| r != own.ret) {
        ops[at].ret = ret;
        match budget.search(&ops) {
            Found::Linearizable => fits.push(ret),
            Found::NotLinearizable => {}
            Found::OutOfBudget => return None,
        }
    }
    Some(fits)
}

/// A time in seconds, to the microsecond but without trailing zeros past the
/// millisecond.
fn secs(d: Duration) -> String {
    let s = format!("{:.6}", d.as_secs_f64());
    let trimmed = s.trim_end_matches('0');
    let dot = trimmed.find('.').unwrap_or(trimmed.len());
    let keep = trimmed.len().max(dot + 4).min(s.len());
    format!("{}s", &s[..keep])
}
