//! Reducing a failing key history to a small failing sub-history.
//!
//! First the shortest failing prefix: the history as it stood when its k-th answered
//! operation completed, with operations still running then counted as unanswered (they
//! may or may not have taken effect yet). A linearizable history's prefixes are
//! linearizable, so failure is monotone in k and a search over k finds the smallest.
//! Then operations are dropped while the rest still fails, except writes the rest needs:
//! dropping the only write of a value a remaining answer names would manufacture a "read
//! of a value never written" the real history does not contain, and dropping the write
//! that explains a remaining answer could manufacture another anomaly (a delete that
//! finds the key present right after another delete). An unanswered compare-and-set
//! explains an answer only if something left in the sub-history could have given it its
//! expected value. Those checks judge one answer at a time, so on top of them a drop must
//! keep the sub-history linearizable once the culprit's answer is ignored: whatever is
//! reported then fails because of the culprit's answer, not because of a write left out.
//!
//! Every search here draws on one [`Budget`]; a search that runs out counts as "not shown
//! to fail", so whatever is returned has been shown to fail (or is the input).

use super::model::{observes, produces, Call, Observes, Ret, State};
use super::search::{search, Found, Operation, Searched};
use super::KeyHistory;

/// Steps left for minimising and explaining one violation.
#[derive(Debug)]
pub(super) struct Budget {
    left: u64,
    /// Steps taken so far.
    pub used: u64,
}

impl Budget {
    pub(super) fn new(steps: u64) -> Self {
        Budget {
            left: steps,
            used: 0,
        }
    }

    /// Runs one search on what is left.
    pub(super) fn search(&mut self, ops: &[Operation]) -> Found {
        self.searched(ops).found
    }

    /// Runs one search on what is left, with what it learnt.
    fn searched(&mut self, ops: &[Operation]) -> Searched {
        let s = search(ops, self.left);
        self.left -= s.steps;
        self.used += s.steps;
        s
    }

    /// Counts `steps` of work other than a search.
    fn charge(&mut self, steps: u64) {
        let steps = steps.min(self.left);
        self.left -= steps;
        self.used += steps;
    }

    fn exhausted(&self) -> bool {
        self.left == 0
    }
}

/// A kept operation in a sub-history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member {
    /// Index into the key history's kept operations.
    pub op: usize,
    /// Answered, but after the prefix ends: its answer is ignored and it counts as
    /// unanswered.
    pub pending: bool,
}

/// The operations of a sub-history as the search sees them.
pub(super) fn operations(h: &KeyHistory, members: &[Member]) -> Vec<Operation> {
    members
        .iter()
        .map(|m| {
            let mut o = h.operations[m.op];
            if m.pending {
                o.ret = Ret::Unknown;
                o.completed = u64::MAX;
            }
            o
        })
        .collect()
}

/// The shortest failing prefix of a set of operations.
#[derive(Debug)]
pub(super) struct Prefix {
    /// Its members.
    pub members: Vec<Member>,
    /// The answered operation whose completion ends it: the one no order could place.
    pub culprit: usize,
    /// How many answered operations it has (the culprit is the last).
    pub k: usize,
    /// How many answered operations the whole set has.
    pub answered: usize,
    /// Whether the prefix without the culprit was shown linearizable (false when the
    /// budget ran out before that was decided).
    pub rest_linearizable: bool,
}

/// The answered operations of `set` in completion order.
fn completion_order(h: &KeyHistory, set: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = set.iter().copied().filter(|&i| h.answered(i)).collect();
    order.sort_by_key(|&i| (h.operations[i].completed, h.operations[i].invoked, i));
    order
}

/// The prefix of `set` ending when `order[k - 1]` completed: the first k answered
/// operations, plus every other operation invoked by then as unanswered (gets among them
/// are left out: unanswered gets change nothing).
fn prefix(h: &KeyHistory, set: &[usize], order: &[usize], k: usize) -> Vec<Member> {
    let end = h.operations[order[k - 1]].completed;
    let mut first = vec![false; h.operations.len()];
    for &i in &order[..k] {
        first[i] = true;
    }
    set.iter()
        .filter_map(|&i| {
            let pending = if first[i] {
                false
            } else if h.operations[i].invoked > end {
                return None;
            } else if !h.answered(i) {
                false
            } else if h.is_get(i) {
                return None;
            } else {
                true
            };
            Some(Member { op: i, pending })
        })
        .collect()
}

