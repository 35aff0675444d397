//! Exhaustive tests of the join machines, without I/O: every interleaving of progress
//! and faults up to a bound, with the protocol's invariants checked at every output.

mod coordinator;
mod sender;

use std::rc::Rc;

/// The moves taken so far, for failure messages: shared by every path that continues
/// it, so exploring a branch costs no copy of it.
#[derive(Debug, Clone)]
struct Trail<T>(Option<Rc<(T, Trail<T>)>>);

impl<T> Default for Trail<T> {
    fn default() -> Self {
        Trail(None)
    }
}

impl<T: std::fmt::Debug> Trail<T> {
    fn push(&mut self, step: T) {
        let prev = std::mem::take(self);
        *self = Trail(Some(Rc::new((step, prev))));
    }

    /// The moves, first first, one a line.
    fn join(&self, sep: &str) -> String {
        let mut steps = Vec::new();
        let mut at = &self.0;
        while let Some(node) = at {
            steps.push(format!("{:?}", node.0));
            at = &node.1 .0;
        }
        steps.reverse();
        steps.join(sep)
    }
}

/// A fingerprint of a model state (its `Debug` form, which holds no unordered map), so an
/// explorer counts the paths below a state it has seen before instead of walking them
/// again: the paths and the checks along them depend only on the state.
fn fingerprint(parts: &[&dyn std::fmt::Debug]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        format!("{p:?}").hash(&mut h);
    }
    h.finish()
}
