//! Client protocol: golden vectors from the seed tables, round trips, and hostile input.

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use protocol::client::{
    AuthMethod, Command, GroupInfo, Outcome, Packet, Request, Response, SessionTag, ViewNode,
};
use protocol::{DecodeError, Limits};

struct Vector {
    kind: String,
    name: String,
    decode_only: bool,
    bytes: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("vectors/client.txt");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty());
        let Some(header) = lines.next() else { continue };
        let mut words = header.split_whitespace();
        let kind = words.next().expect("kind").to_owned();
        let name = words.next().expect("name").to_owned();
        let decode_only = words.next() == Some("decode-only");
        let hex: String = lines.flat_map(|l| l.split_whitespace()).collect();
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        out.push(Vector {
            kind,
            name,
            decode_only,
            bytes,
        });
    }
    out
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn expected_packet(name: &str) -> Packet {
    match name {
        "command_request" => Packet::CommandRequest(Bytes::from_static(b"G\0\0\0\x01k")),
        "command_response" => Packet::CommandResponse(Bytes::from_static(b"K")),
        "error_response" => Packet::ErrorResponse("boom".into()),
        "not_leader" => Packet::NotLeader(2),
        "not_leader_unknown" => Packet::NotLeader(-1),
        "auth_request_none" => Packet::AuthorizationRequest(AuthMethod::None),
        "auth_request_unsupported" => Packet::AuthorizationRequest(AuthMethod::Unsupported(b'Q')),
        "auth_response_ok" | "auth_response_ok_nonzero" => {
            Packet::AuthorizationResponse(Outcome::Accepted)
        }
        "auth_response_rejected" => Packet::AuthorizationResponse(Outcome::Rejected("bad".into())),
        "bootstrap_request" => Packet::BootstrapRequest {
            major: 1,
            minor: 2,
            patch: 3,
        },
        "bootstrap_response_ok" => Packet::BootstrapResponse(Outcome::Accepted),
        "bootstrap_response_rejected" => Packet::BootstrapResponse(Outcome::Rejected("old".into())),
        "metadata_request" => Packet::ClusterMetadataRequest,
        "metadata_response" => Packet::ClusterMetadataResponse {
            addresses: vec!["a:1".into(), "b:2".into()],
            leader_id: 1,
            current_node_id: 0,
        },
        "metadata_response_no_leader" => Packet::ClusterMetadataResponse {
            addresses: vec![],
            leader_id: -1,
            current_node_id: 7,
        },
        other => panic!("no expected value for packet vector {other}"),
    }
}

fn expected_request(name: &str) -> Request {
    let k = b("k");
    let command = match name {
        "get" => Command::Get { key: k },
        "put" => Command::Put {
            key: k,
            value: b("v1"),
        },
        "delete" => Command::Delete { key: k },
        "cas_absent" => Command::CompareAndSet {
            key: k,
            expected: None,
            new: b("v"),
        },
        "cas_expected" => Command::CompareAndSet {
            key: k,
            expected: Some(b("a")),
            new: b("b"),
        },
        "session_put" => {
            return Request {
                session: Some(SessionTag {
                    client_id: 7,
                    sequence: 2,
                }),
                command: Command::Put {
                    key: k,
                    value: Bytes::new(),
                },
            }
        }
        other => panic!("no expected value for request vector {other}"),
    };
    Request::new(command)
}

fn expected_response(name: &str) -> Response {
    match name {
        "value_found" => Response::Value(Some(b("v1"))),
        "value_absent" => Response::Value(None),
        "stored" => Response::Stored,
        "deleted" => Response::Deleted(true),
        "cas_failed" => Response::CompareAndSet {
            swapped: false,
            current: Some(b("x")),
        },
        "cas_swapped_absent" => Response::CompareAndSet {
            swapped: true,
            current: None,
        },
        other => panic!("no expected value for response vector {other}"),
    }
}

#[test]
fn packet_vectors_decode_encode_and_wait_on_every_prefix() {
    let limits = Limits::DEFAULT;
    let mut markers = BTreeSet::new();
    for v in vectors().iter().filter(|v| v.kind == "packet") {
        let expected = expected_packet(&v.name);
        markers.insert(v.bytes[0]);
        let got = Packet::decode(&v.bytes, &limits).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(got, Some((expected.clone(), v.bytes.len())), "{}", v.name);
        if !v.decode_only {
            assert_eq!(
                expected.to_bytes().as_ref(),
                v.bytes.as_slice(),
                "{}",
                v.name
            );
        }
        for cut in 0..v.bytes.len() {
            assert_eq!(
                Packet::decode(&v.bytes[..cut], &limits),
                Ok(None),
                "{} cut at {cut}",
                v.name
            );
        }
        // A following packet in the same buffer is left alone.
        let mut two = v.bytes.clone();
        two.extend_from_slice(b"M");
        assert_eq!(
            Packet::decode(&two, &limits).unwrap().map(|(_, n)| n),
            Some(v.bytes.len())
        );
    }
    assert_eq!(
        markers,
        b"CceAaBbMml".iter().copied().collect(),
        "every seed packet has a vector"
    );
}

