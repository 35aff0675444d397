//! Read access to the log for the application's storage (compaction rewrites the stored
//! log from these).

use protocol::peer::{Entry, LogIndex, Term};

use super::{log, Raft};

impl Raft {
    /// The term of the entry at `index`, if the log (or its snapshot base) still has it.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        self.log.term_at(index)
    }

    /// Every entry after `index` that the log holds, in order.
    pub fn entries_after(&self, index: LogIndex) -> Vec<(LogIndex, Entry)> {
        let last = self.log.last_index();
        if index >= last {
            return Vec::new();
        }
        self.log.range(log::next(index), last)
    }
}
