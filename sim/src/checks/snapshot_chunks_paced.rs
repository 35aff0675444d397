//! `snapshot_chunks_paced`: a snapshot transfer wastes no bandwidth. A leader sends a
//! follower the snapshot chunk in flight again at most once per heartbeat interval, while
//! the chunk goes unanswered (its copy or its answer may have been lost).
//!
//! Every copy of a chunk gets an answer. A leader that sent the chunk asked for on every
//! answer, and resent the chunk in flight on every heartbeat, kept one more copy of every
//! later chunk circulating per heartbeat: a hand-off of 64 KiB values sent over a
//! thousand copies of each chunk (3.8 GB in 35 simulated seconds), and every other check
//! passed, since a follower takes a chunk it holds without harm.
//!
//! Judged from the wire: the `InstallSnapshot` frames written between members of one
//! group, and the frames the leader read from the follower. Consecutive frames from a
//! leader to a follower with the same term, snapshot and offset form a run. At a frame
//! written at `t`, the run may hold `2 + 2 * floor(quiet / interval)` frames, `quiet`
//! running to `t` from the run's first frame or, if earlier, from the last answer to a
//! chunk (`InstallSnapshotReply`) the leader read from the follower before that frame.
//! Frames are written later than made: a leader held up by a slow sync writes the frame it
//! made before and the resend it made after together, and frames made while the
//! connection to the follower is being dialled (a held link) are written together once it
//! connects. Then the leader read no answer from the follower meanwhile;
//! in a storm it reads the follower's answers all the time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use protocol::peer::{LogIndex, PeerMessage, Term};

use super::Failure;
use crate::trace::{Message, Trace, What};

const NAME: &str = "snapshot_chunks_paced";

/// The run of copies of one chunk a leader is sending one follower.
struct Run {
    /// The chunk: term, snapshot index, offset.
    chunk: (Term, LogIndex, u64),
    /// When its first copy was written.
    first: Duration,
    /// Where its quiet begins: its first copy, or the leader's last answer from the
    /// follower before it if earlier.
    quiet_from: Duration,
    /// Copies written so far.
    copies: u64,
}

