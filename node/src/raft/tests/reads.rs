//! ReadIndex: confirmed only by a majority, only after the leader committed an entry of
//! its term, only by answers to messages of the read's round or later, and handed back as
//! lost when the leader steps down.

use bytes::Bytes;
use protocol::peer::{AppendEntriesReply, LogIndex, PeerId, PeerMessage, RequestVoteReply, Term};

use super::harness::{ids, sent, Cluster, Net};
use crate::io::Rng;
use crate::raft::{Raft, RaftConfig, Recovered, Role};

/// A fresh member `id` of the group `0..3`.
fn member(id: u32) -> Raft {
    Raft::new(
        RaftConfig::new(PeerId(id), ids(3)),
        Recovered::default(),
        Rng::from_seed(u64::from(id) + 5),
    )
}

/// Member 0, made leader by hand with member 1's (pre-)votes, and the messages of its first
/// `Ready` as leader: an `AppendEntries` with its no-op to each of 1 and 2.
fn hand_made_leader() -> (Raft, Vec<(PeerId, PeerMessage)>) {
    let mut raft = member(0);
    while raft.role() != Role::PreCandidate {
        raft.tick();
    }
    raft.ready();
    let term = Term(raft.term().0 + 1);
    let granted = |pre_vote| RequestVoteReply {
        term,
        vote_granted: true,
        pre_vote,
    };
    raft.step(PeerId(1), granted(true).into());
    raft.ready();
    raft.step(PeerId(1), granted(false).into());
    assert_eq!(raft.role(), Role::Leader);
    let messages = raft.ready().messages;
    (raft, messages)
}

/// The message of `messages` addressed to `to`.
fn to(messages: &[(PeerId, PeerMessage)], to: u32) -> PeerMessage {
    messages
        .iter()
        .find(|(peer, _)| *peer == PeerId(to))
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("no message to {to} in {messages:?}"))
}

/// A follower's answer to `msg` from member 0.
fn answer(follower: &mut Raft, msg: PeerMessage) -> AppendEntriesReply {
    follower.step(PeerId(0), msg);
    match sent(follower.ready()).as_slice() {
        [(PeerId(0), PeerMessage::AppendEntriesReply(r))] => *r,
        other => panic!("expected one AppendEntriesReply to 0, got {other:?}"),
    }
}

fn round_of(msg: &PeerMessage) -> u64 {
    match msg {
        PeerMessage::AppendEntries(m) => m.round,
        other => panic!("expected AppendEntries, got {other:?}"),
    }
}

/// The bug shape an echoed round closes: a follower's answer to an `AppendEntries` sent
/// *before* a read was registered, delayed until *after* the read's round began, must not
/// confirm the read. (While it was delayed, members 1 and 2 could have elected a new leader
/// and committed writes this leader never hears of; confirming the read would serve them
/// stale.) When replies carried no round, a reply counted for every round started before
/// it arrived, and this read was confirmed by the late reply.
#[test]
fn a_late_answer_to_an_older_append_confirms_no_newer_read() {
    let (mut leader, first) = hand_made_leader();
    let (mut one, mut two) = (member(1), member(2));

    // Member 1 answers the probe, then the no-op that follows it at once, which commits
    // it: reads may go.
    let probed = answer(&mut one, to(&first, 1));
    assert_eq!(
        probed.round,
        round_of(&to(&first, 1)),
        "the follower echoes"
    );
    leader.step(PeerId(1), probed.into());
    let early = answer(&mut one, to(&leader.ready().messages, 1));
    leader.step(PeerId(1), early.into());
    let noop = leader.last_index();
    assert_eq!(leader.commit_index(), noop);
    leader.ready();
    // Member 2's answer to the same broadcast is held up in the network.
    let late = answer(&mut two, to(&first, 2));
    assert_eq!(late.round, round_of(&to(&first, 2)));
    assert!(late.success);

    // A read opens a new round; its heartbeats are lost for now.
    leader.read_index(7).expect("leader");
    let ready = leader.ready();
    assert!(ready.reads.is_empty());
    let broadcast = ready.messages;
    assert_eq!(broadcast.len(), 2, "{broadcast:?}");
    assert!(broadcast.iter().all(|(_, m)| round_of(m) > late.round));

    // The late answer arrives, and a duplicate of member 1's: both answer the older round.
    leader.step(PeerId(2), late.into());
    leader.step(PeerId(1), early.into());
    let ready = leader.ready();
    assert_eq!(ready.reads, vec![], "a late answer confirmed a newer read");
    assert_eq!(leader.role(), Role::Leader);
    // An answer echoing a round that has not started is dropped, not trusted.
    let forged = AppendEntriesReply {
        round: u64::MAX,
        ..late
    };
    leader.step(PeerId(2), forged.into());
    assert_eq!(
        leader.ready().reads,
        vec![],
        "a forged round confirmed a read"
    );

    // Member 2's answer to the read's own round confirms it: with the leader, a majority.
    let fresh = answer(&mut two, to(&broadcast, 2));
    assert_eq!(fresh.round, round_of(&to(&broadcast, 2)));
    leader.step(PeerId(2), fresh.into());
    assert_eq!(leader.ready().reads, vec![(7, noop)]);
}

