//! Focused tests of the group state machine and its storage.

use bytes::Bytes;
use protocol::client::{Command, Request, Response, SessionTag};
use protocol::ecs::{ClusterView, HostPort, Item, NodeEntry, PutPart};

use super::RaftStore;
use super::*;
use crate::io::StdDisk;
use crate::ring::Ring;

mod sessions;

fn hp(s: &str) -> HostPort {
    s.parse().unwrap()
}

fn put(key: &str, value: &str) -> GroupCommand {
    GroupCommand::Client(Request::new(Command::Put {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
    }))
}

fn view(members: &[&str]) -> GroupCommand {
    view_at(members.len() as u64, members)
}

/// A `cluster_view` of `version` naming `members`, each at one address for all its ports.
fn view_at(version: u64, members: &[&str]) -> GroupCommand {
    GroupCommand::SetView(ClusterView {
        version,
        nodes: members
            .iter()
            .enumerate()
            .map(|(i, m)| NodeEntry {
                id: i as u32,
                ring: hp(m),
                admin: hp(m),
                client: hp(m),
            })
            .collect(),
    })
}

/// A lone member "a:1" that owns everything and holds `keys` keys.
fn lone_member(keys: usize) -> GroupState {
    let mut s = GroupState::new(hp("a:1"));
    s.apply(&GroupCommand::SetNext(hp("a:1")));
    s.apply(&view(&["a:1"]));
    for i in 0..keys {
        assert_eq!(
            s.apply(&put(&format!("k{i}"), "v")),
            Outcome::Response(Response::Stored)
        );
    }
    s
}

/// Locks `s` and begins handing `[b:2, a:1)` to "b:2" as transfer `transfer_id`; the arc
/// that moves.
fn begin_transfer_to_b(s: &mut GroupState, transfer_id: u64) -> crate::ring::Arc {
    s.apply(&GroupCommand::WriteLock);
    s.apply(&GroupCommand::SetNext(hp("b:2")));
    s.apply(&GroupCommand::BeginTransfer {
        end: hp("a:1"),
        transfer_id,
        part_size: 512,
    });
    s.transfer.clone().unwrap().arc
}

#[test]
fn a_node_off_the_ring_serves_nothing() {
    let s = GroupState::new(hp("a:1"));
    let get = Command::Get {
        key: Bytes::from_static(b"k"),
    };
    assert_eq!(s.route(&get), Route::Redirect(-1));
}

#[test]
fn a_write_lock_refuses_writes_but_serves_reads() {
    let mut s = lone_member(1);
    s.apply(&GroupCommand::WriteLock);
    assert!(matches!(
        s.apply(&put("k0", "new")),
        Outcome::Refused(Route::Retry(_))
    ));
    assert_eq!(
        s.read(b"k0"),
        Response::Value(Some(Bytes::from_static(b"v")))
    );
    s.apply(&GroupCommand::ReleaseLock);
    assert_eq!(
        s.apply(&put("k0", "new")),
        Outcome::Response(Response::Stored)
    );
}

#[test]
fn a_hand_off_moves_exactly_the_newcomers_arc() {
    let mut s = lone_member(200);
    let newcomer = hp("b:2");
    s.apply(&GroupCommand::WriteLock);
    s.apply(&GroupCommand::SetNext(newcomer.clone()));
    assert_eq!(
        s.apply(&GroupCommand::BeginTransfer {
            end: hp("a:1"),
            transfer_id: 9,
            part_size: 512,
        }),
        Outcome::Ok
    );
    let arc = s.transfer.as_ref().unwrap().arc;
    let moving: Vec<Bytes> =
        s.kv.keys()
            .filter(|k| arc.contains_key(k))
            .cloned()
            .collect();
    assert!(
        !moving.is_empty() && moving.len() < 200,
        "both sides get keys"
    );
    // Reads of the moving range are served until the receiver has everything.
    let get = Command::Get {
        key: moving[0].clone(),
    };
    assert_eq!(s.route(&get), Route::Serve);
    s.apply(&GroupCommand::FinishTransfer { transfer_id: None });
    assert!(matches!(s.route(&get), Route::Retry(_)));
    // The new ring sends those keys to the newcomer (id 1).
    s.apply(&GroupCommand::AddMember(newcomer.clone()));
    s.apply(&view(&["a:1", "b:2"]));
    s.apply(&GroupCommand::ReleaseLock);
    assert_eq!(s.route(&get), Route::Redirect(1));
    assert_eq!(s.kv.len(), 200 - moving.len());
    let ring = Ring::new([hp("a:1"), newcomer]);
    assert!(s
        .kv
        .keys()
        .all(|k| ring.owner_of_key(k) == Some(&hp("a:1"))));
}

