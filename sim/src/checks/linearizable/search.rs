//! The Wing–Gong search with Lowe's memoisation, as Porcupine runs it.
//!
//! Every operation contributes a call entry at its invocation and a return entry at its
//! completion to one doubly linked list sorted by time. The search walks the list from
//! the front: a call may be linearized now if the model accepts its answer in the current
//! state; then the operation is unlinked (both entries) and the walk restarts at the
//! front. Meeting a return entry means that operation should already have been linearized
//! (everything after it started after it ended), so the last choice is undone. A cache of
//! (linearized set, state) pairs already explored prunes the search: two paths that
//! linearized the same operations into the same state have the same future.
//!
//! Unanswered operations (completion +infinity) would make that future depend on every
//! subset of them linearized so far, since they stay candidates forever. Three sound
//! reductions keep them in check: values nothing names are merged into one (the model
//! cannot tell them apart), of two identical unanswered operations the later is only
//! tried once the earlier is linearized (they are interchangeable), and an unanswered
//! operation is only linearized if it changes the state and the operation after it ends
//! differently for it (otherwise the order without it does as well, and is explored).
//! The search ends when every answered operation is linearized: unanswered ones left
//! over go last.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::model::{step, Call, Ret, State};

/// One operation as the search sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Operation {
    pub call: Call,
    pub ret: Ret,
    /// Position of the invocation in the run's event order ([`crate::workload::Record`]'s
    /// `invoke_seq`): positions, not times, say which of two events came first.
    pub invoked: u64,
    /// Position of the completion; `u64::MAX` for an operation with no answer: it may
    /// take effect at any time
    /// after its invocation, so it precedes nothing.
    pub completed: u64,
}

/// What a search concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Some order explains every answer.
    Linearizable,
    /// No order does.
    NotLinearizable,
    /// The step budget ran out first.
    OutOfBudget,
}

/// A fixed, cheap hasher for the cache (FxHash's mixing). The cache is only ever probed
/// for membership, so its iteration order cannot leak into a verdict; a fixed hasher
/// still keeps runs identical and avoids SipHash's cost on the hot path.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
}

/// (linearized operations, state, the state before the last one if it was unanswered).
type Cache = HashSet<(Box<[u64]>, State, Option<State>), BuildHasherDefault<FxHasher>>;

/// The list sentinel: `next[HEAD]` is the first entry, and the list is empty when it
/// points back to `HEAD`.
const HEAD: usize = 0;

/// What a search found and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Searched {
    pub found: Found,
    /// Steps taken (one step is one list entry visited).
    pub steps: u64,
    /// The longest prefix of the answered operations in completion order (by completion,
    /// invocation, index) that some explored order linearized: the history cut when the
    /// last of them completed is linearizable, which spares minimising a search.
    pub longest: usize,
}