/// A failure per (leader, follower) whose chunk went out more often than its heartbeat
/// interval allows (the first such frame).
pub fn check(groups: &[Vec<String>], trace: &Trace, interval: Duration) -> Vec<Failure> {
    let group = super::group_of(groups);
    let mut runs: BTreeMap<(&str, &str), Run> = BTreeMap::new();
    // (leader, follower) -> when the leader last read an answer to a chunk from the
    // follower. Only those: a reconnection's handshake, or frames the follower sent into
    // a held link, arrive just before the frames queued while dialling are written.
    let mut heard: BTreeMap<(&str, &str), Duration> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    let mut out = Vec::new();
    let interval_ns = interval.as_nanos().max(1);
    for e in &trace.events {
        let (from, to, s) = match &e.what {
            What::Recv {
                host,
                from,
                msg: Message::Peer(PeerMessage::InstallSnapshotReply(_)),
            } => {
                heard.insert((&**host, &**from), e.at);
                continue;
            }
            What::Send {
                from,
                to,
                msg: Message::Peer(PeerMessage::InstallSnapshot(s)),
            } => (from, to, s),
            _ => continue,
        };
        if !super::same_group(&group, from, to) {
            continue;
        }
        let chunk = (s.term, s.last_included_index, s.offset);
        let key = (&**from, &**to);
        // Answers read once the run began do not shorten its quiet: a restarted follower's
        // answers can be read just before a resend made a heartbeat interval after copies
        // that were queued while the link was dialled (found by the hostile review of
        // 1748e26: a correct leader failed).
        let start = || Run {
            chunk,
            first: e.at,
            quiet_from: heard.get(&key).copied().unwrap_or_default().min(e.at),
            copies: 0,
        };
        let run = runs.entry(key).or_insert_with(start);
        if run.chunk != chunk {
            *run = start();
        }
        run.copies += 1;
        let intervals = (e.at.saturating_sub(run.quiet_from).as_nanos() / interval_ns) as u64;
        let allowed = 2 + 2 * intervals;
        if run.copies > allowed && reported.insert(key) {
            out.push(Failure::new(
                NAME,
                format!(
                    "{from} sent {to} the chunk at offset {} of its snapshot at index {} (term \
                     {}) {} times from {:.3}s to {:.3}s, more than {allowed} for {} heartbeat \
                     interval(s) of {interval:?} (quiet from {:.3}s: its last answer from \
                     {to} before the first)",
                    s.offset,
                    s.last_included_index.0,
                    s.term.0,
                    run.copies,
                    run.first.as_secs_f64(),
                    e.at.as_secs_f64(),
                    intervals,
                    run.quiet_from.as_secs_f64(),
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use protocol::peer::{InstallSnapshot, InstallSnapshotReply, PeerId};

    use super::*;

    const INTERVAL: Duration = Duration::from_millis(100);

    fn groups() -> Vec<Vec<String>> {
        vec![vec!["a".into(), "b".into(), "c".into()]]
    }

    /// `from` writes `to` the chunk at `offset` of the snapshot at index 10, at `ms`.
    fn chunk(trace: &mut Trace, ms: u64, from: &str, to: &str, offset: u64) {
        let msg = PeerMessage::InstallSnapshot(InstallSnapshot {
            term: Term(1),
            leader: PeerId(0),
            last_included_index: LogIndex(10),
            last_included_term: Term(1),
            offset,
            data: Bytes::from_static(b"chunk"),
            done: false,
        });
        trace.push(
            Duration::from_millis(ms),
            What::Send {
                from: from.into(),
                to: to.into(),
                msg: Message::Peer(msg),
            },
        );
    }

    #[test]
    fn a_chunk_resent_once_per_interval_passes() {
        let mut t = Trace::default();
        for k in 0..10 {
            chunk(&mut t, 100 * k, "a", "b", 0);
        }
        chunk(&mut t, 1_000, "a", "b", 5);
        // Made before and after a slow sync: written together.
        chunk(&mut t, 1_500, "a", "b", 10);
        chunk(&mut t, 1_500, "a", "b", 10);
        assert!(check(&groups(), &t, INTERVAL).is_empty());
    }

    /// `from` reads a frame (an `InstallSnapshotReply`) from `peer`, at `ms`.
    fn heard(trace: &mut Trace, ms: u64, host: &str, peer: &str) {
        let msg = PeerMessage::InstallSnapshotReply(InstallSnapshotReply {
            term: Term(1),
            next_offset: 5,
        });
        trace.push(
            Duration::from_millis(ms),
            What::Recv {
                host: host.into(),
                from: peer.into(),
                msg: Message::Peer(msg),
            },
        );
    }

    #[test]
    fn copies_made_while_the_follower_was_silent_may_arrive_together() {
        let mut t = Trace::default();
        heard(&mut t, 100, "a", "b");
        // Made at heartbeats while a held link was dialled, written once it connected.
        for _ in 0..5 {
            chunk(&mut t, 700, "a", "b", 5);
        }
        assert!(check(&groups(), &t, INTERVAL).is_empty());
    }

    #[test]
    fn answers_read_during_a_run_do_not_shorten_its_quiet() {
        // The review's case: last answer at 530 ms, the follower restarts; two copies made
        // while the link was dialled are written at 870 ms; the restarted follower's
        // answers (asking for 0) are read at 950 ms, just before the heartbeat's resend.
        let mut t = Trace::default();
        heard(&mut t, 530, "a", "b");
        chunk(&mut t, 870, "a", "b", 5);
        chunk(&mut t, 870, "a", "b", 5);
        heard(&mut t, 950, "a", "b");
        chunk(&mut t, 950, "a", "b", 5);
        assert!(check(&groups(), &t, INTERVAL).is_empty());
    }

    #[test]
    fn copies_of_a_chunk_faster_than_heartbeats_fail() {
        let mut t = Trace::default();
        chunk(&mut t, 0, "a", "b", 0);
        for k in 0..3 {
            // Each copy answers an answer from the follower (a storm).
            heard(&mut t, 250 + k, "a", "b");
            chunk(&mut t, 250 + k, "a", "b", 5);
        }
        let failures = check(&groups(), &t, INTERVAL);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].detail.contains("3 times"), "{}", failures[0]);
        // Other followers and other groups' hosts are judged apart.
        let mut t = Trace::default();
        chunk(&mut t, 0, "a", "b", 0);
        chunk(&mut t, 0, "a", "c", 0);
        chunk(&mut t, 0, "a", "b", 0);
        chunk(&mut t, 0, "a", "c", 0);
        chunk(&mut t, 0, "a", "x", 0);
        chunk(&mut t, 0, "a", "x", 0);
        chunk(&mut t, 0, "a", "x", 0);
        assert!(check(&groups(), &t, INTERVAL).is_empty());
    }
}
