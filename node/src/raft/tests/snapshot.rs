//! Compaction and snapshot transfer: a follower that needs compacted entries catches up
//! through chunked `InstallSnapshot`, also over a lossy network, and a follower restarts
//! from the snapshot it installed.

use bytes::Bytes;
use protocol::peer::{InstallSnapshot, LogIndex, PeerId, PeerMessage, Term};

use super::harness::{ids, Cluster, Net};
use crate::io::Rng;
use crate::raft::{Raft, RaftConfig, Recovered, SnapshotMeta};

/// Elects a leader, cuts one follower off, commits 50 commands without it and compacts
/// the others' logs past them: the follower can only catch up through a snapshot.
/// Returns (leader, lagging follower).
fn leave_a_follower_behind_a_snapshot(c: &mut Cluster) -> (PeerId, PeerId) {
    let leader = c.elect(200);
    let lagging = ids(3)
        .into_iter()
        .find(|id| *id != leader)
        .expect("follower");
    c.isolate(lagging);
    for k in 0..50 {
        assert!(c
            .propose(leader, &format!("command number {k:04}"))
            .is_some());
    }
    c.run(3);
    for id in ids(3).into_iter().filter(|id| *id != lagging) {
        c.compact(id);
    }
    (leader, lagging)
}

fn lagging_follower_catches_up(seed: u64, net: Net) {
    let mut c = Cluster::with_config(3, seed, |cfg| cfg.snapshot_chunk_bytes = 100);
    let (leader, lagging) = leave_a_follower_behind_a_snapshot(&mut c);
    let base = c.raft(leader).log_base().index;
    assert!(base.0 >= 50, "seed {seed}: compacted to {base}");
    let before = c.history.delivered.get(&'S').copied().unwrap_or(0);
    c.net = net;
    c.heal();
    let caught_up = c.run_until(500, |c| {
        c.nodes[&lagging].app.commands().len() == 50 && c.raft(lagging).leader() == Some(leader)
    });
    assert!(caught_up, "seed {seed}: lagging follower never caught up");
    let chunks = c.history.delivered.get(&'S').copied().unwrap_or(0) - before;
    assert!(
        chunks > 1,
        "seed {seed}: snapshot sent in {chunks} chunk(s)"
    );
    let stored = c.stored(lagging).snapshot.expect("snapshot stored");
    assert!(stored.index >= base, "seed {seed}");
    assert!(c.raft(lagging).log_base().index >= base);

    // Replication continues after the snapshot.
    c.net = Net::RELIABLE;
    assert!(c.propose(leader, "after").is_some());
    c.run(5);
    assert_eq!(c.nodes[&lagging].app.commands().len(), 51);
    c.assert_prefixes();

    // The follower restarts from the installed snapshot plus the entries after it.
    c.crash(lagging);
    c.restart(lagging);
    c.run(10);
    assert_eq!(c.nodes[&lagging].app.commands().len(), 51, "seed {seed}");
    c.assert_prefixes();
}

#[test]
fn lagging_follower_catches_up_through_a_snapshot() {
    for seed in 0..5 {
        lagging_follower_catches_up(seed, Net::RELIABLE);
    }
}

#[test]
fn snapshot_transfer_survives_loss_and_delay() {
    for seed in 0..10 {
        let net = Net {
            drop_per_mille: 200,
            delay_ticks: (0, 3),
        };
        lagging_follower_catches_up(seed, net);
    }
}

/// Chunks delivered while a follower catches up through a snapshot of `chunks` chunks
/// over `net`, heartbeats every 6 ticks: `(delivered, chunks)`.
fn snapshot_chunks_delivered(seed: u64, net: Net) -> (usize, usize) {
    let mut c = Cluster::with_config(3, seed, |cfg| {
        cfg.snapshot_chunk_bytes = 100;
        cfg.heartbeat_ticks = 6;
        cfg.election_ticks = (30, 60);
    });
    let (leader, lagging) = leave_a_follower_behind_a_snapshot(&mut c);
    let size = c
        .raft(leader)
        .snapshot()
        .map(|(_, data)| data.len())
        .expect("leader holds a snapshot");
    c.net = net;
    let before = c.history.delivered.get(&'S').copied().unwrap_or(0);
    c.heal();
    let caught_up = c.run_until(5_000, |c| c.nodes[&lagging].app.commands().len() == 50);
    assert!(caught_up, "seed {seed}: lagging follower never caught up");
    let sent = c.history.delivered.get(&'S').copied().unwrap_or(0) - before;
    (sent, size.div_ceil(100))
}

