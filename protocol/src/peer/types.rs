//! The identifiers Raft passes around: [`Term`], [`LogIndex`] and [`PeerId`].
//!
//! They are plain newtypes so that a term can never be handed where an index is expected.
//! This file owns only the types and their wire width; what the numbers mean is the Raft
//! core's business (the `node` crate reuses these types).

use std::fmt;

/// A Raft term: the number of the election epoch a message was sent in.
///
/// Eight bytes (UInt64, big-endian) on the peer wire. Term 0 is the term before any election.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(pub u64);

/// The position of an entry in a Raft log; the first entry has index 1, and index 0 means
/// "before the first entry" (an empty log, or `prev_log_index` of the first entry).
///
/// Eight bytes (UInt64, big-endian) on the peer wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogIndex(pub u64);

/// The global id of a node, the same number the client protocol carries as an Int32.
///
/// Four bytes (UInt32, big-endian) on the peer wire. The peer format accepts the full
/// `u32` range, but ids above `i32::MAX` cannot be shown to clients, so the cluster
/// configuration should never hand them out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_bare_number() {
        assert_eq!(Term(7).to_string(), "7");
        assert_eq!(LogIndex(u64::MAX).to_string(), u64::MAX.to_string());
        assert_eq!(PeerId(3).to_string(), "3");
    }

    #[test]
    fn order_follows_the_number() {
        assert!(Term(1) < Term(2));
        assert!(LogIndex(9) < LogIndex(10));
        assert!(PeerId(0) < PeerId(u32::MAX));
    }
}