/// Whether `ops` (one key's) are linearizable from an absent key, in at most `budget`
/// steps.
pub(super) fn search(ops: &[Operation], budget: u64) -> Searched {
    let n = ops.len();
    if n == 0 {
        return Searched {
            found: Found::Linearizable,
            steps: 0,
            longest: 0,
        };
    }
    let ops = anonymise(ops);
    let twin = twins(&ops);
    // Sort key (time, 0 for a call / 1 for a return, op): at equal times calls come
    // first, so an operation invoked at the instant another completed is concurrent with
    // it. That makes "A precedes B" exactly A.completed < B.invoked.
    let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
    for (i, o) in ops.iter().enumerate() {
        order.push((o.invoked, 0, i));
        order.push((o.completed.max(o.invoked), 1, i));
    }
    order.sort_unstable();
    // Entry e (1-based, 0 is the sentinel) is order[e - 1].
    let len = 2 * n + 1;
    let mut next: Vec<usize> = (1..=len).map(|e| e % len).collect();
    let mut prev: Vec<usize> = (0..len).map(|e| (e + len - 1) % len).collect();
    let mut op_of = vec![0usize; len];
    let mut is_call = vec![false; len];
    let mut return_of = vec![0usize; n];
    for (pos, &(_, kind, i)) in order.iter().enumerate() {
        let e = pos + 1;
        op_of[e] = i;
        is_call[e] = kind == 0;
        if kind == 1 {
            return_of[i] = e;
        }
    }

    // Unanswered operations never have to be linearized: one left over can always go
    // last, where no answer depends on it. The search is done when every other one is.
    let optional: Vec<bool> = ops
        .iter()
        .map(|o| o.ret == Ret::Unknown && o.completed == u64::MAX)
        .collect();
    let mut required = optional.iter().filter(|&&o| !o).count();
    let mut progress = Progress::new(&ops, &optional);
    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache = Cache::default();
    // The linearized calls, each with the state before it, to undo them.
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = None;
    let mut entry = next[HEAD];
    let mut steps = 0u64;

    // Unlinking a call and its return; relinking in the reverse order restores both
    // (dancing links), which holds because undoes follow the stack.
    let unlink = |next: &mut [usize], prev: &mut [usize], e: usize| {
        next[prev[e]] = next[e];
        prev[next[e]] = prev[e];
    };
    let relink = |next: &mut [usize], prev: &mut [usize], e: usize| {
        next[prev[e]] = e;
        prev[next[e]] = e;
    };

    while required > 0 {
        if steps >= budget {
            return progress.searched(Found::OutOfBudget, steps);
        }
        steps += 1;
        let i = op_of[entry];
        if is_call[entry] {
            // An unanswered operation identical to an earlier one not yet linearized is
            // interchangeable with it from here on (both are invoked and neither ever
            // has to be linearized): only the earlier one is tried. Without this,
            // unanswered writes multiply the search by every subset of them.
            if twin[i].is_some_and(|t| linearized[t / 64] & (1 << (t % 64)) == 0) {
                entry = next[entry];
                continue;
            }
            if let Some(after) = step(state, ops[i].call, ops[i].ret) {
                // Leave out orders that an order without some unanswered operation does
                // as well: one that changes nothing, and one whose next operation would
                // have ended the same without it (a put overwriting it, a delete that
                // found the key present anyway). That order is explored elsewhere.
                let pointless = (optional[i] && after == state)
                    || stack.last().is_some_and(|&(e, before)| {
                        optional[op_of[e]] && step(before, ops[i].call, ops[i].ret) == Some(after)
                    });
                if !pointless {
                    linearized[i / 64] |= 1 << (i % 64);
                    // Right after an unanswered operation fewer continuations are tried,
                    // depending on the state before it, so such configurations are
                    // cached with that state; one explored without that restriction
                    // covers them too.
                    let mut key = (linearized.clone().into_boxed_slice(), after, None);
                    let seen = cache.contains(&key) || {
                        key.2 = optional[i].then_some(state);
                        key.2.is_some() && cache.contains(&key)
                    };
                    if !seen {
                        cache.insert(key);
                        stack.push((entry, state));
                        state = after;
                        required -= usize::from(!optional[i]);
                        progress.linearized(i);
                        unlink(&mut next, &mut prev, entry);
                        unlink(&mut next, &mut prev, return_of[i]);
                        entry = next[HEAD];
                        continue;
                    }
                    linearized[i / 64] &= !(1 << (i % 64));
                }
            }
            entry = next[entry];
        } else {
            // This operation ended before every entry after it: it must be in the order
            // already. Undo the last choice and try the next candidate after it.
            let Some((call, before)) = stack.pop() else {
                return progress.searched(Found::NotLinearizable, steps);
            };
            let j = op_of[call];
            state = before;
            required += usize::from(!optional[j]);
            progress.undone(j);
            linearized[j / 64] &= !(1 << (j % 64));
            relink(&mut next, &mut prev, return_of[j]);
            relink(&mut next, &mut prev, call);
            entry = next[call];
        }
    }
    progress.searched(Found::Linearizable, steps)
}

/// Tracks the longest prefix of the answered operations, in completion order, that is
/// linearized at once.
struct Progress {
    /// Each answered operation's place in completion order (unanswered: none).
    rank: Vec<Option<usize>>,
    /// Whether the operation at each place is linearized.
    done: Vec<bool>,
    /// The first place not linearized.
    low: usize,
    longest: usize,
}