/// A transfer lasting many heartbeats sends every chunk about once, and no more than
/// twice where answers take up to two heartbeat intervals: a leader that answered every
/// copy of a chunk's answer with a send, and resent the chunk on every heartbeat, added a
/// copy of every later chunk per heartbeat (its count grew with the square of the
/// transfer's length; a thousand copies of each chunk in a simulated hand-off).
#[test]
fn a_long_snapshot_transfer_sends_each_chunk_about_once() {
    for seed in 0..5 {
        // Round trips of 2 to 4 ticks, shorter than a heartbeat interval, as on a LAN.
        let fast = Net {
            drop_per_mille: 0,
            delay_ticks: (1, 2),
        };
        let (sent, chunks) = snapshot_chunks_delivered(seed, fast);
        assert!(
            sent >= chunks && sent <= chunks + chunks / 4 + 2,
            "seed {seed}: {sent} chunks delivered for a snapshot of {chunks}"
        );
        // Round trips of 4 to 14 ticks: many chunks go unanswered for a heartbeat
        // interval and are resent, and each resend gets an answer too.
        let slow = Net {
            drop_per_mille: 0,
            delay_ticks: (2, 7),
        };
        let (sent, chunks) = snapshot_chunks_delivered(seed, slow);
        assert!(
            sent >= chunks && sent <= 2 * chunks,
            "seed {seed}: {sent} chunks delivered for a snapshot of {chunks} on slow links"
        );
    }
}

fn chunk(offset: u64, data: &'static [u8], done: bool) -> PeerMessage {
    InstallSnapshot {
        term: Term(2),
        leader: PeerId(1),
        last_included_index: LogIndex(10),
        last_included_term: Term(2),
        offset,
        data: Bytes::from_static(data),
        done,
    }
    .into()
}

fn next_offset(raft: &mut Raft) -> u64 {
    match raft.ready().messages.as_slice() {
        [(_, PeerMessage::InstallSnapshotReply(r))] => r.next_offset,
        other => panic!("expected one InstallSnapshotReply, got {other:?}"),
    }
}

#[test]
fn follower_assembles_chunks_and_resumes_after_a_gap() {
    let mut f = Raft::new(
        RaftConfig::new(PeerId(0), ids(3)),
        Recovered::default(),
        Rng::from_seed(2),
    );
    f.step(PeerId(1), chunk(0, b"abc", false));
    assert_eq!(next_offset(&mut f), 3);
    // A chunk past a gap: ask for the missing offset.
    f.step(PeerId(1), chunk(6, b"ghi", true));
    assert_eq!(next_offset(&mut f), 3);
    f.step(PeerId(1), chunk(3, b"def", false));
    assert_eq!(next_offset(&mut f), 6);
    f.step(PeerId(1), chunk(6, b"ghi", true));
    let ready = f.ready();
    let meta = SnapshotMeta {
        index: LogIndex(10),
        term: Term(2),
    };
    assert_eq!(
        ready.snapshot,
        Some((meta, Bytes::from_static(b"abcdefghi")))
    );
    assert_eq!(
        ready.truncate_after, None,
        "storage held no entries past 10"
    );
    assert_eq!(f.commit_index(), LogIndex(10));
    assert_eq!(f.log_base(), meta);
    // A repeat of the last chunk (its answer was lost) is acknowledged in full.
    f.step(PeerId(1), chunk(6, b"ghi", true));
    assert_eq!(next_offset(&mut f), 9);
    // A chunk of an unknown transfer past offset 0: start over.
    let other = InstallSnapshot {
        term: Term(2),
        leader: PeerId(1),
        last_included_index: LogIndex(20),
        last_included_term: Term(2),
        offset: 4,
        data: Bytes::from_static(b"zz"),
        done: false,
    };
    f.step(PeerId(1), other.into());
    assert_eq!(next_offset(&mut f), 0);
}

