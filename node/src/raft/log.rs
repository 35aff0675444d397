//! The in-memory Raft log: the entries after a snapshot base.
//!
//! The log holds `(base_index, base_term)`, the position the latest snapshot stands for
//! (`(0, 0)` without one), and the entries at `base_index + 1 ..= last_index`. It owns
//! index arithmetic and nothing else: it does not know what is committed, durable or
//! applied, and it never talks to storage (the `Ready` bookkeeping in `ready.rs` does).

use protocol::peer::{Entry, LogIndex, Term};

use super::types::SnapshotMeta;

/// `index + 1`.
pub(super) fn next(index: LogIndex) -> LogIndex {
    LogIndex(index.0.saturating_add(1))
}

/// `index - 1`, stopping at 0.
pub(super) fn prev(index: LogIndex) -> LogIndex {
    LogIndex(index.0.saturating_sub(1))
}

/// Entries after a snapshot base. See the module docs.
#[derive(Debug, Clone, Default)]
pub(super) struct Log {
    base: SnapshotMeta,
    entries: Vec<Entry>,
}

impl Log {
    /// A log with base `base` (or `(0, 0)`) followed by `entries`.
    pub(super) fn new(base: Option<SnapshotMeta>, entries: Vec<Entry>) -> Log {
        Log {
            base: base.unwrap_or_default(),
            entries,
        }
    }

    /// The snapshot position the log starts after.
    pub(super) fn base(&self) -> SnapshotMeta {
        self.base
    }

    /// The index of the last entry (the base index if there are none).
    pub(super) fn last_index(&self) -> LogIndex {
        LogIndex(self.base.index.0 + self.entries.len() as u64)
    }

    /// The term of the last entry (the base term if there are none).
    pub(super) fn last_term(&self) -> Term {
        self.entries.last().map_or(self.base.term, |e| e.term)
    }

    /// Position of `index` in `entries`, if the log holds it.
    fn pos(&self, index: LogIndex) -> Option<usize> {
        if index <= self.base.index || index > self.last_index() {
            return None;
        }
        usize::try_from(index.0 - self.base.index.0 - 1).ok()
    }

