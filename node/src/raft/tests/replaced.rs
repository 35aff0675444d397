//! A member on a replaced disk learns the group's term from every other member before it
//! takes part (`replaced.rs`): until then it drops every leader's message; afterwards it
//! refuses leaders of older terms and never votes in the term it learned.

use protocol::peer::{
    AppendEntries, LogIndex, PeerId, PeerMessage, RequestVote, RequestVoteReply, Term,
};

use super::harness::{ids, sent, Cluster};
use crate::io::Rng;
use crate::raft::{HardState, Raft, RaftConfig, Recovered};

fn append(term: u64, leader: u32) -> PeerMessage {
    AppendEntries {
        term: Term(term),
        leader: PeerId(leader),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        leader_commit: LogIndex(0),
        entries: Vec::new(),
        round: 0,
    }
    .into()
}

fn term_answer(term: u64) -> PeerMessage {
    RequestVoteReply {
        term: Term(term),
        vote_granted: false,
        pre_vote: true,
    }
    .into()
}

/// A member of {0, 1, 2} started on a replaced (empty) disk.
fn replaced_member() -> Raft {
    let mut config = RaftConfig::new(PeerId(0), ids(3));
    config.replaced_disk = true;
    Raft::new(config, Recovered::default(), Rng::from_seed(5))
}

/// The scenario of review-catchup-stale-leader-*: member 1 led term 1 and has not noticed
/// that member 2 leads term 2 with entries on a majority that included this member's
/// lost disk. Member 1's term-1 messages must not win this member's acknowledgement.
#[test]
fn a_replaced_member_refuses_a_leader_older_than_the_group() {
    let mut raft = replaced_member();
    raft.tick();
    let questions = raft.ready().messages;
    let asked: Vec<PeerId> = questions.iter().map(|(to, _)| *to).collect();
    assert_eq!(asked, vec![PeerId(1), PeerId(2)], "asks every other member");
    assert!(questions
        .iter()
        .all(|(_, m)| matches!(m, PeerMessage::RequestVote(r) if r.pre_vote)));

    // Still learning: the stale leader's AppendEntries gets no answer at all.
    raft.step(PeerId(1), append(1, 1));
    assert!(
        raft.ready().messages.is_empty(),
        "answered a leader while learning the term"
    );
    raft.step(PeerId(1), term_answer(1));
    assert!(raft.is_learning_term(), "one answer of two is not enough");
    raft.step(PeerId(1), append(1, 1));
    assert!(raft.ready().messages.is_empty());

    raft.step(PeerId(2), term_answer(2));
    assert!(!raft.is_learning_term());
    let ready = raft.ready();
    assert_eq!(
        ready.hard_state,
        Some(HardState {
            term: Term(2),
            voted_for: Some(PeerId(0)),
        }),
        "adopts the highest term heard, as voted in"
    );

    // Now member 1's term-1 leadership is refused and told the newer term.
    raft.step(PeerId(1), append(1, 1));
    match raft.ready().messages.as_slice() {
        [(PeerId(1), PeerMessage::AppendEntriesReply(r))] => {
            assert!(!r.success);
            assert_eq!(r.term, Term(2));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // And it casts no vote in term 2, where its lost vote may have gone to someone.
    raft.step(
        PeerId(1),
        RequestVote {
            term: Term(2),
            candidate: PeerId(1),
            last_log_index: LogIndex(0),
            last_log_term: Term(0),
            pre_vote: false,
        }
        .into(),
    );
    assert!(matches!(
        raft.ready().messages.as_slice(),
        [(_, PeerMessage::RequestVoteReply(r))] if !r.vote_granted
    ));
    // The leader of term 2 is followed.
    raft.step(PeerId(2), append(2, 2));
    assert!(matches!(
        sent(raft.ready()).as_slice(),
        [(PeerId(2), PeerMessage::AppendEntriesReply(r))] if r.success
    ));
    assert_eq!(raft.leader(), Some(PeerId(2)));
}

/// Unanswered questions are asked again every heartbeat interval, of the silent members
/// only, and the driver is told to wake for them.
#[test]
fn a_replaced_member_asks_the_silent_members_again() {
    let mut raft = replaced_member();
    raft.tick();
    raft.ready();
    raft.step(PeerId(1), term_answer(3));
    raft.ready();
    let heartbeat = raft.config().heartbeat_ticks;
    assert_eq!(raft.ticks_until_due(), heartbeat);
    for _ in 0..heartbeat {
        raft.tick();
    }
    let asked: Vec<PeerId> = raft.ready().messages.iter().map(|(to, _)| *to).collect();
    assert_eq!(asked, vec![PeerId(2)]);
}

/// With another member down, a member on a replaced disk stays out (it cannot tell which
/// term the missing member may have seen): the group runs on without it if the rest are a
/// majority, and it joins in once the missing member is back.
#[test]
fn a_replaced_member_waits_for_every_other_member() {
    for seed in 0..5 {
        let mut c = Cluster::new(5, seed);
        let leader = c.elect(200);
        assert!(c.propose(leader, "before").is_some());
        c.run(3);
        let others: Vec<PeerId> = ids(5).into_iter().filter(|&id| id != leader).collect();
        let (wiped, down) = (others[0], others[1]);
        c.crash(down);
        c.wipe(wiped);
        c.run(100);
        assert!(c.raft(wiped).is_learning_term(), "seed {seed}");
        assert_eq!(
            c.raft(wiped).leader(),
            None,
            "seed {seed}: followed a leader"
        );
        // Three intact members of five still commit.
        assert!(c.run_until(300, |c| c.leader().is_some()), "seed {seed}");
        let leader = c.leader().expect("a leader");
        assert!(c.propose(leader, "during").is_some());
        c.run(5);
        assert_eq!(c.nodes[&leader].app.commands().len(), 2, "seed {seed}");
        c.restart(down);
        let caught = c.run_until(400, |c| !c.raft(wiped).is_catching_up());
        assert!(
            caught,
            "seed {seed}: never caught up with every member back"
        );
        c.run(5);
        assert_eq!(c.nodes[&wiped].app.commands().len(), 2, "seed {seed}");
        c.assert_prefixes();
    }
}