#[test]
fn compaction_outside_the_applied_range_is_ignored() {
    let mut raft = Raft::new(
        RaftConfig::new(PeerId(0), vec![PeerId(0)]),
        Recovered::default(),
        Rng::from_seed(5),
    );
    raft.tick();
    raft.propose(Bytes::from_static(b"a")).expect("leader");
    raft.compact(LogIndex(2), Bytes::new()); // not applied yet: ignored
    assert_eq!(raft.log_base().index, LogIndex(0));
    raft.ready();
    raft.compact(LogIndex(2), Bytes::from_static(b"state"));
    assert_eq!(raft.log_base().index, LogIndex(2));
    raft.compact(LogIndex(1), Bytes::new()); // below the base: ignored
    assert_eq!(raft.log_base().index, LogIndex(2));
    assert_eq!(
        raft.snapshot().map(|s| s.1.clone()),
        Some(Bytes::from_static(b"state"))
    );
}

/// A follower holds entries past its commit index and installs a snapshot whose last
/// entry it holds: the core keeps the entries after it (they match the leader's), and so
/// must its store, or a restart loses entries it acknowledged or cannot read its log back
/// ("leaves a gap"). The snapshot is handed to the follower directly, as a leader that
/// compacted past what it believes the follower holds would send it.
#[test]
fn an_installed_snapshot_keeps_the_log_after_it_across_a_restart() {
    let mut c = Cluster::new(3, 11);
    let leader = c.elect(200);
    let others: Vec<PeerId> = ids(3).into_iter().filter(|id| *id != leader).collect();
    let (f, g) = (others[0], others[1]);
    assert!(c.propose(leader, "a").is_some());
    c.run(3);
    // With g cut off only f's answers commit. "x" and "y" reach f in one message (the
    // harness may reorder two, and f would refuse the second) with "w" as the commit
    // index; f is cut off as soon as its answer commits them, before a heartbeat tells it.
    c.isolate(g);
    assert!(c.propose(leader, "w").is_some());
    c.run(3);
    for data in ["x", "y"] {
        assert!(c.raft_mut(leader).propose(Bytes::from(data)).is_ok());
    }
    c.drive(leader);
    let end = c.raft(leader).last_index();
    assert!(
        c.run_until(10, |c| c.raft(leader).commit_index() == end),
        "f's answer commits x and y"
    );
    c.isolate(f);
    let term = c.raft(leader).term();
    let last = c.raft(f).last_index();
    assert_eq!(last, c.raft(leader).last_index(), "f holds every entry");
    let snap = LogIndex(last.0 - 1);
    assert!(
        c.raft(f).commit_index() < snap,
        "the scenario needs f's commit index ({}) below {snap}",
        c.raft(f).commit_index()
    );
    assert_eq!(c.raft(f).term_at(snap), Some(term));
    let mut app = c.nodes[&leader].app.clone();
    app.applied.truncate(snap.0 as usize);
    let install = InstallSnapshot {
        term,
        leader,
        last_included_index: snap,
        last_included_term: term,
        offset: 0,
        data: app.encode(),
        done: true,
    };
    c.raft_mut(f).step(leader, install.into());
    c.drive(f);
    assert_eq!(c.raft(f).log_base().index, snap);
    assert_eq!(
        c.raft(f).last_index(),
        last,
        "the core kept the entry after it"
    );
    let stored = c.stored(f);
    assert_eq!(stored.snapshot.map(|m| m.index), Some(snap));
    assert_eq!(stored.entries.len(), 1, "the store kept it too");

    c.crash(f);
    c.restart(f);
    assert_eq!(c.raft(f).log_base().index, snap);
    assert_eq!(c.raft(f).last_index(), last, "restarted with the entry");
    c.heal();
    c.run(20);
    assert_eq!(
        c.nodes[&f].app.commands(),
        ["a", "w", "x", "y"].map(|d| Bytes::from_static(d.as_bytes()))
    );
    c.assert_prefixes();
}
