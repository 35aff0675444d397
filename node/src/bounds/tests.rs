//! Each bound both ways: the honest extreme passes, one past it is refused, and a group
//! that refuses a value keeps its state.

use bytes::Bytes;
use protocol::ecs::{HostPort, Item, Member, NodeEntry, SessionEntry};

use super::*;
use crate::group::{GroupCommand, GroupState, Outcome};

fn hp(host: &str, port: u16) -> HostPort {
    HostPort::new(host, port).unwrap()
}

fn node(id: u32) -> NodeEntry {
    NodeEntry {
        id,
        ring: hp("g1", 7002),
        admin: hp(&format!("n{id}"), 7002),
        client: hp(&format!("n{id}"), 7001),
    }
}

fn view(version: u64, ids: &[u32]) -> ClusterView {
    ClusterView {
        version,
        nodes: ids.iter().map(|&id| node(id)).collect(),
    }
}

#[test]
fn view_ids_are_below_the_node_limit_and_unique() {
    let ok = Request::ClusterView(view(1, &[0, 1, MAX_NODES - 1]));
    assert_eq!(check_request(&ok, 10), Ok(()));
    let big = Request::ClusterView(view(1, &[0, MAX_NODES])).for_join(4);
    assert_eq!(
        check_request(&big, 10),
        Err(BoundsError::NodeId { id: MAX_NODES })
    );
    let max = Request::ClusterView(view(1, &[u32::MAX]));
    assert!(check_request(&max, 10).is_err());
    let twice = Request::ClusterView(view(1, &[3, 1, 3]));
    assert_eq!(
        check_request(&twice, 10),
        Err(BoundsError::DuplicateNodeId { id: 3 })
    );
    let mut many = view(1, &[]);
    many.nodes = vec![node(0); MAX_NODES as usize + 1];
    assert_eq!(
        check_request(&Request::ClusterView(many), 10),
        Err(BoundsError::TooManyNodes {
            count: MAX_NODES as usize + 1
        })
    );
}

#[test]
fn groups_have_at_most_five_distinct_members() {
    let member = |i: u16| Member {
        admin: hp("a", i),
        client: hp("c", i),
    };
    let group = |n: u16| Register {
        ring: hp("a", 1),
        members: (1..=n).map(member).collect(),
    };
    assert_eq!(check_request(&Request::Register(group(5)), 10), Ok(()));
    assert_eq!(check_request(&Request::Register(group(0)), 10), Ok(()));
    assert_eq!(
        check_request(&Request::Register(group(6)), 10),
        Err(BoundsError::TooManyMembers {
            command: "register",
            count: 6
        })
    );
    assert!(check_request(&Request::GroupMembers(group(6)), 10).is_err());
    let mut twice = group(3);
    twice.members[2].admin = hp("a", 1);
    assert!(matches!(
        check_request(&Request::GroupMembers(twice), 10),
        Err(BoundsError::DuplicateMember { .. })
    ));
}

#[test]
fn put_items_are_no_larger_than_a_client_may_write() {
    let part = |key: usize, value: usize| {
        Request::EcsPut(PutPart {
            transfer_id: 1,
            part: 0,
            items: vec![
                Item::new(Bytes::from_static(b"k"), Bytes::from_static(b"v")),
                Item::new(Bytes::from(vec![b'k'; key]), Bytes::from(vec![b'v'; value])),
            ],
            sessions: vec![],
        })
    };
    assert_eq!(check_request(&part(10, 10), 10), Ok(()));
    assert_eq!(
        check_request(&part(10, 11), 10),
        Err(BoundsError::FieldTooLong {
            what: "item",
            index: 1,
            field: "value",
            len: 11,
            max: 10
        })
    );
    assert!(check_request(&part(11, 1), 10).is_err());
    let session = |key: usize| {
        Request::EcsPut(PutPart {
            transfer_id: 1,
            part: 0,
            items: vec![],
            sessions: vec![SessionEntry {
                client_id: 1,
                sequence: 1,
                key: Bytes::from(vec![b'k'; key]),
                answer: Bytes::from_static(b"K"),
            }],
        })
    };
    assert_eq!(check_request(&session(10), 10), Ok(()));
    assert!(check_request(&session(11), 10).is_err());
}