#[test]
fn command_vectors_decode_and_encode() {
    let limits = Limits::DEFAULT;
    let all = vectors();
    for v in all.iter().filter(|v| v.kind == "request") {
        let expected = expected_request(&v.name);
        assert_eq!(
            Request::decode(&v.bytes, &limits),
            Ok(expected.clone()),
            "{}",
            v.name
        );
        assert_eq!(
            expected.to_bytes().as_ref(),
            v.bytes.as_slice(),
            "{}",
            v.name
        );
        for cut in 0..v.bytes.len() {
            assert!(
                Request::decode(&v.bytes[..cut], &limits).is_err(),
                "{} cut at {cut}",
                v.name
            );
        }
    }
    for v in all.iter().filter(|v| v.kind == "response") {
        let expected = expected_response(&v.name);
        assert_eq!(
            Response::decode(&v.bytes, &limits),
            Ok(expected.clone()),
            "{}",
            v.name
        );
        assert_eq!(
            expected.to_bytes().as_ref(),
            v.bytes.as_slice(),
            "{}",
            v.name
        );
    }
    assert_eq!(all.iter().filter(|v| v.kind == "request").count(), 6);
    assert_eq!(all.iter().filter(|v| v.kind == "response").count(), 6);
}

#[test]
fn malformed_packets_get_typed_errors() {
    let limits = Limits {
        max_field_len: 16,
        max_array_len: 4,
    };
    let cases: &[(&[u8], DecodeError)] = &[
        (b"Z", DecodeError::UnknownMarker(b'Z')),
        (
            b"C\x00\x00\x00\x11",
            DecodeError::TooLong {
                what: "command body",
                len: 17,
                max: 16,
            },
        ),
        (
            b"e\xff\xff\xff\xfe",
            DecodeError::NegativeLength {
                what: "error message",
                len: -2,
            },
        ),
        (
            b"e\x00\x00\x00\x01\xff",
            DecodeError::BadUtf8 {
                what: "error message",
            },
        ),
        (
            b"m\x00\x00\x00\x05",
            DecodeError::TooLong {
                what: "address list",
                len: 5,
                max: 4,
            },
        ),
    ];
    for (bytes, err) in cases {
        assert_eq!(
            Packet::decode(bytes, &limits),
            Err(err.clone()),
            "{bytes:?}"
        );
    }
    assert_eq!(
        Request::decode(b"G\x00\x00\x00\x01kk", &limits),
        Err(DecodeError::TrailingBytes(1))
    );
    assert_eq!(
        Request::decode(b"Q", &limits),
        Err(DecodeError::UnknownInnerMarker {
            what: "command",
            marker: b'Q'
        })
    );
    assert_eq!(
        Response::decode(b"", &limits),
        Err(DecodeError::Truncated {
            what: "response body"
        })
    );
}

/// A small deterministic generator, so the random-bytes test needs no RNG crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Feeds `data` to the decoder as a stream: skip a byte after an error, consume a packet
/// after a success, stop when it wants more. Returns (packets, errors).
fn drain(data: &[u8], limits: &Limits) -> (usize, usize) {
    let (mut packets, mut errors, mut at) = (0, 0, 0);
    while at < data.len() {
        match Packet::decode(&data[at..], limits) {
            Ok(Some((packet, used))) => {
                assert!(used > 0);
                check_within(&packet, limits);
                if let Packet::CommandRequest(body) = &packet {
                    let _ = Request::decode(body, limits);
                }
                if let Packet::CommandResponse(body) = &packet {
                    let _ = Response::decode(body, limits);
                }
                packets += 1;
                at += used;
            }
            Ok(None) => break,
            Err(_) => {
                errors += 1;
                at += 1;
            }
        }
    }
    (packets, errors)
}

fn check_within(packet: &Packet, limits: &Limits) {
    match packet {
        Packet::CommandRequest(b) | Packet::CommandResponse(b) => {
            assert!(b.len() <= limits.max_field_len)
        }
        Packet::ErrorResponse(s) | Packet::AuthorizationResponse(Outcome::Rejected(s)) => {
            assert!(s.len() <= limits.max_field_len)
        }
        Packet::ClusterMetadataResponse { addresses, .. } => {
            assert!(addresses.len() <= limits.max_array_len);
            assert!(addresses.iter().all(|a| a.len() <= limits.max_field_len));
        }
        _ => {}
    }
}

