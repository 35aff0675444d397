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
    /// parts acknowledged than last heard for that join (any for a join not heard of yet).
    /// Only headway moves the deadline, so a sender that repeats itself (a new leader
    /// resuming after the parts its log recorded) cannot keep a stuck hand-off's lock.
    pub(crate) fn note(&mut self, join: u64, acked: u32, total: u32, now: Instant) -> bool {
        let moved = match self.last {
            Some(last) if last.join == join => acked > last.acked,
            _ => acked > 0,
        };
        if moved {
            self.last = Some(Headway {
                join,
                acked,
                total,
                at: now,
            });
        }
        moved
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
    fn only_more_parts_of_the_same_join_move_its_deadline() {
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
        // A repeat, or fewer parts (a report overtaken on the wire), keeps the old time.
        assert!(!log.note(5, 8, 60, later(2)));
        assert!(!log.note(5, 3, 60, later(3)));
        assert_eq!(log.moved_at(5), Some(later(1)));
        assert!(log.note(5, 9, 60, later(4)));
        assert_eq!(log.moved_at(5), Some(later(4)));
        assert_eq!(log.parts(5).as_deref(), Some("9/60"));
        // Another join's headway says nothing of this one.
        assert_eq!(log.moved_at(6), None);
        assert!(log.note(6, 1, 10, later(5)));
        assert_eq!(log.moved_at(5), None);
        assert_eq!(log.moved_at(6), Some(later(5)));
    }
}