#[test]
fn a_resent_part_and_a_resent_write_apply_once() {
    let mut s = GroupState::new(hp("b:2"));
    let part = PutPart {
        transfer_id: 1,
        part: 0,
        items: vec![Item::new(&b"x"[..], &b"1"[..])],
        sessions: vec![],
    };
    s.apply(&GroupCommand::ReceivePart(part.clone()));
    s.kv.insert(Bytes::from_static(b"x"), Bytes::from_static(b"2"));
    s.apply(&GroupCommand::ReceivePart(part));
    assert_eq!(s.kv[&b"x"[..]], Bytes::from_static(b"2"));

    let mut s = lone_member(0);
    let tagged = |value: &str| {
        GroupCommand::Client(Request {
            session: Some(SessionTag {
                client_id: 5,
                sequence: 1,
            }),
            command: Command::CompareAndSet {
                key: Bytes::from_static(b"c"),
                expected: None,
                new: Bytes::copy_from_slice(value.as_bytes()),
            },
        })
    };
    let first = s.apply(&tagged("one"));
    assert_eq!(
        s.apply(&tagged("one")),
        first,
        "resend gets the first answer"
    );
    assert_eq!(s.kv[&b"c"[..]], Bytes::from_static(b"one"));

    // An older command of the same client, arriving late, is refused.
    let old = GroupCommand::Client(Request {
        session: Some(SessionTag {
            client_id: 5,
            sequence: 0,
        }),
        command: Command::Delete {
            key: Bytes::from_static(b"c"),
        },
    });
    assert!(matches!(s.apply(&old), Outcome::Rejected(_)));
    assert!(s.kv.contains_key(&b"c"[..]));
}

/// A put of `key` = `value` by session `client` with sequence `sequence`.
fn tagged_put(client: u64, sequence: u64, key: &str, value: &str) -> GroupCommand {
    GroupCommand::Client(Request {
        session: Some(SessionTag {
            client_id: client,
            sequence,
        }),
        command: Command::Put {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
        },
    })
}

#[test]
fn a_resend_is_answered_from_its_session_even_when_locked_or_moved() {
    let mut s = lone_member(0);
    let put = tagged_put(7, 1, "k", "v");
    assert_eq!(
        s.apply(&put),
        Outcome::Response(protocol::client::Response::Stored)
    );
    s.apply(&GroupCommand::WriteLock);
    let GroupCommand::Client(req) = &put else {
        unreachable!()
    };
    // Locked: a new write is refused, the resend of the applied one is answered.
    assert!(matches!(s.route(&req.command), Route::Retry(_)));
    assert_eq!(
        s.session_answer(req),
        Some(Outcome::Response(protocol::client::Response::Stored))
    );
    assert_eq!(
        s.session_answer(&Request {
            session: None,
            ..req.clone()
        }),
        None
    );
}

#[test]
fn sessions_move_with_their_keys_and_merge_by_highest_sequence() {
    // The sender: sessions of keys on both sides of a hand-off.
    let mut sender = lone_member(0);
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    for (i, k) in keys.iter().enumerate() {
        sender.apply(&tagged_put(100 + i as u64, 5, k, "v"));
    }
    let arc = begin_transfer_to_b(&mut sender, 3);
    // Every session moves, with its answer only if the arc holds its key.
    let all = sender.sessions_in(&arc);
    assert_eq!(all.len(), keys.len());
    let (moving, answerless): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|e| !e.answer.is_empty());
    assert!(
        !moving.is_empty() && !answerless.is_empty(),
        "{} of {} sessions move with their answer",
        moving.len(),
        keys.len()
    );
    assert!(moving.iter().all(|e| arc.contains_key(&e.key)));
    // Those whose key stays go with client id and sequence alone.
    let staying = keys
        .iter()
        .filter(|k| !arc.contains_key(&Bytes::copy_from_slice(k.as_bytes())))
        .count();
    assert_eq!(answerless.len(), staying);
    assert!(answerless.iter().all(|e| e.key.is_empty()));

    // The receiver knows a later command of one session and an earlier one of another.
    let mut receiver = GroupState::new(hp("b:2"));
    for (entry, sequence) in [(&moving[0], 9), (&moving[1], 2)] {
        let known = Session {
            sequence,
            answer: SessionAnswer::Deleted(true),
            key: Bytes::from_static(b"elsewhere"),
        };
        receiver.sessions.record(entry.client_id, known);
    }
    receiver.apply(&GroupCommand::ReceivePart(PutPart {
        transfer_id: 3,
        part: 0,
        items: vec![],
        sessions: moving.clone(),
    }));
    assert_eq!(
        receiver.sessions.get(moving[0].client_id).unwrap().sequence,
        9
    );
    assert_eq!(
        receiver.sessions.get(moving[1].client_id).unwrap().sequence,
        5
    );
    // A resend of a moved command is answered, not applied again.
    let resend = tagged_put(moving[2].client_id, 5, "whatever", "v2");
    let GroupCommand::Client(req) = &resend else {
        unreachable!()
    };
    assert_eq!(
        receiver.session_answer(req),
        Some(Outcome::Response(protocol::client::Response::Stored))
    );
}