#[test]
fn steps_forward_are_bounded_and_steps_back_pass() {
    assert_eq!(check_view_step(None, MAX_VIEW_STEP), Ok(()));
    assert!(check_view_step(None, MAX_VIEW_STEP + 1).is_err());
    assert_eq!(check_view_step(Some(10), 10 + MAX_VIEW_STEP), Ok(()));
    assert!(check_view_step(Some(10), u64::MAX).is_err());
    assert_eq!(check_view_step(Some(u64::MAX), 3), Ok(()));
    assert_eq!(check_join(MAX_JOIN - 1), Ok(()));
    assert!(check_join(MAX_JOIN).is_err());
    assert!(check_join(u64::MAX).is_err());
    assert_eq!(check_join(1), Ok(()));
}

#[test]
fn a_group_refuses_a_view_far_ahead_and_keeps_taking_honest_ones() {
    let mut s = GroupState::new(hp("g1", 7002));
    assert_eq!(s.apply(&GroupCommand::SetView(view(1, &[0]))), Outcome::Ok);
    let poison = GroupCommand::SetView(view(u64::MAX, &[0]));
    assert!(matches!(s.apply(&poison), Outcome::Rejected(r) if r.contains("out of bounds")));
    assert_eq!(s.view.as_ref().map(|v| v.version), Some(1));
    assert_eq!(
        s.apply(&GroupCommand::SetView(view(2, &[0, 1]))),
        Outcome::Ok
    );
    assert_eq!(s.view.as_ref().map(|v| v.version), Some(2));
}

#[test]
fn a_group_refuses_a_join_tag_far_ahead_and_keeps_taking_honest_ones() {
    let mut s = GroupState::new(hp("g1", 7002));
    let lock = |join| GroupCommand::ForJoin {
        join,
        command: Box::new(GroupCommand::WriteLock),
    };
    let poison = lock(u64::MAX);
    assert!(matches!(s.apply(&poison), Outcome::Rejected(r) if r.contains("out of bounds")));
    assert_eq!((s.join, s.locked), (0, false));
    assert_eq!(s.apply(&lock(3)), Outcome::Ok);
    assert_eq!((s.join, s.locked), (3, true));
}

#[test]
fn a_receiver_holds_parts_of_a_bounded_number_of_transfers() {
    let mut s = GroupState::new(hp("g2", 7002));
    let part = |transfer_id| {
        GroupCommand::ReceivePart(PutPart {
            transfer_id,
            part: 0,
            items: vec![Item::new(
                Bytes::from(format!("k{transfer_id}")),
                Bytes::from_static(b"v"),
            )],
            sessions: vec![],
        })
    };
    for id in 0..MAX_OPEN_TRANSFERS as u64 {
        assert_eq!(s.apply(&part(id)), Outcome::Ok);
    }
    // More parts of a transfer already held still go in; a new transfer does not.
    assert_eq!(s.apply(&part(0)), Outcome::Ok);
    let one_more = MAX_OPEN_TRANSFERS as u64;
    assert!(matches!(s.apply(&part(one_more)), Outcome::Rejected(_)));
    assert!(!s.kv.contains_key(format!("k{one_more}").as_bytes()));
}

/// Liveness (a hostile review's finding): a group that never took part in a join holds 0;
/// after more than 2^20 joins elsewhere (abandoned ones count), the ECS's honest first line
/// to it must still be taken. A bound relative to the group's latest join refused it, and
/// the group could never join.
#[test]
fn a_new_group_takes_its_first_join_after_a_long_cluster_life() {
    let mut s = GroupState::new(hp("g9", 7002));
    let next = GroupCommand::ForJoin {
        join: (1 << 20) + 7,
        command: Box::new(GroupCommand::SetNext(hp("g1", 7002))),
    };
    assert_eq!(s.apply(&next), Outcome::Ok);
    assert_eq!(s.join, (1 << 20) + 7);
}

/// The same for a group named again (as a predecessor) after 2^20 other joins: its honest
/// `write_lock` must be taken, or that part of the ring never splits again.
#[test]
fn a_group_named_again_after_many_other_joins_takes_the_lock() {
    let mut s = GroupState::new(hp("g1", 7002));
    let lock = |join| GroupCommand::ForJoin {
        join,
        command: Box::new(GroupCommand::WriteLock),
    };
    assert_eq!(s.apply(&lock(2)), Outcome::Ok);
    let release = GroupCommand::ForJoin {
        join: 2,
        command: Box::new(GroupCommand::ReleaseLock),
    };
    assert_eq!(s.apply(&release), Outcome::Ok);
    assert_eq!(s.apply(&lock(2 + (1 << 20) + 1)), Outcome::Ok);
    assert!(s.locked);
}