impl Progress {
    fn new(ops: &[Operation], optional: &[bool]) -> Self {
        let mut order: Vec<usize> = (0..ops.len()).filter(|&i| !optional[i]).collect();
        order.sort_by_key(|&i| (ops[i].completed, ops[i].invoked, i));
        let mut rank = vec![None; ops.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = Some(r);
        }
        Progress {
            rank,
            done: vec![false; order.len()],
            low: 0,
            longest: 0,
        }
    }

    fn linearized(&mut self, i: usize) {
        if let Some(r) = self.rank[i] {
            self.done[r] = true;
            while self.done.get(self.low) == Some(&true) {
                self.low += 1;
            }
            self.longest = self.longest.max(self.low);
        }
    }

    fn undone(&mut self, i: usize) {
        if let Some(r) = self.rank[i] {
            self.done[r] = false;
            self.low = self.low.min(r);
        }
    }

    fn searched(&self, found: Found, steps: u64) -> Searched {
        Searched {
            found,
            steps,
            longest: self.longest,
        }
    }
}

/// The id standing for every value nothing observes.
const ANONYMOUS: u32 = u32::MAX;

/// `ops` with every value that no answer or expectation names replaced by one anonymous
/// id. The model only ever compares the state with named values (a read's, a
/// compare-and-set's expected or reported one) or tests presence, so which unnamed value
/// the key holds cannot matter; merging them lets the cache see states as equal that
/// differ only in such values.
fn anonymise(ops: &[Operation]) -> Vec<Operation> {
    let mut named = std::collections::BTreeSet::new();
    for o in ops {
        if let Call::Cas {
            expected: Some(v), ..
        } = o.call
        {
            named.insert(v);
        }
        match (o.call, o.ret) {
            (_, Ret::Value(Some(v))) => {
                named.insert(v);
            }
            // A swapped compare-and-set reporting its own new value names nothing; any
            // other report does (a wrong one must stay distinguishable).
            (
                Call::Cas { new, .. },
                Ret::Cas {
                    current: Some(v),
                    swapped,
                },
            ) if !(swapped && v == new) => {
                named.insert(v);
            }
            _ => {}
        }
    }
    let map = |v: u32| if named.contains(&v) { v } else { ANONYMOUS };
    let map_state = |s: State| s.map(map);
    ops.iter()
        .map(|o| {
            let call = match o.call {
                Call::Put(v) => Call::Put(map(v)),
                Call::Cas { expected, new } => Call::Cas {
                    expected: map_state(expected),
                    new: map(new),
                },
                c => c,
            };
            let ret = match o.ret {
                Ret::Value(s) => Ret::Value(map_state(s)),
                Ret::Cas { swapped, current } => Ret::Cas {
                    swapped,
                    current: map_state(current),
                },
                r => r,
            };
            Operation { call, ret, ..*o }
        })
        .collect()
}

/// For each unanswered operation, the latest one invoked before it (in list order) that
/// asks the same: the two are interchangeable once both are invoked.
fn twins(ops: &[Operation]) -> Vec<Option<usize>> {
    let mut by_invocation: Vec<usize> = (0..ops.len()).collect();
    by_invocation.sort_by_key(|&i| (ops[i].invoked, i));
    let mut last: std::collections::BTreeMap<Call, usize> = std::collections::BTreeMap::new();
    let mut twin = vec![None; ops.len()];
    for i in by_invocation {
        if ops[i].ret == Ret::Unknown && ops[i].completed == u64::MAX {
            twin[i] = last.insert(ops[i].call, i);
        }
    }
    twin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: Call, ret: Ret, invoked: u64, completed: u64) -> Operation {
        Operation {
            call,
            ret,
            invoked,
            completed,
        }
    }

    #[test]
    fn orders_concurrent_operations() {
        // The read overlaps the write, so it may see it.
        let ops = [
            op(Call::Put(0), Ret::Stored, 0, 10),
            op(Call::Get, Ret::Value(Some(0)), 5, 6),
        ];
        assert_eq!(search(&ops, 100).found, Found::Linearizable);
        // Touching windows are concurrent: precedence is strict.
        let ops = [
            op(Call::Get, Ret::Value(Some(0)), 0, 10),
            op(Call::Put(0), Ret::Stored, 10, 20),
        ];
        assert_eq!(search(&ops, 100).found, Found::Linearizable);
        let ops = [
            op(Call::Get, Ret::Value(Some(0)), 0, 9),
            op(Call::Put(0), Ret::Stored, 10, 20),
        ];
        assert_eq!(search(&ops, 100).found, Found::NotLinearizable);
    }

    #[test]
    fn budget_is_counted_in_steps() {
        let ops = [
            op(Call::Put(0), Ret::Stored, 0, 10),
            op(Call::Get, Ret::Value(Some(0)), 20, 30),
        ];
        let s = search(&ops, 1);
        assert_eq!((s.found, s.steps), (Found::OutOfBudget, 1));
        let s = search(&ops, 100);
        assert_eq!(s.found, Found::Linearizable);
        assert!(s.steps >= 2);
        assert_eq!(s.longest, 2);
    }
}

