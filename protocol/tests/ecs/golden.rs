//! Golden lines, written by hand (base64 worked out on paper, not by the code under
//! test): each line parses to the value built beside it, and the value writes exactly
//! that line. Also the tolerance of hand-typed variants of them.

use bytes::Bytes;
use protocol::ecs::{
    ClusterView, Item, Member, NodeEntry, PutPart, Register, Reply, Request, SessionEntry,
};

use super::hp;

fn item(key: &'static [u8], value: &'static [u8]) -> Item {
    Item {
        key: Bytes::from_static(key),
        value: Bytes::from_static(value),
    }
}

fn requests() -> Vec<(&'static str, Request)> {
    vec![
        ("write_lock", Request::WriteLock),
        ("release_lock", Request::ReleaseLock),
        (
            "next_addr 10.0.0.3 5003",
            Request::NextAddr(hp("10.0.0.3", 5003)),
        ),
        ("next_addr ::1 7000", Request::NextAddr(hp("::1", 7000))),
        (
            "transfer_range s3.example.org 5003",
            Request::TransferRange(hp("s3.example.org", 5003)),
        ),
        (
            "broadcast_node 10.0.0.1 5001",
            Request::BroadcastNode(hp("10.0.0.1", 5001)),
        ),
        (
            "broadcast_node fe80::1%eth0 0",
            Request::BroadcastNode(hp("fe80::1%eth0", 0)),
        ),
        // "k" = 0x6b = 011010 11(0000) -> a w = =; "v" = 0x76 = 011101 10(0000) -> d g = =
        (
            "ecs_put 42 0 aw==:dg==",
            Request::EcsPut(PutPart {
                transfer_id: 42,
                part: 0,
                items: vec![item(b"k", b"v")],
                sessions: vec![],
            }),
        ),
        // A session entry (extension): client 0x2a, sequence 7, key "k", answer 'K'
        // (stored) = 0x4b -> 010010 11(0000) -> S w = =.
        (
            "ecs_put 42 1 aw==:dg== !000000000000002a.7.aw==.Sw==",
            Request::EcsPut(PutPart {
                transfer_id: 42,
                part: 1,
                items: vec![item(b"k", b"v")],
                sessions: vec![SessionEntry {
                    client_id: 0x2a,
                    sequence: 7,
                    key: Bytes::from_static(b"k"),
                    answer: Bytes::from_static(b"K"),
                }],
            }),
        ),
        // [00 ff] -> 000000 001111 1111(00) -> A P 8 =, with an empty value;
        // "key" -> a2V5, "value" -> dmFsdWU=; [fb ff] -> + / 8 =, [ff ff ff] -> ////;
        // an empty key with value "hello" -> aGVsbG8=.
        (
            "ecs_put 7 12 AP8=: a2V5:dmFsdWU= +/8=://// :aGVsbG8=",
            Request::EcsPut(PutPart {
                transfer_id: 7,
                part: 12,
                items: vec![
                    item(&[0x00, 0xff], b""),
                    item(b"key", b"value"),
                    item(&[0xfb, 0xff], &[0xff, 0xff, 0xff]),
                    item(b"", b"hello"),
                ],
                sessions: vec![],
            }),
        ),
        (
            "ecs_put 18446744073709551615 4294967295",
            Request::EcsPut(PutPart {
                transfer_id: u64::MAX,
                part: u32::MAX,
                items: vec![],
                sessions: vec![],
            }),
        ),
        ("done", Request::Done(None)),
        ("abort_join", Request::AbortJoin),
        ("status", Request::Status),
        // Removal (extension).
        (
            "remove_group 10.0.0.2 5002",
            Request::RemoveGroup(hp("10.0.0.2", 5002)),
        ),
        (
            "hand_over 10.0.0.1 5001 10.0.0.3 5003 join=9",
            Request::HandOver {
                to: hp("10.0.0.1", 5001),
                end: hp("10.0.0.3", 5003),
            }
            .for_join(9),
        ),
        // Hand-off progress (extension).
        (
            "progress 12 63 join=5",
            Request::Progress {
                acked: 12,
                total: 63,
            }
            .for_join(5),
        ),
        // The join tag (extension): the request of join 7, and of join 0.
        ("write_lock join=7", Request::WriteLock.for_join(7)),
        (
            "next_addr 10.0.0.3 5003 join=0",
            Request::NextAddr(hp("10.0.0.3", 5003)).for_join(0),
        ),
        (
            "done 10.0.0.2 5002 join=18446744073709551615",
            Request::Done(Some(hp("10.0.0.2", 5002))).for_join(u64::MAX),
        ),
        (
            "done 10.0.0.2 5002",
            Request::Done(Some(hp("10.0.0.2", 5002))),
        ),
        (
            "register 10.0.0.1 5001",
            Request::Register(Register {
                ring: hp("10.0.0.1", 5001),
                members: vec![],
            }),
        ),
        (
            "register 10.0.0.1 5001 10.0.0.1:6001/10.0.0.1:7001 [fe80::1]:6002/[fe80::1]:7002",
            Request::Register(Register {
                ring: hp("10.0.0.1", 5001),
                members: vec![
                    Member {
                        admin: hp("10.0.0.1", 6001),
                        client: hp("10.0.0.1", 7001),
                    },
                    Member {
                        admin: hp("fe80::1", 6002),
                        client: hp("fe80::1", 7002),
                    },
                ],
            }),
        ),
        (
            "cluster_view 3 0/g1:5001/n0:6001/n0:7001 1/g1:5001/n1:6001/n1:7001 \
             2/[::2]:5002/[::2]:6001/[::2]:7001",
            Request::ClusterView(ClusterView {
                version: 3,
                nodes: vec![
                    NodeEntry {
                        id: 0,
                        ring: hp("g1", 5001),
                        admin: hp("n0", 6001),
                        client: hp("n0", 7001),
                    },
                    NodeEntry {
                        id: 1,
                        ring: hp("g1", 5001),
                        admin: hp("n1", 6001),
                        client: hp("n1", 7001),
                    },
                    NodeEntry {
                        id: 2,
                        ring: hp("::2", 5002),
                        admin: hp("::2", 6001),
                        client: hp("::2", 7001),
                    },
                ],
            }),
        ),
        (
            "cluster_view 0",
            Request::ClusterView(ClusterView {
                version: 0,
                nodes: vec![],
            }),
        ),
        (
            "group_members n2a 7002 n2a:7002/n2a:7001 n2b:7002/n2b:7001",
            Request::GroupMembers(Register {
                ring: hp("n2a", 7002),
                members: vec![
                    Member {
                        admin: hp("n2a", 7002),
                        client: hp("n2a", 7001),
                    },
                    Member {
                        admin: hp("n2b", 7002),
                        client: hp("n2b", 7001),
                    },
                ],
            }),
        ),
    ]
}