#[test]
fn a_snapshot_restores_the_whole_state() {
    let mut s = lone_member(50);
    begin_transfer_to_b(&mut s, 3);
    s.apply(&GroupCommand::ReceivePart(PutPart {
        transfer_id: 4,
        part: 2,
        items: vec![],
        sessions: vec![],
    }));
    s.apply(&tagged_put(9, 3, "k", "v"));
    // Progress of the hand-off: only this transfer's, and never backwards.
    for (transfer_id, parts) in [(3, 4), (3, 2), (8, 9)] {
        s.apply(&GroupCommand::PartsAcked { transfer_id, parts });
    }
    assert_eq!(s.transfer.as_ref().map(|t| t.acked), Some(4));
    let bytes = snapshot::encode(&s, 77);
    let (back, applied) = snapshot::decode(hp("a:1"), &bytes).unwrap();
    assert_eq!(applied, 77);
    assert_eq!(back, s);
}

#[test]
fn the_raft_store_recovers_votes_entries_truncations_and_snapshots() {
    use crate::raft::{HardState, SnapshotMeta};
    use protocol::peer::{Entry, LogIndex, PeerId, Term};
    let dir = tempfile::tempdir().unwrap();
    let e = |t: u64, d: &str| Entry {
        term: Term(t),
        data: Bytes::copy_from_slice(d.as_bytes()),
    };
    let opened = RaftStore::open(StdDisk, dir.path()).unwrap();
    assert!(opened.recovered.entries.is_empty() && opened.snapshot_state.is_none());
    let mut store = opened.store;
    let vote = HardState {
        term: Term(2),
        voted_for: Some(PeerId(1)),
    };
    let first = [
        (LogIndex(1), e(1, "a")),
        (LogIndex(2), e(2, "b")),
        (LogIndex(3), e(2, "c")),
    ];
    store.save(Some(&vote), None, &first).unwrap();
    // A new leader overwrote entries 2 and 3.
    store
        .save(None, Some(LogIndex(1)), &[(LogIndex(2), e(3, "B"))])
        .unwrap();
    drop(store);

    let opened = RaftStore::open(StdDisk, dir.path()).unwrap();
    assert_eq!(opened.recovered.hard_state, vote);
    assert_eq!(opened.recovered.entries, vec![e(1, "a"), e(3, "B")]);
    let mut store = opened.store;
    let meta = SnapshotMeta {
        index: LogIndex(1),
        term: Term(1),
    };
    store
        .save_snapshot(meta, b"state", &[(LogIndex(2), e(3, "B"))])
        .unwrap();
    store.save(None, None, &[(LogIndex(3), e(3, "C"))]).unwrap();
    drop(store);

    let opened = RaftStore::open(StdDisk, dir.path()).unwrap();
    assert_eq!(opened.recovered.snapshot, Some(meta));
    assert_eq!(opened.recovered.hard_state, vote);
    assert_eq!(opened.recovered.entries, vec![e(3, "B"), e(3, "C")]);
    assert_eq!(opened.snapshot_state.as_deref(), Some(&b"state"[..]));
}