/// The shortest failing prefix of `set` (kept-operation indexes, ascending), which must
/// fail as a whole; `None` if it has no answered operation. `known` answered operations
/// are already known to form a linearizable prefix (a search's `longest`).
///
/// A failing search costs far more than a passing one (it must exhaust every order), so
/// rather than bisecting, this gallops up from the longest prefix known to pass: the
/// failure is usually right after it, and each failing probe's own `longest` raises
/// that bound again.
pub(super) fn shortest_failing_prefix(
    h: &KeyHistory,
    set: &[usize],
    known: usize,
    budget: &mut Budget,
) -> Option<Prefix> {
    let order = completion_order(h, set);
    let answered = order.len();
    if answered == 0 {
        return None;
    }
    // Invariant: prefix `hi` fails (the whole set does, and dropping the unanswered
    // operations invoked after the last completion cannot make it pass, since they could
    // have taken effect last); every prefix shorter than `lo` passed or was undecided;
    // prefix `passed` is known to pass.
    let mut passed = known.min(answered - 1);
    let (mut lo, mut hi) = (passed + 1, answered);
    let mut stride = 1;
    while lo < hi {
        let probe = (lo + stride - 1).min(hi - 1);
        let s = budget.searched(&operations(h, &prefix(h, set, &order, probe)));
        match s.found {
            Found::NotLinearizable => {
                hi = probe;
                passed = passed.max(s.longest);
                lo = lo.max(s.longest + 1);
                stride = 1;
            }
            found => {
                if found == Found::Linearizable {
                    passed = probe;
                }
                lo = probe + 1;
                stride *= 2;
            }
        }
    }
    Some(Prefix {
        members: prefix(h, set, &order, hi),
        culprit: order[hi - 1],
        k: hi,
        answered,
        rest_linearizable: passed + 1 == hi,
    })
}

/// What member `m` may have written, if anything.
fn writes(h: &KeyHistory, m: Member) -> Option<State> {
    let o = &h.operations[m.op];
    produces(o.call, if m.pending { Ret::Unknown } else { o.ret })
}

/// What member `x` observed. A compare-and-set that may have swapped without saying so
/// (unanswered, or answered after the prefix) observed nothing explicitly, but any
/// effect it had needed its expected value first: the writer of that value is as
/// necessary to it as to a read.
fn observed(h: &KeyHistory, x: Member) -> Observes {
    let o = &h.operations[x.op];
    match (o.call, x.pending || o.ret == Ret::Unknown) {
        (Call::Cas { expected, .. }, true) => expected.map_or(Observes::Absent, Observes::Value),
        (_, true) => Observes::Nothing,
        (_, false) => observes(o.call, o.ret),
    }
}

/// Whether `m` must stay because an answer in `rest` (the sub-history without it) names
/// the value it wrote and no other write in `rest` wrote that value: dropping it would
/// invent a read of a value never written.
fn named(h: &KeyHistory, rest: &[Member], m: Member) -> bool {
    let Some(Some(v)) = writes(h, m) else {
        return false;
    };
    let named = rest.iter().any(|&x| observed(h, x) == Observes::Value(v));
    named
        && !rest
            .iter()
            .any(|w| w.op != m.op && writes(h, *w) == Some(Some(v)))
}

/// Whether state `s` is what an observation saw.
fn fits(seen: Observes, s: State) -> bool {
    match seen {
        Observes::Nothing => true,
        Observes::Value(v) => s == Some(v),
        Observes::Absent => s.is_none(),
        Observes::Present => s.is_some(),
    }
}

/// When member `m` completed as the sub-history has it (never, if unanswered there).
fn completed(h: &KeyHistory, m: Member) -> u64 {
    if m.pending {
        u64::MAX
    } else {
        h.operations[m.op].completed
    }
}