#[test]
fn one_mebibyte_of_random_bytes_yields_only_typed_errors() {
    let limits = Limits {
        max_field_len: 1024,
        max_array_len: 16,
    };
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let data = rng.fill(1 << 20);
    let (_packets, errors) = drain(&data, &limits);
    assert!(errors > 0, "random bytes should be mostly garbage");

    // Random bytes rarely start with a marker; also try every marker followed by noise.
    for chunk in 0..512 {
        for &m in b"CceAaBbMml" {
            let mut frame = vec![m];
            frame.extend(rng.fill(1 + chunk % 64));
            drain(&frame, &limits);
        }
    }
}

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn arb_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Accepted),
        ".{0,20}".prop_map(Outcome::Rejected)
    ]
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        arb_bytes().prop_map(Packet::CommandRequest),
        arb_bytes().prop_map(Packet::CommandResponse),
        ".{0,40}".prop_map(Packet::ErrorResponse),
        any::<i32>().prop_map(Packet::NotLeader),
        Just(Packet::AuthorizationRequest(AuthMethod::None)),
        arb_outcome().prop_map(Packet::AuthorizationResponse),
        (any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(major, minor, patch)| {
            Packet::BootstrapRequest {
                major,
                minor,
                patch,
            }
        }),
        arb_outcome().prop_map(Packet::BootstrapResponse),
        Just(Packet::ClusterMetadataRequest),
        (
            proptest::collection::vec("[a-z0-9.:-]{0,24}", 0..8),
            any::<i32>(),
            any::<i32>()
        )
            .prop_map(|(addresses, leader_id, current_node_id)| {
                Packet::ClusterMetadataResponse {
                    addresses,
                    leader_id,
                    current_node_id,
                }
            }),
        Just(Packet::GroupInfoRequest),
        arb_group_info().prop_map(Packet::GroupInfoResponse),
    ]
}

fn arb_group_info() -> impl Strategy<Value = GroupInfo> {
    let node = (any::<i32>(), "[a-z0-9.:]{0,16}", "[a-z0-9.:]{0,16}")
        .prop_map(|(id, ring, client)| ViewNode { id, ring, client });
    (
        (
            "[a-z0-9.:]{0,16}",
            any::<bool>(),
            any::<i32>(),
            any::<u64>(),
        ),
        (any::<bool>(), "[a-z0-9.:]{0,16}", any::<u64>()),
        proptest::collection::vec(node, 0..6),
    )
        .prop_map(
            |((ring, on_ring, leader_id, term), (locked, handing_off_to, view_version), nodes)| {
                GroupInfo {
                    ring,
                    on_ring,
                    leader_id,
                    term,
                    locked,
                    handing_off_to,
                    view_version,
                    nodes,
                }
            },
        )
}

/// The group-info extension byte for byte, as docs/protocol.md shows it.
#[test]
fn group_info_bytes_match_the_documentation() {
    let info = GroupInfo {
        ring: "h:1".into(),
        on_ring: true,
        leader_id: 0,
        term: 2,
        locked: false,
        handing_off_to: String::new(),
        view_version: 3,
        nodes: vec![ViewNode {
            id: 0,
            ring: "h:1".into(),
            client: "h:2".into(),
        }],
    };
    let bytes = Packet::GroupInfoResponse(info.clone()).to_bytes();
    let expected: &[u8] = b"i\0\0\0\x03h:1\x01\0\0\0\0\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0\0\0\0\0\0\x03\0\0\0\x01\0\0\0\0\0\0\0\x03h:1\0\0\0\x03h:2";
    assert_eq!(&bytes[..], expected);
    assert_eq!(Packet::GroupInfoRequest.to_bytes().as_ref(), b"I");
}

fn arb_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        arb_bytes().prop_map(|key| Command::Get { key }),
        (arb_bytes(), arb_bytes()).prop_map(|(key, value)| Command::Put { key, value }),
        arb_bytes().prop_map(|key| Command::Delete { key }),
        (arb_bytes(), proptest::option::of(arb_bytes()), arb_bytes())
            .prop_map(|(key, expected, new)| Command::CompareAndSet { key, expected, new }),
    ]
}

fn arb_request() -> impl Strategy<Value = Request> {
    (
        proptest::option::of((any::<u64>(), any::<u64>())),
        arb_command(),
    )
        .prop_map(|(s, command)| Request {
            session: s.map(|(client_id, sequence)| SessionTag {
                client_id,
                sequence,
            }),
            command,
        })
}

fn arb_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        proptest::option::of(arb_bytes()).prop_map(Response::Value),
        Just(Response::Stored),
        any::<bool>().prop_map(Response::Deleted),
        (any::<bool>(), proptest::option::of(arb_bytes()))
            .prop_map(|(swapped, current)| Response::CompareAndSet { swapped, current }),
    ]
}

proptest! {
    #[test]
    fn packets_round_trip(p in arb_packet()) {
        let bytes = p.to_bytes();
        prop_assert_eq!(Packet::decode(&bytes, &Limits::DEFAULT), Ok(Some((p, bytes.len()))));
        prop_assert_eq!(Packet::decode(&bytes[..bytes.len() - 1], &Limits::DEFAULT), Ok(None));
    }

    #[test]
    fn requests_round_trip_inside_a_command_packet(r in arb_request()) {
        let mut frame = BytesMut::new();
        Packet::CommandRequest(r.to_bytes()).encode(&mut frame);
        let (packet, _) = Packet::decode(&frame, &Limits::DEFAULT).unwrap().unwrap();
        let Packet::CommandRequest(body) = packet else { panic!("wrong packet") };
        prop_assert_eq!(Request::decode(&body, &Limits::DEFAULT), Ok(r));
    }

    #[test]
    fn responses_round_trip(r in arb_response()) {
        prop_assert_eq!(Response::decode(&r.to_bytes(), &Limits::DEFAULT), Ok(r));
    }
}
