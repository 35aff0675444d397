//! Crash and recovery: a member restarts from its persisted hard state, snapshot and
//! entries, and a vote survives a crash.

use bytes::Bytes;
use protocol::peer::{LogIndex, PeerId, PeerMessage, RequestVote, Term};

use super::harness::{ids, Cluster};
use crate::io::Rng;
use crate::raft::{HardState, Raft, RaftConfig, Recovered};

#[test]
fn whole_cluster_recovers_from_its_disks() {
    for seed in 0..10 {
        let mut c = Cluster::new(3, seed);
        let leader = c.elect(200);
        for k in 0..5 {
            assert!(c.propose(leader, &format!("w{k}")).is_some());
        }
        c.run(3);
        if seed % 2 == 0 {
            c.compact(leader);
        }
        let term = c.raft(leader).term();
        let expected = c.nodes[&leader].app.commands();
        assert_eq!(expected.len(), 5);
        for id in ids(3) {
            c.crash(id);
        }
        for id in ids(3) {
            c.restart(id);
            assert_eq!(c.raft(id).term(), term, "seed {seed}: term recovered");
            assert_eq!(c.raft(id).hard_state(), c.stored(id).hard_state);
        }
        let new = c.elect(300);
        assert!(c.raft(new).term() > term);
        c.run(5);
        for id in ids(3) {
            assert_eq!(c.nodes[&id].app.commands(), expected, "seed {seed}: {id}");
        }
        assert!(c.propose(new, "after").is_some());
        c.run(3);
        c.assert_prefixes();
    }
}

#[test]
fn a_vote_survives_a_crash() {
    let request = |candidate: u32| {
        PeerMessage::from(RequestVote {
            term: Term(5),
            candidate: PeerId(candidate),
            last_log_index: LogIndex(0),
            last_log_term: Term(0),
            pre_vote: false,
        })
    };
    let granted = |raft: &mut Raft| match raft.ready().messages.as_slice() {
        [(_, PeerMessage::RequestVoteReply(r))] => r.vote_granted,
        other => panic!("expected one vote reply, got {other:?}"),
    };
    let config = RaftConfig::new(PeerId(0), ids(3));
    let mut raft = Raft::new(config.clone(), Recovered::default(), Rng::from_seed(1));
    raft.step(PeerId(1), request(1));
    let ready = raft.ready();
    let persisted = ready.hard_state.expect("the vote must be persisted");
    assert_eq!(
        persisted,
        HardState {
            term: Term(5),
            voted_for: Some(PeerId(1))
        }
    );
    // The reply travels in the same Ready, to be sent after the sync.
    assert!(matches!(
        ready.messages.as_slice(),
        [(PeerId(1), PeerMessage::RequestVoteReply(r))] if r.vote_granted
    ));

    let recovered = Recovered {
        hard_state: persisted,
        ..Recovered::default()
    };
    let mut raft = Raft::new(config, recovered, Rng::from_seed(2));
    raft.step(PeerId(2), request(2));
    assert!(!granted(&mut raft), "voted twice in term 5");
    raft.step(PeerId(1), request(1));
    assert!(
        granted(&mut raft),
        "a repeated request from the same candidate"
    );
}

#[test]
fn lone_member_restarts_and_recommits() {
    let mut c = Cluster::new(1, 3);
    c.run(1);
    assert!(c.propose(PeerId(0), "a").is_some());
    assert!(c.propose(PeerId(0), "b").is_some());
    c.crash(PeerId(0));
    c.restart(PeerId(0));
    assert!(c.nodes[&PeerId(0)].app.applied.is_empty());
    c.run(1);
    assert_eq!(
        c.nodes[&PeerId(0)].app.commands(),
        vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
    );
}

/// A member whose disk was lost (its machine replaced) restarts empty: the entries it
/// acknowledged are gone, so it must not help elect a candidate that lacks them. The
/// group keeps every committed entry, and the member votes again once it has caught up.
#[test]
fn a_member_back_on_an_empty_disk_elects_no_one_missing_committed_entries() {
    for seed in 0..10 {
        let mut c = Cluster::new(3, seed);
        let leader = c.elect(200);
        let others: Vec<PeerId> = ids(3).into_iter().filter(|&id| id != leader).collect();
        let (wiped, stale) = (others[0], others[1]);
        assert!(c.propose(leader, "before").is_some());
        c.run(3);
        // `stale` misses what the leader and `wiped` commit from now on.
        c.isolate(stale);
        for k in 0..3 {
            assert!(c.propose(leader, &format!("cut-{k}")).is_some());
        }
        c.run(3);
        let committed = c.nodes[&leader].app.commands();
        assert_eq!(
            committed.len(),
            4,
            "seed {seed}: committed with {wiped}'s help"
        );
        c.wipe(wiped);
        c.crash(leader);
        c.heal();
        // `stale` and the empty `wiped` are a majority, but `stale` lacks committed
        // entries: no leader may come of them.
        c.run(300);
        assert_eq!(
            c.leader(),
            None,
            "seed {seed}: elected without the committed entries"
        );
        c.restart(leader);
        let new = c.elect(400);
        c.run(10);
        for id in ids(3) {
            let commands = c.nodes[&id].app.commands();
            assert_eq!(
                &commands[..committed.len()],
                &committed[..],
                "seed {seed}: {id} under {new}"
            );
        }
        // Caught up, `wiped` votes again: with the leader of the moment gone, it and
        // the old leader elect a new one.
        c.crash(new);
        if new != wiped {
            let next = c.elect(400);
            assert_ne!(next, new);
        }
        c.assert_prefixes();
    }
}

/// The store records that a member on a replaced disk is catching up: a power loss before
/// it has caught up does not let it restart voting, flag or no flag, and once it has
/// caught up the flag left on changes nothing.
#[test]
fn catching_up_survives_a_power_loss_and_ends_for_good() {
    let mut c = Cluster::new(3, 7);
    let leader = c.elect(200);
    assert!(c.propose(leader, "w").is_some());
    c.run(3);
    let wiped = ids(3)
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    c.isolate(wiped);
    c.wipe(wiped);
    assert!(c.raft(wiped).is_catching_up());
    // Power lost again before it heard from the leader; restarted without the flag.
    c.crash(wiped);
    c.nodes.get_mut(&wiped).expect("member").replaced_disk = false;
    c.restart(wiped);
    assert!(
        c.raft(wiped).is_catching_up(),
        "the store forgot it was catching up"
    );
    c.heal();
    let caught = c.run_until(300, |c| !c.raft(wiped).is_catching_up());
    assert!(caught, "it catches up from the leader");
    c.crash(wiped);
    c.nodes.get_mut(&wiped).expect("member").replaced_disk = true;
    c.restart(wiped);
    assert!(!c.raft(wiped).is_catching_up(), "caught up once is enough");
}
