//! Part of `committed_entries_stable`: no member steps a Raft frame from a host outside
//! its group. A member answers a request (`v`, `a`, `s`) only once Raft has stepped it,
//! so an answer sent to a host that is no member of the sender's group (a rogue, or a
//! member of another group) shows that a frame from it reached Raft.
//!
//! [`committed_entries`](super::committed_entries) judges what *leaders* sent: a forged
//! AppendEntries that a follower accepted changes that follower's log, and is seen there
//! only if the follower later leads and sends the forged entries on. Found by a hostile
//! review: with the acceptor's proof check disabled, seed 12 of `rogue-peer-frames`
//! (seeds 0..13) had three members answer `a t1099511627776 ok ...` to the rogue, and every
//! check passed.

use std::collections::BTreeSet;

use protocol::peer::PeerMessage;

use super::Failure;
use crate::trace::{Message, Trace, What};

const NAME: &str = "committed_entries_stable";

/// A failure per (member, outsider) pair where the member answered a Raft request of the
/// outsider's.
pub fn check(groups: &[Vec<String>], trace: &Trace) -> Vec<Failure> {
    let group = super::group_of(groups);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for e in &trace.events {
        let What::Send {
            from,
            to,
            msg: Message::Peer(msg),
        } = &e.what
        else {
            continue;
        };
        let is_answer = matches!(
            msg,
            PeerMessage::RequestVoteReply(_)
                | PeerMessage::AppendEntriesReply(_)
                | PeerMessage::InstallSnapshotReply(_)
        );
        let Some(g) = group.get(&**from) else {
            continue;
        };
        if !is_answer || group.get(&**to) == Some(g) || !seen.insert((from.clone(), to.clone())) {
            continue;
        }
        out.push(Failure::new(
            NAME,
            format!(
                "{from} answered a Raft request from {to}, which is not a member of its \
                 group, at {:.3}s: a frame from outside the group reached Raft ({msg:?})",
                e.at.as_secs_f64()
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use protocol::peer::{AppendEntriesReply, LogIndex, Term};

    use super::*;

    fn answer(t: &mut Trace, from: &str, to: &str) {
        t.push(
            Duration::from_millis(5),
            What::Send {
                from: from.into(),
                to: to.into(),
                msg: Message::Peer(PeerMessage::AppendEntriesReply(AppendEntriesReply {
                    term: Term(1 << 40),
                    success: true,
                    last_log_index: LogIndex(40),
                    round: 1,
                })),
            },
        );
    }

    #[test]
    fn an_answer_to_an_outsider_fails_and_one_to_a_member_passes() {
        let groups = vec![
            crate::scenario::names::group_members(1, 3),
            crate::scenario::names::group_members(2, 3),
        ];
        let mut t = Trace::default();
        answer(&mut t, "n1a", "n1b");
        assert!(check(&groups, &t).is_empty());
        answer(&mut t, "n1a", "rogue2");
        answer(&mut t, "n1a", "rogue2");
        answer(&mut t, "n1b", "n2a");
        let failures = check(&groups, &t);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0]
            .detail
            .starts_with("n1a answered a Raft request from rogue2"));
        assert!(failures[1]
            .detail
            .starts_with("n1b answered a Raft request from n2a"));
    }
}