/// Which members of `set` could have written at all within it, indexed by kept
/// operation: every write whose effect is certain or needs nothing, and a compare-and-set
/// that may have swapped without saying so only if its expected state can arise in `set`
/// (absence always can: it is the initial state). Without this an unanswered
/// compare-and-set from a value nothing in `set` wrote would seem to explain an answer,
/// and the write that really explains it could be dropped. A least fixed point, so a
/// cycle of such compare-and-sets feeding one another grounds none of them.
fn grounded(h: &KeyHistory, set: &[Member], budget: &mut Budget) -> Vec<bool> {
    let mut ok = vec![false; h.operations.len()];
    let mut states = std::collections::BTreeSet::new();
    let mut waiting = Vec::new();
    for &m in set {
        let Some(s) = writes(h, m) else {
            continue;
        };
        match h.operations[m.op].call {
            Call::Cas {
                expected: Some(v), ..
            } if m.pending || !h.answered(m.op) => waiting.push((m.op, v, s)),
            _ => {
                ok[m.op] = true;
                states.insert(s);
            }
        }
    }
    loop {
        budget.charge(waiting.len() as u64 + 1);
        let before = waiting.len();
        waiting.retain(|&(op, expected, s)| {
            if states.contains(&Some(expected)) {
                ok[op] = true;
                states.insert(s);
                false
            } else {
                true
            }
        });
        if waiting.len() == before {
            return ok;
        }
    }
}

/// Whether the answer of member `x` is explained locally within `set`: some write in
/// `set` that could have taken effect there (`grounded[w]`, see [`grounded`]) or, for
/// absence, the initial state produced what it observed and could be the last write
/// before it, because no write producing something else must come between them (one
/// that began after that write ended and ended before `x` began).
/// Answers that observe nothing are explained.
fn explained(h: &KeyHistory, set: &[Member], grounded: &[bool], x: Member) -> bool {
    let seen = observed(h, x);
    if seen == Observes::Nothing {
        return true;
    }
    let (x_invoked, x_completed) = (h.operations[x.op].invoked, completed(h, x));
    // The latest invocation of a write that produced something else and surely ended
    // before `x` began, and the latest completion of a fitting write `x` could follow.
    let mut conflict: Option<u64> = None;
    let mut fitting: Option<u64> = None;
    for &w in set.iter().filter(|w| w.op != x.op) {
        let Some(s) = writes(h, w) else {
            continue;
        };
        let invoked = h.operations[w.op].invoked;
        if fits(seen, s) && grounded[w.op] {
            if invoked <= x_completed {
                fitting = fitting.max(Some(completed(h, w)));
            }
        } else if completed(h, w) < x_invoked {
            conflict = conflict.max(Some(invoked));
        }
    }
    match (conflict, fitting) {
        // Nothing must overwrite the initial state before it.
        (None, _) if seen == Observes::Absent => true,
        (None, f) => f.is_some(),
        (Some(c), f) => f.is_some_and(|f| f >= c),
    }
}

