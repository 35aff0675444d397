//! What may leave before the sync of the batch it comes from: vote requests, and answers
//! to heartbeats (`Ready::early_replies`). Sequences a second hostile review of those
//! rules tried, each pinned down here with what stops it (or, for the last, why what it
//! finds is safe).

use bytes::Bytes;
use protocol::peer::{InstallSnapshot, LogIndex, PeerId, PeerMessage, RequestVoteReply, Term};

use super::harness::{append, entry, member_with_log, replies_to_1, sent};
use crate::raft::{Raft, Ready, Role};

/// Answers to member 1, as (success, last log index).
type Answers = Vec<(bool, u64)>;

fn replies(messages: &[(PeerId, PeerMessage)]) -> Answers {
    replies_to_1(messages)
        .into_iter()
        .map(|r| (r.success, r.last_log_index.0))
        .collect()
}

/// (early, late) answers to member 1 of a `Ready`.
fn split(mut ready: Ready) -> (Answers, Answers) {
    let early = ready.take_early_messages();
    (replies(&early), replies(&ready.messages))
}

/// Attempt: a heartbeat matching a freshly truncated suffix, answered before the sync
/// that makes the truncation durable (a power loss would bring the old suffix back, and
/// the ack would then name an entry that differs from the leader's). Stopped by
/// `Outbox::durable_last` (`truncate_after.is_none()`).
#[test]
fn a_heartbeat_behind_a_truncation_waits_for_its_sync() {
    // Storage: 1:t1 2:t1 3:t1 4:t1, term 2. Leader 1 (term 2) replaces 3.. with 3:t2.
    let mut f = member_with_log(0, 3, &[1, 1, 1, 1], 2, 1);
    f.ready();
    f.step(PeerId(1), append(2, 2, 1, 0, vec![entry(2, "e")]));
    // The heartbeat names 3:t2, which is only in memory; 2 is still durable and matches.
    f.step(PeerId(1), append(2, 3, 2, 0, Vec::new()));
    f.step(PeerId(1), append(2, 2, 1, 0, Vec::new()));
    let (early, late) = split(f.ready());
    assert_eq!(early, vec![], "nothing before the truncation is durable");
    assert_eq!(late, vec![(true, 3), (true, 3), (true, 2)]);
    // Next batch: truncation handed out (durable), so now it may answer at once.
    f.step(PeerId(1), append(2, 3, 2, 0, Vec::new()));
    assert_eq!(split(f.ready()), (vec![(true, 3)], vec![]));
}

/// Attempt: a heartbeat behind a snapshot installed in the same batch (the snapshot
/// rewrites the log; before its sync, storage still holds the old suffix). Stopped by
/// `Outbox::durable_last` (`snapshot.is_none()`).
#[test]
fn a_heartbeat_behind_an_installed_snapshot_waits_for_its_sync() {
    let mut f = member_with_log(0, 3, &[1, 1, 1], 2, 1);
    f.ready();
    f.step(
        PeerId(1),
        InstallSnapshot {
            term: Term(2),
            leader: PeerId(1),
            last_included_index: LogIndex(5),
            last_included_term: Term(2),
            offset: 0,
            data: Bytes::from_static(b"state"),
            done: true,
        }
        .into(),
    );
    f.step(PeerId(1), append(2, 5, 2, 0, Vec::new()));
    f.step(PeerId(1), append(2, 2, 1, 0, Vec::new()));
    let mut ready = f.ready();
    assert!(ready.snapshot.is_some());
    assert!(replies(&ready.take_early_messages()).is_empty());
    assert_eq!(replies(&ready.messages), vec![(true, 5), (true, 2)]);
}

/// Attempt: a refusal from an *older* term (`answer_stale`, round 0) to the member that
/// then leads the current term, overtaken by an early success in the same `Ready`. Stopped
/// by `holds_refusal_to`, which looks at the peer whatever the term.
#[test]
fn an_older_terms_refusal_is_not_overtaken_by_an_early_success() {
    let mut f = member_with_log(0, 3, &[1, 1], 2, 1);
    f.ready();
    f.step(PeerId(1), append(1, 2, 1, 0, Vec::new()));
    f.step(PeerId(1), append(2, 2, 1, 0, Vec::new()));
    let (early, late) = split(f.ready());
    assert_eq!(early, vec![]);
    assert_eq!(late, vec![(false, 2), (true, 2)]);
}