/// A power loss between the snapshot's rename and the log's: the new snapshot sits beside
/// the old log. Its entries after the snapshot stay only if the log holds the snapshot's
/// last entry; otherwise they may be a suffix the group has overwritten since, and a
/// member that kept them could report a last term it does not have.
#[test]
fn a_new_snapshot_beside_an_old_log_keeps_only_a_matching_suffix() {
    use crate::raft::SnapshotMeta;
    use protocol::peer::{Entry, LogIndex, Term};
    let e = |t: u64, d: &str| Entry {
        term: Term(t),
        data: Bytes::copy_from_slice(d.as_bytes()),
    };
    let log: Vec<(LogIndex, Entry)> = [(1, "a"), (1, "b"), (2, "c"), (2, "d"), (2, "e")]
        .iter()
        .enumerate()
        .map(|(i, (t, d))| (LogIndex(i as u64 + 1), e(*t, d)))
        .collect();
    for (snapshot_term, kept) in [(3, 0), (2, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RaftStore::open(StdDisk, dir.path()).unwrap().store;
        store.save(None, None, &log).unwrap();
        let old_log = std::fs::read(dir.path().join("raft-log")).unwrap();
        let meta = SnapshotMeta {
            index: LogIndex(3),
            term: Term(snapshot_term),
        };
        store.save_snapshot(meta, b"state", &[]).unwrap();
        drop(store);
        // The second rename never happened.
        std::fs::write(dir.path().join("raft-log"), &old_log).unwrap();
        let opened = RaftStore::open(StdDisk, dir.path()).unwrap();
        assert_eq!(opened.recovered.snapshot, Some(meta));
        assert_eq!(
            opened.recovered.entries.len(),
            kept,
            "snapshot term {snapshot_term}"
        );
    }
}

/// The log written with a snapshot is the snapshot's own: its entries after the snapshot
/// are kept even though it does not hold the snapshot's last entry.
#[test]
fn a_log_written_with_its_snapshot_keeps_its_entries() {
    use crate::raft::SnapshotMeta;
    use protocol::peer::{Entry, LogIndex, Term};
    let dir = tempfile::tempdir().unwrap();
    let mut store = RaftStore::open(StdDisk, dir.path()).unwrap().store;
    let meta = SnapshotMeta {
        index: LogIndex(3),
        term: Term(2),
    };
    let after = [(
        LogIndex(4),
        Entry {
            term: Term(3),
            data: Bytes::from_static(b"d"),
        },
    )];
    store.save_snapshot(meta, b"state", &after).unwrap();
    drop(store);
    let opened = RaftStore::open(StdDisk, dir.path()).unwrap();
    assert_eq!(opened.recovered.entries, vec![after[0].1.clone()]);
}

/// A snapshot file is checksummed: any damaged byte stops the store from opening, with
/// an error naming the file; a file of the first (unchecked) format is still read.
#[test]
fn a_damaged_snapshot_is_refused_and_an_unchecked_old_one_is_read() {
    use crate::raft::SnapshotMeta;
    use protocol::peer::{LogIndex, Term};
    let dir = tempfile::tempdir().unwrap();
    let mut store = RaftStore::open(StdDisk, dir.path()).unwrap().store;
    let meta = SnapshotMeta {
        index: LogIndex(3),
        term: Term(2),
    };
    store.save_snapshot(meta, b"state", &[]).unwrap();
    drop(store);
    let path = dir.path().join("raft-snapshot");
    let good = std::fs::read(&path).unwrap();
    for at in 0..good.len() {
        let mut bytes = good.clone();
        bytes[at] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let Err(GroupError::Io(e)) = RaftStore::open(StdDisk, dir.path()) else {
            panic!("byte {at} damaged, yet the snapshot was read");
        };
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "byte {at}");
        assert!(e.to_string().contains("raft-snapshot"), "{e}");
    }
    // The first format: index, term, state.
    let mut old = Vec::new();
    old.extend_from_slice(&3u64.to_be_bytes());
    old.extend_from_slice(&2u64.to_be_bytes());
    old.extend_from_slice(b"state");
    std::fs::write(&path, &old).unwrap();
    let opened = RaftStore::open(StdDisk, dir.path()).unwrap();
    assert_eq!(opened.recovered.snapshot, Some(meta));
    assert_eq!(opened.snapshot_state.as_deref(), Some(&b"state"[..]));
}

fn of_join(join: u64, command: GroupCommand) -> GroupCommand {
    GroupCommand::ForJoin {
        join,
        command: Box::new(command),
    }
}

/// Lines of an older join, or of a join after its release, are refused without effect:
/// a delayed `write_lock` cannot lock a group for good, a delayed `release_lock` cannot
/// unlock (and drop the moving keys of) a later hand-off, a delayed `next_addr` cannot
/// re-point the group.
#[test]
fn requests_of_an_older_or_finished_join_change_nothing() {
    let mut s = lone_member(50);
    // Join 1 runs to its end.
    assert_eq!(s.apply(&of_join(1, GroupCommand::WriteLock)), Outcome::Ok);
    assert_eq!(
        s.apply(&of_join(1, GroupCommand::SetNext(hp("b:2")))),
        Outcome::Ok
    );
    assert_eq!(s.apply(&of_join(1, GroupCommand::ReleaseLock)), Outcome::Ok);
    assert!(!s.locked);
    // Its write_lock arrives late: refused, the group stays unlocked.
    let late_lock = s.apply(&of_join(1, GroupCommand::WriteLock));
    assert!(matches!(late_lock, Outcome::Rejected(_)), "{late_lock:?}");
    assert!(!s.locked);
    // Its release_lock again (the ECS missed the ok): ok, nothing changes.
    assert_eq!(s.apply(&of_join(1, GroupCommand::ReleaseLock)), Outcome::Ok);

    // Join 3 locks and starts a hand-off to c:3.
    assert_eq!(s.apply(&of_join(3, GroupCommand::WriteLock)), Outcome::Ok);
    assert_eq!(
        s.apply(&of_join(3, GroupCommand::SetNext(hp("c:3")))),
        Outcome::Ok
    );
    let begin = GroupCommand::BeginTransfer {
        end: hp("a:1"),
        transfer_id: 7,
        part_size: 512,
    };
    assert_eq!(s.apply(&of_join(3, begin)), Outcome::Ok);
    assert_eq!(s.transfer.as_ref().and_then(|t| t.join), Some(3));
    let keys = s.kv.len();
    // Join 1's (or 2's) lines, delayed: refused, the hand-off and the lock stand.
    for old in [1, 2] {
        for cmd in [
            GroupCommand::ReleaseLock,
            GroupCommand::SetNext(hp("b:2")),
            GroupCommand::WriteLock,
        ] {
            let outcome = s.apply(&of_join(old, cmd.clone()));
            assert!(
                matches!(outcome, Outcome::Rejected(_)),
                "{cmd:?}: {outcome:?}"
            );
        }
    }
    assert!(s.locked);
    assert_eq!(s.next, Some(hp("c:3")));
    assert!(s.transfer.is_some());
    assert_eq!(s.kv.len(), keys);
}