fn replies() -> Vec<(&'static str, Reply)> {
    vec![
        ("ok", Reply::Ok),
        ("error", Reply::Error(String::new())),
        (
            "error write_locked: retry later",
            Reply::Error("write_locked: retry later".into()),
        ),
        ("error a  b", Reply::Error("a  b".into())),
        (
            "error not_leader 10.0.0.2 6001",
            Reply::NotLeader(Some(hp("10.0.0.2", 6001))),
        ),
        (
            "error not_leader ::1 6001",
            Reply::NotLeader(Some(hp("::1", 6001))),
        ),
        ("error not_leader unknown", Reply::NotLeader(None)),
    ]
}

#[test]
fn every_request_form_parses_and_writes_its_golden_line() {
    for (line, value) in requests() {
        assert_eq!(Request::parse(line), Ok(value.clone()), "parsing {line:?}");
        assert_eq!(value.to_line(), line, "writing {value:?}");
        assert_eq!(value.to_string(), line);
    }
}

#[test]
fn every_reply_form_parses_and_writes_its_golden_line() {
    for (line, value) in replies() {
        assert_eq!(Reply::parse(line), Ok(value.clone()), "parsing {line:?}");
        assert_eq!(value.to_line(), line, "writing {value:?}");
    }
}

#[test]
fn host_port_text_form() {
    assert_eq!(hp("10.0.0.1", 80).to_string(), "10.0.0.1:80");
    assert_eq!(hp("::1", 80).to_string(), "[::1]:80");
    assert_eq!("[::1]:80".parse(), Ok(hp("::1", 80)));
    assert_eq!("node-1:65535".parse(), Ok(hp("node-1", 65535)));
}

#[test]
fn hand_typed_lines_are_tolerated() {
    let cases: Vec<(&str, Request)> = vec![
        ("  WRITE_LOCK \r\n", Request::WriteLock),
        ("write_lock\n", Request::WriteLock),
        ("\tRelease_Lock\t", Request::ReleaseLock),
        (
            "next_addr\t10.0.0.3  5003\r\n",
            Request::NextAddr(hp("10.0.0.3", 5003)),
        ),
        ("NEXT_ADDR [::1] 7000", Request::NextAddr(hp("::1", 7000))),
        ("next_addr h 007", Request::NextAddr(hp("h", 7))),
        (
            "ecs_put   42\t0  aw==:dg==   \r\n",
            Request::EcsPut(PutPart {
                transfer_id: 42,
                part: 0,
                items: vec![item(b"k", b"v")],
                sessions: vec![],
            }),
        ),
        // A session entry (extension): client 0x2a, sequence 7, key "k", answer 'K'
        // (stored) = 0x4b -> 010010 11(0000) -> S w = =.
        (
            "ecs_put 42 1 aw==:dg== !000000000000002a.7.aw==.Sw==",
            Request::EcsPut(PutPart {
                transfer_id: 42,
                part: 1,
                items: vec![item(b"k", b"v")],
                sessions: vec![SessionEntry {
                    client_id: 0x2a,
                    sequence: 7,
                    key: Bytes::from_static(b"k"),
                    answer: Bytes::from_static(b"K"),
                }],
            }),
        ),
        ("Done \r\n", Request::Done(None)),
        (" done  h  1 ", Request::Done(Some(hp("h", 1)))),
        (
            "REGISTER g 1\t\ta:1/b:2",
            Request::Register(Register {
                ring: hp("g", 1),
                members: vec![Member {
                    admin: hp("a", 1),
                    client: hp("b", 2),
                }],
            }),
        ),
    ];
    for (line, value) in cases {
        assert_eq!(Request::parse(line), Ok(value), "parsing {line:?}");
    }
    let replies: Vec<(&str, Reply)> = vec![
        ("OK\r\n", Reply::Ok),
        ("  ok  ", Reply::Ok),
        ("Error\r\n", Reply::Error(String::new())),
        (
            "error   some \t reason  \r\n",
            Reply::Error("some   reason".into()),
        ),
        ("ERROR   Not_Leader   UNKNOWN\r\n", Reply::NotLeader(None)),
        ("error not_leader\th\t9", Reply::NotLeader(Some(hp("h", 9)))),
    ];
    for (line, value) in replies {
        assert_eq!(Reply::parse(line), Ok(value), "parsing {line:?}");
    }
}
