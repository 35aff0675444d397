//! `appends_not_resent`: replication wastes no bandwidth. A leader never sends a follower
//! an entry it already sent that follower in the same term, unless the follower refused an
//! `AppendEntries` in between (its log did not match, or it lost what was sent: that
//! refusal is how the leader learns of the loss) or a snapshot transfer restarted it.
//!
//! A leader that resent entries still in flight on every heartbeat or read round (what
//! this code did before flow control) multiplied its traffic under load without anyone
//! noticing: every other check passes, since a follower takes an entry it holds twice
//! without harm. Judged from the wire: `AppendEntries` frames written between members of
//! one group, and the refusals the leader read.
//!
//! The wire shows when a refusal was read, not when the leader's core stepped it: a leader
//! busy with a slow sync reads the refusal and then writes frames it had produced before
//! (explore found one, seed 27 of review-retry-ecs-crash-in-stretched-transfer-range). So
//! after a refusal, the first `AppendEntries` without entries whose previous index lies
//! below what was sent since (the probe the refusal caused) marks where the leader
//! restarted: entries after it may be sent again.

use std::collections::{BTreeMap, BTreeSet};

use protocol::peer::{PeerMessage, Term};

use super::Failure;
use crate::trace::{Message, Trace, What};

const NAME: &str = "appends_not_resent";

/// A failure per (leader, follower, term) that saw an entry sent twice without a refusal
/// in between (the first such frame).
pub fn check(groups: &[Vec<String>], trace: &Trace) -> Vec<Failure> {
    let group = super::group_of(groups);
    // (leader, follower, term) -> highest index sent since the follower's last refusal.
    let mut sent: BTreeMap<(&str, &str, Term), u64> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    // (leader, follower) pairs with a refusal read and its probe not yet seen.
    let mut refused: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut out = Vec::new();
    for e in &trace.events {
        match &e.what {
            What::Send {
                from,
                to,
                msg: Message::Peer(msg),
            } => {
                if !super::same_group(&group, from, to) {
                    continue;
                }
                match msg {
                    PeerMessage::AppendEntries(a) if !a.entries.is_empty() => {
                        let first = a.prev_log_index.0 + 1;
                        let last = a.prev_log_index.0 + a.entries.len() as u64;
                        let key = (&**from, &**to, a.term);
                        let high = sent.entry(key).or_insert(0);
                        if first <= *high && reported.insert(key) {
                            out.push(Failure::new(
                                NAME,
                                format!(
                                    "{from} sent {to} entries {first}..={last} of term {} at \
                                     {:.3}s, though it had already sent it entries up to {} \
                                     and {to} had refused nothing since",
                                    a.term.0,
                                    e.at.as_secs_f64(),
                                    *high
                                ),
                            ));
                        }
                        *high = (*high).max(last);
                    }
                    PeerMessage::AppendEntries(a) => {
                        let key = (&**from, &**to, a.term);
                        if let Some(high) = sent.get_mut(&key) {
                            if a.prev_log_index.0 < *high && refused.remove(&(&**from, &**to)) {
                                *high = a.prev_log_index.0;
                            }
                        }
                    }
                    PeerMessage::InstallSnapshot(s) => {
                        sent.remove(&(&**from, &**to, s.term));
                    }
                    _ => {}
                }
            }
            What::Recv {
                host,
                from,
                msg: Message::Peer(PeerMessage::AppendEntriesReply(r)),
            } if !r.success => {
                sent.retain(|(l, f, _), _| !(*l == &**host && *f == &**from));
                refused.insert((&**host, &**from));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use protocol::peer::{AppendEntries, AppendEntriesReply, Entry, LogIndex, PeerId};

    use super::*;

    fn groups() -> Vec<Vec<String>> {
        vec![vec!["a".into(), "b".into(), "c".into()]]
    }

    /// `from` sends `to` entries `prev+1..=prev+n` of term 1.
    fn append(trace: &mut Trace, from: &str, to: &str, prev: u64, n: usize) {
        let entry = Entry {
            term: Term(1),
            data: bytes::Bytes::new(),
        };
        let msg = PeerMessage::AppendEntries(AppendEntries {
            term: Term(1),
            leader: PeerId(0),
            prev_log_index: LogIndex(prev),
            prev_log_term: Term(1),
            leader_commit: LogIndex(0),
            entries: vec![entry; n],
            round: 0,
        });
        trace.push(
            Duration::ZERO,
            What::Send {
                from: from.into(),
                to: to.into(),
                msg: Message::Peer(msg),
            },
        );
    }

    fn refusal(trace: &mut Trace, leader: &str, from: &str) {
        let msg = PeerMessage::AppendEntriesReply(AppendEntriesReply {
            term: Term(1),
            success: false,
            last_log_index: LogIndex(0),
            round: 0,
        });
        trace.push(
            Duration::ZERO,
            What::Recv {
                host: leader.into(),
                from: from.into(),
                msg: Message::Peer(msg),
            },
        );
    }

    #[test]
    fn pipelined_entries_and_other_followers_are_not_resends() {
        let mut t = Trace::default();
        append(&mut t, "a", "b", 0, 2);
        append(&mut t, "a", "b", 2, 3);
        append(&mut t, "a", "c", 0, 5);
        append(&mut t, "a", "b", 5, 0); // a heartbeat
        assert_eq!(check(&groups(), &t), []);
    }

    #[test]
    fn an_entry_sent_twice_without_a_refusal_fails_once() {
        let mut t = Trace::default();
        append(&mut t, "a", "b", 0, 2);
        append(&mut t, "a", "b", 1, 2);
        append(&mut t, "a", "b", 1, 2);
        let failures = check(&groups(), &t);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].detail.contains("entries 2..=3"), "{failures:?}");
    }

    #[test]
    fn a_refusal_allows_sending_again() {
        let mut t = Trace::default();
        append(&mut t, "a", "b", 0, 2);
        refusal(&mut t, "a", "b");
        append(&mut t, "a", "b", 0, 2);
        assert_eq!(check(&groups(), &t), []);
        // A refusal from another follower does not.
        refusal(&mut t, "a", "c");
        append(&mut t, "a", "b", 1, 1);
        assert_eq!(check(&groups(), &t).len(), 1);
    }

    /// A leader busy with a sync reads a refusal, then writes a heartbeat and an entry it
    /// had produced before stepping it, then the probe the refusal caused: the entries
    /// after the probe's index may go again.
    #[test]
    fn frames_written_after_a_refusal_but_made_before_it_are_not_held_against_the_probe() {
        let mut t = Trace::default();
        append(&mut t, "a", "b", 0, 8);
        refusal(&mut t, "a", "b");
        append(&mut t, "a", "b", 8, 0);
        append(&mut t, "a", "b", 8, 1);
        append(&mut t, "a", "b", 2, 0); // the probe
        append(&mut t, "a", "b", 2, 7);
        assert_eq!(check(&groups(), &t), []);
        // Without a refusal, going back to probe does not excuse the resend.
        append(&mut t, "a", "b", 3, 0);
        append(&mut t, "a", "b", 3, 6);
        assert_eq!(check(&groups(), &t).len(), 1);
    }
}