/// A newcomer never gets a `release_lock`: the view that puts it on the ring closes the
/// join that admitted it, so a delayed `next_addr` of that join cannot point `next` back
/// at a successor that has left the ring since
/// (review-newcomers-held-next-addr-after-a-quiet-removal).
#[test]
fn a_newcomers_join_closes_when_it_is_announced() {
    let mut s = GroupState::new(hp("n:4"));
    // Join 4 admits n:4 between a:1 and s:2; the ECS tells it its next, then announces it.
    assert_eq!(
        s.apply(&of_join(4, GroupCommand::SetNext(hp("s:2")))),
        Outcome::Ok
    );
    assert_eq!(s.apply(&GroupCommand::AddMember(hp("n:4"))), Outcome::Ok);
    assert!(s.join_closed, "announced: join 4 is over at the newcomer");
    assert_eq!(s.apply(&view(&["a:1", "s:2", "t:3", "n:4"])), Outcome::Ok);
    // s:2 is removed by a quiet removal (no part reached n:4): n:4 now reaches t:3.
    assert_eq!(s.apply(&view_at(5, &["a:1", "t:3", "n:4"])), Outcome::Ok);
    assert_eq!(s.next, None);
    // The copy of join 4's next_addr held on the wire arrives: refused, next unchanged.
    let late = s.apply(&of_join(4, GroupCommand::SetNext(hp("s:2"))));
    assert!(matches!(late, Outcome::Rejected(_)), "{late:?}");
    assert_eq!(s.next, None);

    // The view alone (no broadcast_node first) closes it too; a member's views do not.
    let mut t = GroupState::new(hp("n:4"));
    t.apply(&of_join(4, GroupCommand::SetNext(hp("s:2"))));
    t.apply(&view(&["a:1", "s:2", "n:4"]));
    assert!(t.join_closed);
    let mut member = lone_member(0);
    member.apply(&of_join(2, GroupCommand::WriteLock));
    member.apply(&view(&["a:1", "b:2"]));
    assert!(
        !member.join_closed,
        "a predecessor's join stays open until release_lock"
    );
}

/// A group that holds a view takes ring changes from views alone: a `broadcast_node`
/// held on the wire and delivered after a later view removed its group must not put it
/// back (review-retry-stale-broadcast-node-after-removal).
#[test]
fn a_broadcast_node_after_a_view_leaves_the_ring_alone() {
    let mut s = lone_member(50);
    let get = Command::Get {
        key: Bytes::from_static(b"k1"),
    };
    assert_eq!(s.route(&get), Route::Serve);
    assert_eq!(s.apply(&GroupCommand::AddMember(hp("b:2"))), Outcome::Ok);
    assert!(!s.ring.contains(&hp("b:2")));
    for i in 0..50 {
        let key = Bytes::from(format!("k{i}"));
        assert_eq!(s.route(&Command::Get { key }), Route::Serve);
    }
    // With no view yet (a newcomer), `broadcast_node` is how it learns the ring.
    let mut fresh = GroupState::new(hp("b:2"));
    fresh.apply(&GroupCommand::AddMember(hp("b:2")));
    assert!(fresh.is_member());
}