    /// The term of the entry at `index`: known for the base and every entry after it,
    /// `None` below the base (compacted) or past the end.
    pub(super) fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == self.base.index {
            return Some(self.base.term);
        }
        self.pos(index).map(|p| self.entries[p].term)
    }

    /// The entry at `index`, if the log holds it.
    #[cfg(test)]
    pub(super) fn entry(&self, index: LogIndex) -> Option<&Entry> {
        self.pos(index).map(|p| &self.entries[p])
    }

    /// The entries from `from` to `to` inclusive that the log holds, with their indices.
    pub(super) fn range(&self, from: LogIndex, to: LogIndex) -> Vec<(LogIndex, Entry)> {
        let from = from.max(next(self.base.index));
        let to = to.min(self.last_index());
        if from > to {
            return Vec::new();
        }
        let (Some(lo), Some(_)) = (self.pos(from), self.pos(to)) else {
            return Vec::new();
        };
        self.entries[lo..]
            .iter()
            .take((to.0 - from.0 + 1) as usize)
            .zip(from.0..)
            .map(|(e, i)| (LogIndex(i), e.clone()))
            .collect()
    }

    /// Up to `max_count` entries from `from` on whose data add up to at most `max_bytes`,
    /// but always the first one if there is one (an entry larger than the budget must
    /// still be replicated).
    pub(super) fn batch(&self, from: LogIndex, max_count: usize, max_bytes: usize) -> Vec<Entry> {
        let Some(lo) = self.pos(from) else {
            return Vec::new();
        };
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for e in self.entries[lo..].iter().take(max_count) {
            bytes = bytes.saturating_add(e.data.len());
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        out
    }

    /// Appends `entry` at `last_index + 1` and returns that index.
    pub(super) fn append(&mut self, entry: Entry) -> LogIndex {
        self.entries.push(entry);
        self.last_index()
    }

    /// Drops every entry after `index` (`index` at or after the base).
    pub(super) fn truncate_after(&mut self, index: LogIndex) {
        let keep = index.0.saturating_sub(self.base.index.0);
        self.entries
            .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
    }

    /// Makes `index` (which the log holds, with term `term_at(index)`) the new base: drops
    /// the entries up to it and keeps the ones after it.
    pub(super) fn compact_to(&mut self, index: LogIndex) {
        let Some(term) = self.term_at(index) else {
            return;
        };
        let drop = (index.0 - self.base.index.0) as usize;
        self.entries.drain(..drop);
        self.base = SnapshotMeta { index, term };
    }

    /// Replaces the whole log with an empty one based at `base`.
    pub(super) fn reset(&mut self, base: SnapshotMeta) {
        self.entries.clear();
        self.base = base;
    }

    /// Whether a log ending at `(last_index, last_term)` is at least as up to date as this
    /// one (Raft §5.4.1): a later last term wins, then a longer log.
    pub(super) fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn e(term: u64, data: &str) -> Entry {
        Entry {
            term: Term(term),
            data: Bytes::copy_from_slice(data.as_bytes()),
        }
    }

    #[test]
    fn empty_log_is_at_zero() {
        let log = Log::new(None, Vec::new());
        assert_eq!(log.last_index(), LogIndex(0));
        assert_eq!(log.last_term(), Term(0));
        assert_eq!(log.term_at(LogIndex(0)), Some(Term(0)));
        assert_eq!(log.term_at(LogIndex(1)), None);
        assert!(log.range(LogIndex(1), LogIndex(5)).is_empty());
    }

    #[test]
    fn indices_follow_the_base() {
        let base = SnapshotMeta {
            index: LogIndex(10),
            term: Term(3),
        };
        let mut log = Log::new(Some(base), vec![e(3, "a"), e(4, "b")]);
        assert_eq!(log.last_index(), LogIndex(12));
        assert_eq!(log.term_at(LogIndex(9)), None);
        assert_eq!(log.term_at(LogIndex(10)), Some(Term(3)));
        assert_eq!(log.term_at(LogIndex(12)), Some(Term(4)));
        assert_eq!(
            log.entry(LogIndex(11)).map(|e| e.data.clone()),
            Some("a".into())
        );
        assert_eq!(log.append(e(4, "c")), LogIndex(13));
        let got: Vec<u64> = log
            .range(LogIndex(1), LogIndex(99))
            .iter()
            .map(|(i, _)| i.0)
            .collect();
        assert_eq!(got, vec![11, 12, 13]);
        log.truncate_after(LogIndex(11));
        assert_eq!(log.last_index(), LogIndex(11));
        log.compact_to(LogIndex(11));
        assert_eq!(log.base().index, LogIndex(11));
        assert_eq!(log.last_term(), Term(3));
        assert_eq!(log.last_index(), LogIndex(11));
    }

    #[test]
    fn compaction_keeps_the_suffix() {
        let mut log = Log::new(None, vec![e(1, "a"), e(1, "b"), e(2, "c")]);
        log.compact_to(LogIndex(2));
        assert_eq!(log.base().term, Term(1));
        assert_eq!(log.term_at(LogIndex(3)), Some(Term(2)));
        assert_eq!(log.term_at(LogIndex(1)), None);
        log.compact_to(LogIndex(7)); // not held: ignored
        assert_eq!(log.base().index, LogIndex(2));
    }

    #[test]
    fn batches_respect_both_limits_but_send_one() {
        let log = Log::new(None, vec![e(1, "aaaa"), e(1, "bbbb"), e(1, "cccc")]);
        assert_eq!(log.batch(LogIndex(1), 10, 8).len(), 2);
        assert_eq!(log.batch(LogIndex(1), 10, 1).len(), 1);
        assert_eq!(log.batch(LogIndex(2), 1, 100).len(), 1);
        assert!(log.batch(LogIndex(4), 10, 100).is_empty());
    }

    #[test]
    fn up_to_date_compares_term_then_length() {
        let log = Log::new(None, vec![e(1, ""), e(2, "")]);
        assert!(log.is_up_to_date(LogIndex(2), Term(2)));
        assert!(log.is_up_to_date(LogIndex(1), Term(3)));
        assert!(!log.is_up_to_date(LogIndex(5), Term(1)));
        assert!(!log.is_up_to_date(LogIndex(1), Term(2)));
    }
}
