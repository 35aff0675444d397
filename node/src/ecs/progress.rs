//! What the ECS heard of the hand-off of the join in progress (`progress <acked> <total>`),
//! and from when that join's deadline counts.

use tokio::time::Instant;

/// The furthest a join's hand-off got, as its sender said, and when it got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Headway {
    join: u64,
    acked: u32,
    total: u32,
    at: Instant,
}

/// The last headway of one join (the ECS runs one at a time).
#[derive(Debug, Default)]
pub(crate) struct ProgressLog {
    last: Option<Headway>,
}

impl ProgressLog {
    /// Takes a sender's report for `join` at `now`; says whether it was headway: more
    /// parts acknowledged than the last count heard for that join (any parts, for a join
    /// not heard of yet). Fewer parts is a new sender leader resuming from what its log
    /// recorded: not headway (a leader restarted while the newcomer was down must not keep
    /// the lock), but the new count is what its next report is weighed against, so its
    /// next acknowledged part is headway (a hostile review: a leader cut from its followers
    /// reported 31 of 37 parts, its successor resumed at 24, and the join was abandoned
    /// while the successor moved on, since only counts above 31 moved the deadline). A
    /// repeat moves nothing, so a stuck hand-off's lock is still let go.
    pub(crate) fn note(&mut self, join: u64, acked: u32, total: u32, now: Instant) -> bool {
        match self.last.as_mut().filter(|last| last.join == join) {
            Some(last) if acked <= last.acked => {
                last.acked = acked;
                last.total = total;
                false
            }
            None if acked == 0 => false,
            _ => {
                self.last = Some(Headway {
                    join,
                    acked,
                    total,
                    at: now,
                });
                true
            }
        }
    }

    /// When the hand-off of `join` last moved, if it ever reported headway.
    pub(crate) fn moved_at(&self, join: u64) -> Option<Instant> {
        self.last.filter(|h| h.join == join).map(|h| h.at)
    }

    /// `"<acked>/<total>"` of `join`'s last headway, for `status`.
    pub(crate) fn parts(&self, join: u64) -> Option<String> {
        self.last
            .filter(|h| h.join == join)
            .map(|h| format!("{}/{}", h.acked, h.total))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_more_parts_than_the_last_count_of_the_same_join_move_its_deadline() {
        let t0 = Instant::now();
        let later = |s| t0 + Duration::from_secs(s);
        let mut log = ProgressLog::default();
        assert!(
            !log.note(5, 0, 60, t0),
            "nothing acknowledged is no headway"
        );
        assert_eq!(log.moved_at(5), None);
        assert!(log.note(5, 8, 60, later(1)));
        assert_eq!(log.moved_at(5), Some(later(1)));
        // A repeat keeps the old time.
        assert!(!log.note(5, 8, 60, later(2)));
        assert_eq!(log.moved_at(5), Some(later(1)));
        // Fewer parts: a new leader resumed from its log, which is no headway; its next
        // part is, though still below the old leader's count.
        assert!(!log.note(5, 3, 60, later(3)));
        assert!(!log.note(5, 3, 60, later(4)));
        assert_eq!(log.moved_at(5), Some(later(1)));
        assert_eq!(log.parts(5).as_deref(), Some("3/60"));
        assert!(log.note(5, 4, 60, later(5)));
        assert_eq!(log.moved_at(5), Some(later(5)));
        assert_eq!(log.parts(5).as_deref(), Some("4/60"));
        // Another join's headway says nothing of this one.
        assert_eq!(log.moved_at(6), None);
        assert!(log.note(6, 1, 10, later(6)));
        assert_eq!(log.moved_at(5), None);
        assert_eq!(log.moved_at(6), Some(later(6)));
    }
}