/// The moved range is dropped only once the receiver has every part and the new ring
/// names it; a join released before that (abandoned) drops nothing.
#[test]
fn a_release_drops_the_range_only_after_a_finished_transfer_and_the_new_ring() {
    let start = |finish: bool, ring: bool| {
        let mut s = lone_member(200);
        begin_transfer_to_b(&mut s, 9);
        if finish {
            s.apply(&GroupCommand::FinishTransfer {
                transfer_id: Some(9),
            });
        }
        if ring {
            s.apply(&view(&["a:1", "b:2"]));
        }
        s.apply(&GroupCommand::ReleaseLock);
        assert!(!s.locked && s.transfer.is_none());
        s.kv.len()
    };
    assert_eq!(start(false, true), 200, "unfinished transfer");
    assert_eq!(start(true, false), 200, "ring without the receiver");
    assert!(start(true, true) < 200, "finished and announced");
}

/// Found by `sim explore` (newcomer-dies-mid-join, seed 0): a sender whose join was
/// abandoned recorded "finished" after a later join had begun its own transfer, which was
/// then finished, reported done and dropped without a part sent.
#[test]
fn a_finish_names_its_transfer_and_finishes_no_other() {
    let mut s = lone_member(200);
    begin_transfer_to_b(&mut s, 7);
    let stale = GroupCommand::FinishTransfer {
        transfer_id: Some(6),
    };
    assert!(matches!(s.apply(&stale), Outcome::Rejected(_)));
    assert!(!s.transfer.as_ref().unwrap().finished);
    let own = GroupCommand::FinishTransfer {
        transfer_id: Some(7),
    };
    assert_eq!(s.apply(&own), Outcome::Ok);
    assert!(s.transfer.as_ref().unwrap().finished);
    // Both forms survive the log.
    for command in [own, GroupCommand::FinishTransfer { transfer_id: None }] {
        let mut bytes = bytes::BytesMut::new();
        command.encode(&mut bytes);
        assert_eq!(GroupCommand::decode(&bytes).unwrap(), command);
    }
}

/// A caller that skips entries (as the replica did when it saved an installed snapshot
/// without the log suffix the core kept) gets an error, not a log that `open` refuses
/// later with "leaves a gap".
#[test]
fn the_raft_store_refuses_entries_that_do_not_continue_its_log() {
    use crate::io::mem::MemDisk;
    use crate::io::Disk;
    use crate::raft::{HardState, SnapshotMeta};
    use protocol::peer::{Entry, LogIndex, Term};
    use std::path::Path;
    let e = |i: u64| {
        (
            LogIndex(i),
            Entry {
                term: Term(1),
                data: Bytes::from(format!("e{i}")),
            },
        )
    };
    let disk = MemDisk::new();
    let log = Path::new("/g/raft-log");
    let mut store = RaftStore::open(disk.clone(), Path::new("/g"))
        .unwrap()
        .store;
    store.save(None, None, &[e(1), e(2)]).unwrap();
    let written = disk.read(log).unwrap();
    let vote = HardState {
        term: Term(2),
        voted_for: None,
    };
    let err = store.save(Some(&vote), None, &[e(4)]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("entry 4 does not continue the stored log, which ends at 2"),
        "{err}"
    );
    assert_eq!(disk.read(log).unwrap(), written, "nothing was written");
    assert_eq!(store.hard_state(), HardState::default());
    let err = store.save(None, None, &[e(2)]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "an overlap: {err}");
    // After a truncation the log ends where it was cut.
    store.save(None, Some(LogIndex(1)), &[e(2), e(3)]).unwrap();
    assert_eq!(store.last_index(), LogIndex(3));
    let meta = SnapshotMeta {
        index: LogIndex(1),
        term: Term(1),
    };
    let err = store.save_snapshot(meta, b"s", &[e(3)]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(disk.read(Path::new("/g/raft-snapshot")).unwrap(), None);
    store.save_snapshot(meta, b"s", &[e(2), e(3)]).unwrap();
    // A truncation before the snapshot leaves the log at the snapshot.
    store.save(None, Some(LogIndex(0)), &[e(2)]).unwrap();
    assert_eq!(store.last_index(), LogIndex(2));
    drop(store);
    disk.crash();
    let opened = RaftStore::open(disk, Path::new("/g")).unwrap();
    assert_eq!(opened.recovered.entries, vec![e(2).1]);
}

/// The Raft log's records: `(offset, length)` of each, header included.
fn raft_log_records(bytes: &[u8]) -> Vec<(usize, usize)> {
    // The current WAL format: magic, then `length | CRC(length) | payload | CRC | 0xE5`.
    assert_eq!(bytes[..8], crate::wal::MAGIC);
    let mut at = 8;
    let mut records = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        records.push((at, 8 + len + 5));
        at += 8 + len + 5;
    }
    records
}