/// Attempt: an early answer of a term not yet durable (a power loss would take the
/// member back to an older term, where it could vote again and elect a second leader
/// after this read round counted it). Stopped by `durable_last` (`persisted.term == term`),
/// also for a candidate that turns follower in the batch where it stood.
#[test]
fn a_candidate_of_this_batch_answers_a_heartbeat_after_its_sync() {
    let mut c = member_with_log(0, 3, &[1, 1], 1, 7);
    c.ready();
    while c.role() != Role::PreCandidate {
        c.tick();
    }
    c.ready();
    c.step(
        PeerId(2),
        RequestVoteReply {
            term: Term(2),
            vote_granted: true,
            pre_vote: true,
        }
        .into(),
    );
    assert_eq!((c.role(), c.term()), (Role::Candidate, Term(2)));
    // Member 1 won term 2 meanwhile; its heartbeat reaches us before our own sync.
    c.step(PeerId(1), append(2, 2, 1, 0, Vec::new()));
    assert_eq!(c.role(), Role::Follower);
    let (early, late) = split(c.ready());
    assert_eq!(early, vec![]);
    assert_eq!(late, vec![(true, 2)]);
}

/// Attempt (vote side): the earlier life's request named log L1; after the power loss the
/// member's log is cut by the leader of the old term to L2, *less* up to date than L1,
/// and it stands for the same term again. The stale grant (judged on L1) is counted,
/// although the same voter would refuse L2 now: `handle_vote_reply` checks only that term,
/// vote and log are durable, not that the log is the one the grant judged. Not a
/// violation: every entry committed before that term is in L1 (the voter's log held it
/// and is not ahead of L1), and the old term's leader, which holds them all, cuts
/// only entries it does not hold, so L2 holds them too. Here the voter's extra entry
/// (3:t2) is not committed: the leader of term 4 does not hold it.
#[test]
fn a_stale_grant_counts_for_a_log_the_old_terms_leader_cut_since() {
    // Member 2: storage 1:t1 2:t3, term 4. Member 1 (voter): 1:t1 2:t2 3:t2, term 4.
    let first_life = || member_with_log(2, 5, &[1, 3], 4, 12);
    let grant_pre = |c: &mut Raft, from: u32| {
        c.step(
            PeerId(from),
            RequestVoteReply {
                term: Term(5),
                vote_granted: true,
                pre_vote: true,
            }
            .into(),
        )
    };
    let campaign = |c: &mut Raft| {
        while c.role() != Role::PreCandidate {
            c.tick();
        }
        c.ready();
        grant_pre(c, 3);
        grant_pre(c, 4);
        assert_eq!((c.role(), c.term()), (Role::Candidate, Term(5)));
        c.ready()
    };
    let mut c = first_life();
    let stands = campaign(&mut c);
    let request = sent(stands)
        .into_iter()
        .find(|(to, m)| *to == PeerId(1) && matches!(m, PeerMessage::RequestVote(_)))
        .map(|(_, m)| m)
        .expect("request to 1");
    let mut b = member_with_log(1, 5, &[1, 2, 2], 4, 11);
    b.step(PeerId(2), request);
    let stale_grant = sent(b.ready());
    assert!(matches!(
        stale_grant.as_slice(),
        [(_, PeerMessage::RequestVoteReply(r))] if r.vote_granted && r.term == Term(5)
    ));

    // Power loss before the sync: term 4, log 1:t1 2:t3. The leader of term 4 (member 1
    // in this message; its log holds 2:t2) cuts 2:t3.
    let mut c = first_life();
    c.ready();
    c.step(PeerId(1), append(4, 1, 1, 0, vec![entry(2, "e")]));
    let cut = c.ready();
    assert_eq!(cut.truncate_after, Some(LogIndex(1)));
    assert_eq!((c.last_index(), c.last_term()), (LogIndex(2), Term(2)));
    let stands = campaign(&mut c);
    let fresh_request = sent(stands)
        .into_iter()
        .find(|(to, _)| *to == PeerId(1))
        .map(|(_, m)| m)
        .expect("request to 1");
    // The voter, judging this life's request on its own log, refuses it.
    let mut b_now = member_with_log(1, 5, &[1, 2, 2], 4, 11);
    b_now.step(PeerId(2), fresh_request);
    assert!(matches!(
        sent(b_now.ready()).as_slice(),
        [(_, PeerMessage::RequestVoteReply(r))] if !r.vote_granted
    ));
    // The stale grant counts: with member 3's fresh grant, member 2 leads term 5 on L2.
    for (_, m) in stale_grant {
        c.step(PeerId(1), m);
    }
    c.step(
        PeerId(3),
        RequestVoteReply {
            term: Term(5),
            vote_granted: true,
            pre_vote: false,
        }
        .into(),
    );
    assert_eq!((c.role(), c.term()), (Role::Leader, Term(5)));
}