/// Drops operations from a failing sub-history while it still fails. Dropping a write
/// can manufacture an anomaly the real history does not have, so a drop is refused if a
/// remaining answer names the value only the dropped write wrote (see [`named`]), or if
/// it leaves an answer that was explained locally unexplained (see [`explained`]): a
/// delete that found the key present must not lose the write before it and so seem to
/// follow another delete. Like delta debugging, it first tries to drop large chunks,
/// halving them down to single operations, so the long stretches of a history that have
/// nothing to do with the failure go in a few searches. The bookkeeping is charged to
/// the budget along with the searches, one step per pair of operations compared.
///
/// `culprit` is the answered operation whose completion ends the failing prefix
/// `members`. If `members` with the culprit's answer ignored is shown linearizable, every
/// drop must keep that so: the failure then still hinges on the culprit's answer, and no
/// other answer can be left unexplained by a drop (the local checks above look at one
/// answer at a time, so they accept a drop that leaves one write or the initial state
/// explaining two answers that cannot both follow it).
pub(super) fn shrink(
    h: &KeyHistory,
    mut members: Vec<Member>,
    culprit: Option<usize>,
    budget: &mut Budget,
) -> Vec<Member> {
    // The set with the culprit's answer ignored (its write, if any, may still happen).
    let without = |set: &[Member], c: usize| -> Vec<Operation> {
        let kept: Vec<Member> = set
            .iter()
            .map(|&m| Member {
                op: m.op,
                pending: m.pending || m.op == c,
            })
            .collect();
        operations(h, &kept)
    };
    let culprit = culprit.filter(|&c| {
        members.iter().any(|m| m.op == c && !m.pending)
            && budget.search(&without(&members, c)) == Found::Linearizable
    });
    // Which operations the chunk being tried would drop.
    let mut dropping = vec![false; h.operations.len()];
    // Whether each answer is explained within `members`, as far as computed.
    let mut was_explained: Vec<Option<bool>> = vec![None; h.operations.len()];
    // Which members could have written within `members`, once computed.
    let mut members_grounded: Option<Vec<bool>> = None;
    // Noise first: operations without an answer to explain, then the rest oldest first.
    let mut candidates: Vec<Member> = members.clone();
    candidates.sort_by_key(|m| (!m.pending && h.answered(m.op), m.op));
    let mut size = (candidates.len() / 2).max(1);
    loop {
        let mut dropped = false;
        for chunk in candidates.chunks(size) {
            if budget.exhausted() {
                return members;
            }
            let mut drop: Vec<Member> = chunk
                .iter()
                .copied()
                .filter(|c| members.binary_search_by_key(&c.op, |m| m.op).is_ok())
                .collect();
            for d in &drop {
                dropping[d.op] = true;
            }
            // Keep what the rest needs, to a fixed point (keeping one write may make
            // another needed): the writers of values it names, and for each answer that
            // would lose its explanation, the dropped write that best explains it (the
            // fitting one that completed last).
            let rest = loop {
                let rest: Vec<Member> = members
                    .iter()
                    .copied()
                    .filter(|m| !dropping[m.op])
                    .collect();
                let before = drop.len();
                let mut rest_grounded = None;
                budget.charge((rest.len() * drop.len()) as u64);
                drop.retain(|&d| {
                    let keep = named(h, &rest, d);
                    dropping[d.op] = !keep;
                    !keep
                });
                if drop.len() < before {
                    continue;
                }
                // Only answers a dropped write could have explained can lose it.
                let could_explain = |x: Member, d: Member| {
                    writes(h, d).is_some_and(|s| fits(observed(h, x), s))
                        && h.operations[d.op].invoked <= completed(h, x)
                };
                let mut lost = None;
                for &x in &rest {
                    budget.charge(drop.len() as u64);
                    if !drop.iter().any(|&d| could_explain(x, d)) {
                        continue;
                    }
                    let was = match was_explained[x.op] {
                        Some(was) => was,
                        None => {
                            budget.charge(members.len() as u64);
                            let g = members_grounded
                                .get_or_insert_with(|| grounded(h, &members, budget));
                            let was = explained(h, &members, g, x);
                            was_explained[x.op] = Some(was);
                            was
                        }
                    };
                    budget.charge(rest.len() as u64);
                    let g = rest_grounded.get_or_insert_with(|| grounded(h, &rest, budget));
                    if was && !explained(h, &rest, g, x) {
                        lost = Some(x);
                        break;
                    }
                }
                let Some(x) = lost else {
                    break rest;
                };
                let best = drop
                    .iter()
                    .copied()
                    .filter(|&d| could_explain(x, d))
                    .max_by_key(|&d| (completed(h, d), d.op));
                if let Some(best) = best {
                    dropping[best.op] = false;
                    drop.retain(|&d| d != best);
                }
            };
            if drop.is_empty() {
                continue;
            }
            // The cheap passing search first: a failing one must exhaust every order.
            let hinges =
                culprit.is_none_or(|c| budget.search(&without(&rest, c)) == Found::Linearizable);
            if hinges && budget.search(&operations(h, &rest)) == Found::NotLinearizable {
                members = rest;
                was_explained.fill(None);
                members_grounded = None;
                dropped = true;
            }
            for d in &drop {
                dropping[d.op] = false;
            }
        }
        candidates.retain(|c| members.binary_search_by_key(&c.op, |m| m.op).is_ok());
        if size == 1 && !dropped {
            return members;
        }
        // Keep trying single operations until none can go.
        size = (size / 2).max(1);
    }
}