/// A store on a fresh disk holding entries 1..=5 (term 1), each saved (and synced) on its
/// own, as five `Ready`s would.
fn raft_store_with_five_entries() -> (crate::io::mem::MemDisk, Vec<protocol::peer::Entry>) {
    use protocol::peer::{Entry, LogIndex, Term};
    let disk = crate::io::mem::MemDisk::new();
    let mut store = RaftStore::open(disk.clone(), std::path::Path::new("/g"))
        .unwrap()
        .store;
    let entries: Vec<Entry> = (1..=5)
        .map(|i| Entry {
            term: Term(1),
            data: Bytes::from(format!("entry {i}")),
        })
        .collect();
    for (i, e) in entries.iter().enumerate() {
        store
            .save(None, None, &[(LogIndex(i as u64 + 1), e.clone())])
            .unwrap();
    }
    (disk, entries)
}

/// Replaces `path`'s contents durably, as damage on the disk would.
fn overwrite(disk: &crate::io::mem::MemDisk, path: &std::path::Path, bytes: &[u8]) {
    use crate::io::{Disk, LogFile};
    let mut f = disk.create_file(path).unwrap();
    f.append(bytes).unwrap();
    f.sync().unwrap();
}

/// Wal's own tests cover the framing; this is what a node sees: a damaged synced record
/// with records after it is not a torn write, and the store refuses to start rather than
/// drop the acknowledged entries after it.
#[test]
fn a_damaged_record_inside_the_raft_log_stops_the_store_from_opening() {
    use crate::io::Disk;
    use std::path::Path;
    let (disk, _) = raft_store_with_five_entries();
    disk.crash();
    let path = Path::new("/g/raft-log");
    let mut bytes = disk.read(path).unwrap().unwrap();
    let records = raft_log_records(&bytes);
    assert_eq!(records.len(), 6, "base record and five entries");
    let (third_entry, len) = records[3];
    bytes[third_entry + len - 6] ^= 0x01; // the entry's last data byte (before CRC, end)
    overwrite(&disk, path, &bytes);

    let err = match RaftStore::open(disk.clone(), Path::new("/g")) {
        Err(GroupError::Io(e)) => e,
        Err(other) => panic!("expected an I/O error, got {other}"),
        Ok(_) => panic!("a damaged log opened"),
    };
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .contains(&format!("record at byte {third_entry} is corrupted")),
        "{err}"
    );
    assert_eq!(
        disk.read(path).unwrap().unwrap(),
        bytes,
        "the evidence stays on disk"
    );
}

/// A power loss in the middle of a write leaves part of the last record: the store drops
/// it, keeps every whole entry, and appends after them.
#[test]
fn a_torn_last_record_of_the_raft_log_is_dropped() {
    use crate::io::Disk;
    use protocol::peer::{Entry, LogIndex, Term};
    use std::path::Path;
    let (disk, mut entries) = raft_store_with_five_entries();
    disk.crash();
    let path = Path::new("/g/raft-log");
    let bytes = disk.read(path).unwrap().unwrap();
    let (last, len) = *raft_log_records(&bytes).last().unwrap();
    assert_eq!(last + len, bytes.len());
    // Cut in the header, the payload, the payload's CRC: torn. (Only the end byte
    // missing keeps the record: see `wal`'s format.)
    for cut in [1, 8, len / 2, len - 3] {
        overwrite(&disk, path, &bytes[..last + cut]);
        let opened = RaftStore::open(disk.clone(), Path::new("/g")).unwrap();
        assert_eq!(opened.recovered.entries, entries[..4], "cut at {cut}");
        assert_eq!(opened.store.last_index(), LogIndex(4));
        assert_eq!(disk.read(path).unwrap().unwrap(), &bytes[..last]);
    }
    // The torn tail is gone from the disk, not just skipped: a new entry 5 follows 4.
    let mut store = RaftStore::open(disk.clone(), Path::new("/g"))
        .unwrap()
        .store;
    let new = Entry {
        term: Term(2),
        data: Bytes::from_static(b"new 5"),
    };
    store
        .save(None, None, &[(LogIndex(5), new.clone())])
        .unwrap();
    drop(store);
    disk.crash();
    entries[4] = new;
    let opened = RaftStore::open(disk, Path::new("/g")).unwrap();
    assert_eq!(opened.recovered.entries, entries);
}