#[test]
fn lone_member_confirms_reads_at_once() {
    let mut raft = Raft::new(
        RaftConfig::new(PeerId(0), vec![PeerId(0)]),
        Recovered::default(),
        Rng::from_seed(5),
    );
    assert!(raft.read_index(1).is_err());
    raft.tick();
    raft.propose(Bytes::from_static(b"w")).expect("leader");
    raft.read_index(7).expect("leader");
    let ready = raft.ready();
    assert_eq!(ready.reads, vec![(7, LogIndex(2))]);
}

#[test]
fn reads_need_a_majority_and_are_lost_on_step_down() {
    for seed in 0..10 {
        let mut c = Cluster::new(3, seed);
        let leader = c.elect(200);
        let (index, _) = c.propose(leader, "w").expect("leader");
        c.run(2);
        assert!(c.read(leader, 1));
        c.run(1);
        assert_eq!(c.nodes[&leader].reads, vec![(1, index)], "seed {seed}");

        // Without a majority a read stays pending, then is lost when check-quorum ends
        // the leadership.
        c.isolate(leader);
        assert!(c.read(leader, 2));
        c.run(5);
        assert_eq!(
            c.nodes[&leader].reads.len(),
            1,
            "seed {seed}: confirmed alone"
        );
        assert!(c.run_until(40, |c| c.raft(leader).role() != Role::Leader));
        c.run(1);
        assert_eq!(c.nodes[&leader].lost_reads, vec![2], "seed {seed}");
        assert_eq!(c.nodes[&leader].reads.len(), 1, "seed {seed}");
    }
}

#[test]
fn one_follower_is_enough_in_three() {
    let mut c = Cluster::new(3, 11);
    let leader = c.elect(200);
    let mut followers = ids(3).into_iter().filter(|id| *id != leader);
    let cut = followers.next().expect("follower");
    c.partition(&[leader], &[cut]);
    assert!(c.read(leader, 5));
    c.run(1);
    assert_eq!(c.nodes[&leader].reads.len(), 1);
}

#[test]
fn reads_wait_for_an_entry_of_the_leaders_term() {
    for seed in 0..10 {
        let mut c = Cluster::new(3, seed);
        c.net = Net {
            drop_per_mille: 0,
            delay_ticks: (1, 1),
        };
        assert!(c.run_until(200, |c| !c.leaders().is_empty()));
        let leader = c.leaders()[0];
        let raft = c.raft(leader);
        let noop = raft.last_index();
        assert!(
            raft.commit_index() < noop,
            "seed {seed}: no-op not yet committed"
        );
        assert!(c.read(leader, 1));
        c.run(1);
        assert!(
            c.nodes[&leader].reads.is_empty(),
            "seed {seed}: confirmed too early"
        );
        c.run(6);
        let reads = &c.nodes[&leader].reads;
        assert_eq!(reads.len(), 1, "seed {seed}");
        assert!(
            reads[0].1 >= noop,
            "seed {seed}: read index below the leader's no-op"
        );
    }
}