/// The search against an exhaustive one on small random histories, most of them not
/// linearizable: its pruning (the cache, merged values, interchangeable and pointless
/// unanswered operations) must never change a verdict.
#[cfg(test)]
mod against_brute_force {
    use proptest::prelude::*;

    use super::*;

    /// Whether some order of the operations not yet `done`, from `state`, explains every
    /// answer: any operation nothing must precede may go next, and unanswered ones may
    /// also never happen.
    fn brute(ops: &[Operation], done: &mut Vec<bool>, state: State) -> bool {
        let required = |i: usize| !(ops[i].ret == Ret::Unknown && ops[i].completed == u64::MAX);
        if (0..ops.len()).all(|i| done[i] || !required(i)) {
            return true;
        }
        for i in 0..ops.len() {
            let free = !done[i]
                && (0..ops.len()).all(|j| done[j] || j == i || ops[j].completed >= ops[i].invoked);
            if !free {
                continue;
            }
            if let Some(after) = step(state, ops[i].call, ops[i].ret) {
                done[i] = true;
                let found = brute(ops, done, after);
                done[i] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }

    fn state_from(n: u8) -> State {
        (n < 3).then_some(u32::from(n))
    }

    /// (kind, value, other value, answer choice, unanswered, invoked, duration).
    type Raw = (u8, u8, u8, u8, bool, u64, u64);

    fn operation(&(kind, a, b, answer, unanswered, invoked, duration): &Raw) -> Operation {
        let call = match kind {
            0 => Call::Get,
            1 => Call::Put(u32::from(a % 3)),
            2 => Call::Delete,
            _ => Call::Cas {
                expected: state_from(b),
                new: u32::from(a % 3),
            },
        };
        let ret = if unanswered && kind != 0 {
            Ret::Unknown
        } else {
            match call {
                Call::Get => Ret::Value(state_from(answer)),
                Call::Put(_) => Ret::Stored,
                Call::Delete => Ret::Deleted(answer % 2 == 0),
                Call::Cas { new, .. } => match answer {
                    0 | 1 => Ret::Cas {
                        swapped: true,
                        current: Some(new),
                    },
                    n => Ret::Cas {
                        swapped: false,
                        current: state_from(n - 2),
                    },
                },
            }
        };
        let completed = if ret == Ret::Unknown {
            u64::MAX
        } else {
            invoked + duration
        };
        Operation {
            call,
            ret,
            invoked,
            completed,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn same_verdict(raw in proptest::collection::vec(
            (0..4u8, 0..3u8, 0..4u8, 0..6u8, proptest::bool::weighted(0.3), 0..12u64, 0..6u64),
            1..8,
        )) {
            let ops: Vec<Operation> = raw.iter().map(operation).collect();
            let expected = brute(&ops, &mut vec![false; ops.len()], None);
            let found = search(&ops, 1_000_000).found;
            prop_assert_eq!(found == Found::Linearizable, expected, "{:?}", ops);
            prop_assert_ne!(found, Found::OutOfBudget);
        }
    }
}