/// A removal at the two groups it involves: leaving group "b:2" hands its whole range to
/// "a:1", the member before it. The leaver serves reads of its range until the transfer
/// finishes, never a key it did not hold, and no write once locked; the receiver takes
/// the parts while it does not serve those keys, serves them once the ring without the
/// leaver arrives, and refuses a late part from then on.
#[test]
fn a_removal_hands_the_whole_range_to_the_member_before() {
    let ring2 = |own: &str, next: &str| {
        let mut s = GroupState::new(hp(own));
        s.apply(&GroupCommand::SetNext(hp(next)));
        s.apply(&view(&["a:1", "b:2"]));
        for i in 0..100 {
            s.apply(&put(&format!("k{i}"), own));
        }
        s
    };
    let (mut receiver, mut leaver) = (ring2("a:1", "b:2"), ring2("b:2", "a:1"));
    assert!(!leaver.kv.is_empty() && !receiver.kv.is_empty());
    let leavers_key = leaver.kv.keys().next().unwrap().clone();
    let receivers_key = receiver.kv.keys().next().unwrap().clone();
    let get = |key: &Bytes| Command::Get { key: key.clone() };
    leaver.apply(&GroupCommand::WriteLock);
    let hand_over = GroupCommand::HandOver {
        to: hp("a:1"),
        end: hp("a:1"),
        transfer_id: 7,
        part_size: 4096,
    };
    assert_eq!(leaver.apply(&hand_over), Outcome::Ok);
    assert_eq!(leaver.next, Some(hp("a:1")), "the leaver's next stays");
    assert_eq!(leaver.route(&get(&leavers_key)), Route::Serve);
    // A key the leaver never held is inside the transfer's arc: not served from here.
    assert!(matches!(
        leaver.route(&get(&receivers_key)),
        Route::Retry(_)
    ));
    assert!(matches!(
        leaver.apply(&put("k0", "late")),
        Outcome::Refused(Route::Retry(_))
    ));
    // The parts, as the hand-off cuts them.
    let t = leaver.transfer.clone().unwrap();
    let items = leaver
        .kv
        .iter()
        .filter(|(k, _)| t.arc.contains_key(k))
        .map(|(k, v)| Item::new(k.clone(), v.clone()))
        .collect::<Vec<_>>();
    assert_eq!(items.len(), leaver.kv.len(), "the whole range moves");
    let part = PutPart {
        transfer_id: 7,
        part: 0,
        items,
        sessions: vec![],
    };
    assert!(
        receiver.takes_part(&part),
        "the receiver does not serve these keys yet"
    );
    assert_eq!(
        receiver.apply(&GroupCommand::ReceivePart(part.clone())),
        Outcome::Ok
    );
    assert_eq!(receiver.route(&get(&leavers_key)), Route::Redirect(1));
    leaver.apply(&GroupCommand::FinishTransfer {
        transfer_id: Some(7),
    });
    assert!(matches!(leaver.route(&get(&leavers_key)), Route::Retry(_)));
    // The ring without the leaver: the receiver's next (the leaver) is forgotten.
    let without = GroupCommand::SetView(ClusterView {
        version: 3,
        nodes: vec![NodeEntry {
            id: 0,
            ring: hp("a:1"),
            admin: hp("a:1"),
            client: hp("a:1"),
        }],
    });
    receiver.apply(&without);
    assert_eq!(receiver.next, None);
    assert_eq!(receiver.route(&get(&leavers_key)), Route::Serve);
    assert_eq!(
        receiver.read(&leavers_key),
        Response::Value(Some(Bytes::from("b:2")))
    );
    assert!(
        !receiver.takes_part(&part),
        "a late part after the range is served"
    );
    leaver.apply(&without);
    assert!(leaver.has_left() && !leaver.is_member());
    leaver.apply(&GroupCommand::ReleaseLock);
    assert!(leaver.kv.is_empty(), "the leaver drops what it handed over");
    assert_eq!(leaver.route(&get(&leavers_key)), Route::Redirect(-1));
}

/// Liveness (review of removal): a member that receives one removal's range after another
/// keeps taking parts. It used to remember every transfer id it had received parts of, so
/// from the hand-over after the 16th (`bounds::MAX_OPEN_TRANSFERS`) every part was refused
/// and the removal, never abandoned, blocked for good. A part of an older join is still
/// refused as stale, so forgetting the older ids lets no duplicate in.
#[test]
fn a_member_takes_the_parts_of_every_hand_over_it_receives() {
    let mut receiver = GroupState::new(hp("a:1"));
    receiver.apply(&view(&["a:1"]));
    let part = |join: u64| GroupCommand::ForJoin {
        join,
        command: Box::new(GroupCommand::ReceivePart(PutPart {
            transfer_id: 1000 + join,
            part: 0,
            items: vec![Item::new(
                Bytes::from(format!("k{join}")),
                Bytes::from_static(b"v"),
            )],
            sessions: vec![],
        })),
    };
    for join in 1..=(3 * crate::bounds::MAX_OPEN_TRANSFERS as u64) {
        assert_eq!(receiver.apply(&part(join)), Outcome::Ok, "join {join}");
        assert_eq!(receiver.apply(&part(join)), Outcome::Ok, "a resent part");
    }
    assert!(matches!(receiver.apply(&part(3)), Outcome::Rejected(_)));
}
