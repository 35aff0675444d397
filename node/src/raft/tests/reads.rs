//! ReadIndex: confirmed only by a majority, only after the leader committed an entry of
//! its term, and handed back as lost when the leader steps down.

use bytes::Bytes;
use protocol::peer::{LogIndex, PeerId};

use super::harness::{ids, Cluster, Net};
use crate::io::Rng;
use crate::raft::{Raft, RaftConfig, Recovered, Role};

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
