//! Replication: repairing a follower whose uncommitted entries conflict, the follower's
//! backtracking hint, batching limits, and dropping bad or stale input.

use bytes::Bytes;
use protocol::peer::{
    AppendEntriesReply, Hello, LogIndex, PeerId, PeerMessage, RequestVote, RequestVoteReply, Term,
};

use super::harness::{append, entry, ids, member_with_log, replies_to_1, sent, Cluster, ROUND};
use crate::io::Rng;
use crate::raft::{HardState, Raft, RaftConfig, Recovered, Role};

/// A follower (member 0 of 0..3) with the given log and term.
fn follower(terms: &[u64], term: u64) -> Raft {
    member_with_log(0, 3, terms, term, 3)
}

fn only_reply(raft: &mut Raft) -> AppendEntriesReply {
    match sent(raft.ready()).as_slice() {
        [(PeerId(1), PeerMessage::AppendEntriesReply(r))] => *r,
        other => panic!("expected one AppendEntriesReply to 1, got {other:?}"),
    }
}

#[test]
fn conflicting_uncommitted_entries_are_truncated() {
    for seed in 0..10 {
        let mut c = Cluster::new(3, seed);
        let old = c.elect(200);
        assert!(c.propose(old, "committed").is_some());
        c.run(3);
        c.isolate(old);
        for k in 0..3 {
            assert!(c.propose(old, &format!("doomed{k}")).is_some());
        }
        let others: Vec<PeerId> = ids(3).into_iter().filter(|id| *id != old).collect();
        assert!(c.run_until(300, |c| c.leaders().iter().any(|l| others.contains(l))));
        let new = c
            .leaders()
            .into_iter()
            .find(|l| others.contains(l))
            .expect("new");
        assert!(c.propose(new, "winner1").is_some());
        assert!(c.propose(new, "winner2").is_some());
        c.run(3);
        c.heal();
        c.run(60);
        let expected: Vec<Bytes> = ["committed", "winner1", "winner2"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        for id in ids(3) {
            assert_eq!(c.nodes[&id].app.commands(), expected, "seed {seed}: {id}");
            assert_eq!(c.stored(id).entries, c.stored(new).entries);
        }
        assert!(c.nodes[&old].truncations > 0, "seed {seed}");
        assert_eq!(c.raft(old).leader(), Some(new));
    }
}

#[test]
fn follower_hint_skips_a_conflicting_term() {
    // Our entries 3..=5 are of term 3; the leader's entry 5 has term 2, so none of ours
    // from term 3 can match: the hint is 2.
    let mut f = follower(&[1, 1, 3, 3, 3], 3);
    f.step(PeerId(1), append(4, 5, 2, 0, Vec::new()));
    let r = only_reply(&mut f);
    assert_eq!((r.success, r.last_log_index), (false, LogIndex(2)));
    assert_eq!(f.term(), Term(4));
    assert_eq!(f.leader(), Some(PeerId(1)));

    // A log shorter than prev: the hint is our last index.
    let mut f = follower(&[1, 1], 1);
    f.step(PeerId(1), append(2, 7, 1, 0, Vec::new()));
    assert_eq!(only_reply(&mut f).last_log_index, LogIndex(2));

    // Then the match, the conflicting suffix replaced, and the commit index capped by what
    // the message proved to match.
    let mut f = follower(&[1, 1, 3, 3, 3], 3);
    f.step(
        PeerId(1),
        append(4, 2, 1, 9, vec![entry(2, "a"), entry(2, "b")]),
    );
    let r = only_reply(&mut f);
    assert_eq!((r.success, r.last_log_index), (true, LogIndex(4)));
    assert_eq!(f.last_index(), LogIndex(4));
    assert_eq!(f.commit_index(), LogIndex(4));
    let ready = f.ready();
    assert_eq!(ready.truncate_after, None, "already drained with the reply");
    assert_eq!(f.log.entry(LogIndex(3)).map(|e| e.term), Some(Term(2)));
}

#[test]
fn ready_reports_the_truncation_before_the_new_entries() {
    let mut f = follower(&[1, 1, 3, 3, 3], 3);
    f.step(PeerId(1), append(4, 2, 1, 0, vec![entry(4, "x")]));
    let ready = f.ready();
    assert_eq!(ready.truncate_after, Some(LogIndex(2)));
    assert_eq!(ready.entries, vec![(LogIndex(3), entry(4, "x"))]);
    assert_eq!(
        ready.hard_state,
        Some(HardState {
            term: Term(4),
            voted_for: None
        })
    );
}

#[test]
fn bad_and_stale_input_is_dropped_or_answered() {
    let mut f = follower(&[1, 1], 2);
    // From a non-member, from itself, with a lying sender field, or a hello: nothing.
    f.step(PeerId(9), append(5, 0, 0, 0, Vec::new()));
    f.step(PeerId(0), append(5, 0, 0, 0, Vec::new()));
    f.step(PeerId(2), append(5, 0, 0, 0, Vec::new()));
    f.step(
        PeerId(1),
        PeerMessage::Hello(Hello {
            from: PeerId(1),
            to: PeerId(0),
            nonce: [0; 16],
        }),
    );
    let vote = RequestVote {
        term: Term(5),
        candidate: PeerId(2),
        last_log_index: LogIndex(9),
        last_log_term: Term(9),
        pre_vote: false,
    };
    f.step(PeerId(1), vote.into());
    // Replies nobody asked for.
    f.step(
        PeerId(1),
        AppendEntriesReply {
            term: Term(2),
            success: true,
            last_log_index: LogIndex(u64::MAX),
            round: 0,
        }
        .into(),
    );
    assert!(f.ready().is_empty());
    assert_eq!((f.term(), f.role()), (Term(2), Role::Follower));

    // An older leader is told the current term, so it steps down; the answer acknowledges
    // no read round (see `read.rs`).
    f.step(PeerId(1), append(1, 0, 0, 0, Vec::new()));
    let r = only_reply(&mut f);
    assert_eq!((r.term, r.success, r.round), (Term(2), false, 0));

    // Absurd positions are refused, not trusted.
    f.step(
        PeerId(1),
        append(2, u64::MAX, 7, u64::MAX, vec![entry(2, "x")]),
    );
    let r = only_reply(&mut f);
    assert!(!r.success);
    assert_eq!(
        r.round, ROUND,
        "a refusal in the leader's term echoes its round"
    );
    assert_eq!(f.commit_index(), LogIndex(0));
}

#[test]
fn batches_respect_the_configured_limits() {
    let mut c = Cluster::with_config(3, 4, |cfg| {
        cfg.max_append_entries = 3;
        cfg.max_append_bytes = 10;
    });
    let leader = c.elect(200);
    let follower = ids(3)
        .into_iter()
        .find(|id| *id != leader)
        .expect("follower");
    c.isolate(follower);
    for k in 0..20 {
        assert!(c.propose(leader, &format!("{k:04}")).is_some());
    }
    c.heal();
    // Small batches still bring the follower up to date.
    c.run(40);
    assert_eq!(c.nodes[&follower].app.commands().len(), 20);
    c.assert_prefixes();
    let mut raft = Raft::new(
        RaftConfig {
            max_append_entries: 3,
            max_append_bytes: 10,
            ..RaftConfig::new(PeerId(0), vec![PeerId(0), PeerId(1)])
        },
        Recovered {
            hard_state: HardState {
                term: Term(1),
                voted_for: None,
            },
            snapshot: None,
            entries: (0..10).map(|k| entry(1, &format!("{k:04}"))).collect(),
        },
        Rng::from_seed(1),
    );
    while raft.role() != Role::PreCandidate {
        raft.tick();
    }
    let next_term = Term(raft.term().0 + 1);
    raft.step(
        PeerId(1),
        RequestVoteReply {
            term: next_term,
            vote_granted: true,
            pre_vote: true,
        }
        .into(),
    );
    assert_eq!(raft.role(), Role::Candidate);
    // Its term and vote are handed out (and durable) before its vote requests are answered.
    raft.ready();
    raft.step(
        PeerId(1),
        RequestVoteReply {
            term: next_term,
            vote_granted: true,
            pre_vote: false,
        }
        .into(),
    );
    assert_eq!(raft.role(), Role::Leader);
    // The leader probes from its last index; a refusal sends it back to 0.
    raft.ready();
    raft.step(
        PeerId(1),
        AppendEntriesReply {
            term: raft.term(),
            success: false,
            last_log_index: LogIndex(0),
            round: 0,
        }
        .into(),
    );
    // It probes at 0 (no entries); a success there starts the pipeline from 1.
    raft.ready();
    raft.step(
        PeerId(1),
        AppendEntriesReply {
            term: raft.term(),
            success: true,
            last_log_index: LogIndex(0),
            round: 0,
        }
        .into(),
    );
    let ready = raft.ready();
    let Some((_, PeerMessage::AppendEntries(m))) = ready.messages.first() else {
        panic!("expected AppendEntries, got {:?}", ready.messages);
    };
    assert_eq!(m.prev_log_index, LogIndex(0));
    assert_eq!(
        m.entries.len(),
        2,
        "4 + 4 bytes fit in 10, a third would not"
    );
}

/// A follower under write load always has entries to sync; its answer to a heartbeat must
/// not wait for them (a leader's reads wait for that answer), but may acknowledge only
/// what storage held before: the entries are acknowledged by the answer to their message.
#[test]
fn a_heartbeat_is_answered_before_the_sync_with_only_what_storage_holds() {
    let mut f = follower(&[1, 1], 1);
    f.ready();
    f.step(
        PeerId(1),
        append(1, 2, 1, 0, vec![entry(1, "c"), entry(1, "d")]),
    );
    f.step(PeerId(1), append(1, 4, 1, 0, Vec::new()));
    let mut ready = f.ready();
    assert_eq!(ready.entries.len(), 2, "entries 3 and 4 are to be synced");
    let early = ready.take_early_messages();
    let ok = |last| AppendEntriesReply {
        term: Term(1),
        success: true,
        last_log_index: LogIndex(last),
        round: ROUND,
    };
    assert_eq!(
        replies_to_1(&early),
        vec![ok(2)],
        "the heartbeat's answer, at once"
    );
    assert_eq!(
        replies_to_1(&ready.messages),
        vec![ok(4)],
        "the entries' answer, after the sync"
    );
}

/// An early answer needs a durable term, and must not overtake a refusal waiting for the
/// sync (the leader reads the order of its answers).
#[test]
fn a_heartbeat_answer_waits_for_a_new_term_or_a_refusal_before_it() {
    // A heartbeat of a newer term: the term is not durable until the sync.
    let mut f = follower(&[1, 1], 1);
    f.ready();
    f.step(PeerId(1), append(2, 2, 1, 0, Vec::new()));
    let mut ready = f.ready();
    assert!(ready.hard_state.is_some());
    assert!(replies_to_1(&ready.take_early_messages()).is_empty());
    assert_eq!(replies_to_1(&ready.messages).len(), 1);

    // A refusal (log too short) then a matching heartbeat: both after the sync, in order.
    let mut f = follower(&[1, 1], 1);
    f.ready();
    f.step(PeerId(1), append(1, 9, 1, 0, Vec::new()));
    f.step(PeerId(1), append(1, 2, 1, 0, Vec::new()));
    let mut ready = f.ready();
    assert!(replies_to_1(&ready.take_early_messages()).is_empty());
    let late = replies_to_1(&ready.messages);
    assert_eq!(
        late.iter().map(|r| r.success).collect::<Vec<_>>(),
        vec![false, true]
    );
}
