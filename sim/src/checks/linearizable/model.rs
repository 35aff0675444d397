//! The register model: one key's state is absent or one value, and each operation is a
//! (call, return) pair whose return must be what the register would answer.
//!
//! Values are interned into `u32` ids first so a state is an `Option<u32>`: the search
//! hashes and compares states millions of times, and byte strings would dominate that.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::workload::{Op, Outcome};

/// A register state: absent, or the interned id of a value.
pub(super) type State = Option<u32>;

/// What an operation asked, with values interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Call {
    Get,
    Put(u32),
    Delete,
    Cas { expected: State, new: u32 },
}

/// What an operation answered, with values interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ret {
    Value(State),
    Stored,
    Deleted(bool),
    Cas {
        swapped: bool,
        current: State,
    },
    /// No answer (info): any answer fits, the effect is the call's.
    Unknown,
}

/// Interns values in order of first appearance, so ids (and anything printed from
/// them) do not depend on a hasher's seed.
#[derive(Debug, Default)]
pub(super) struct Interner {
    ids: BTreeMap<Bytes, u32>,
    values: Vec<Bytes>,
}

impl Interner {
    /// The id of `v`, allocating one on first sight.
    pub(super) fn id(&mut self, v: &Bytes) -> u32 {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        self.ids.insert(v.clone(), id);
        self.values.push(v.clone());
        id
    }

    fn state(&mut self, v: &Option<Bytes>) -> State {
        v.as_ref().map(|v| self.id(v))
    }

    /// The value behind an id.
    pub(super) fn value(&self, id: u32) -> &Bytes {
        &self.values[id as usize]
    }

    /// The call of `op`.
    pub(super) fn call(&mut self, op: &Op) -> Call {
        match op {
            Op::Get => Call::Get,
            Op::Put(v) => Call::Put(self.id(v)),
            Op::Delete => Call::Delete,
            Op::Cas { expected, new } => Call::Cas {
                expected: self.state(expected),
                new: self.id(new),
            },
        }
    }

    /// The return of `outcome`, or `None` for a definite failure (the caller drops
    /// those: the operation was not applied, so it is not part of the history).
    pub(super) fn ret(&mut self, outcome: &Outcome) -> Option<Ret> {
        Some(match outcome {
            Outcome::Value(v) => Ret::Value(self.state(v)),
            Outcome::Stored => Ret::Stored,
            Outcome::Deleted(existed) => Ret::Deleted(*existed),
            Outcome::Cas { swapped, current } => Ret::Cas {
                swapped: *swapped,
                current: self.state(current),
            },
            Outcome::Failed(_) => return None,
            Outcome::Unknown(_) => Ret::Unknown,
        })
    }
}

/// The state after applying `call` to `state`, if the register would have answered
/// `ret`; `None` if it could not have (including a return that does not fit its call,
/// such as a get answered "stored").
pub(super) fn step(state: State, call: Call, ret: Ret) -> Option<State> {
    match (call, ret) {
        (Call::Get, Ret::Value(v)) => (v == state).then_some(state),
        (Call::Get, Ret::Unknown) => Some(state),
        (Call::Put(v), Ret::Stored | Ret::Unknown) => Some(Some(v)),
        (Call::Delete, Ret::Deleted(existed)) => (existed == state.is_some()).then_some(None),
        (Call::Delete, Ret::Unknown) => Some(None),
        (Call::Cas { expected, new }, Ret::Cas { swapped, current }) => {
            let after = if state == expected { Some(new) } else { state };
            (swapped == (state == expected) && current == after).then_some(after)
        }
        // An unanswered compare-and-set still only swaps from the expected state.
        (Call::Cas { expected, new }, Ret::Unknown) => {
            Some(if state == expected { Some(new) } else { state })
        }
        _ => None,
    }
}

/// What an operation shows about the state it saw, for minimisation: a sub-history must
/// keep a write whose effect a remaining operation observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Observes {
    Nothing,
    /// The key held this value.
    Value(u32),
    /// The key was absent.
    Absent,
    /// The key held some value.
    Present,
}

/// What `call` answered with `ret` observed.
pub(super) fn observes(call: Call, ret: Ret) -> Observes {
    let of = |s: State| s.map_or(Observes::Absent, Observes::Value);
    match (call, ret) {
        (Call::Get, Ret::Value(v)) => of(v),
        (Call::Delete, Ret::Deleted(true)) => Observes::Present,
        (Call::Delete, Ret::Deleted(false)) => Observes::Absent,
        (Call::Cas { expected, .. }, Ret::Cas { swapped: true, .. }) => of(expected),
        (Call::Cas { .. }, Ret::Cas { current, .. }) => of(current),
        _ => Observes::Nothing,
    }
}

/// What `call` answered with `ret` may have written: `Some(state)` for a write that
/// took (or may have taken) effect, `None` for one that cannot have changed the key.
pub(super) fn produces(call: Call, ret: Ret) -> Option<State> {
    match (call, ret) {
        (Call::Get, _) => None,
        (Call::Put(v), _) => Some(Some(v)),
        // Finding the key absent deletes nothing.
        (Call::Delete, Ret::Deleted(false)) => None,
        (Call::Delete, _) => Some(None),
        (Call::Cas { .. }, Ret::Cas { swapped: false, .. }) => None,
        (Call::Cas { new, .. }, _) => Some(Some(new)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_semantics() {
        let (a, b) = (0, 1);
        assert_eq!(step(None, Call::Get, Ret::Value(None)), Some(None));
        assert_eq!(step(Some(a), Call::Get, Ret::Value(None)), None);
        assert_eq!(step(None, Call::Put(a), Ret::Stored), Some(Some(a)));
        assert_eq!(step(Some(a), Call::Delete, Ret::Deleted(true)), Some(None));
        assert_eq!(step(None, Call::Delete, Ret::Deleted(true)), None);
        let cas = Call::Cas {
            expected: Some(a),
            new: b,
        };
        let swapped = Ret::Cas {
            swapped: true,
            current: Some(b),
        };
        assert_eq!(step(Some(a), cas, swapped), Some(Some(b)));
        assert_eq!(step(Some(b), cas, swapped), None);
        let refused = Ret::Cas {
            swapped: false,
            current: Some(b),
        };
        assert_eq!(step(Some(b), cas, refused), Some(Some(b)));
        assert_eq!(step(Some(a), cas, refused), None);
        assert_eq!(step(Some(a), cas, Ret::Unknown), Some(Some(b)));
        assert_eq!(step(None, cas, Ret::Unknown), Some(None));
        assert_eq!(step(None, Call::Get, Ret::Stored), None);
    }
}
