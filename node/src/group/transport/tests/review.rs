//! A second hostile review of the peer handshake: what a stranger can make an acceptor
//! hold before it proves anything, how long it may hold a handshake open, whether it can
//! displace a member's connection, and who can stand between two members. Each test passes
//! when the transport does the right thing (the two defects it found, a relay at a
//! member's stale address and a member of another group, are fixed and now pass).

use std::time::Instant as StdInstant;

use protocol::peer::{marker, HEADER_LEN};

use super::*;

/// How long an acceptor may take to drop a connection that has already shown it is not
/// a handshake: well under the handshake deadline ([`CONNECT_TIMEOUT`], 1 s).
const PROMPTLY: Duration = Duration::from_millis(500);

/// Writes `bytes` and returns how long the acceptor took to close the connection.
async fn time_to_close(addr: &str, bytes: &[u8]) -> Duration {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let start = StdInstant::now();
    let _ = s.write_all(bytes).await;
    let mut sink = [0u8; 4096];
    let wait = async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("the acceptor never closed the connection");
    start.elapsed()
}

/// The header of a frame of `marker` announcing the largest body the limits allow.
fn huge_header(marker: u8) -> Vec<u8> {
    let len = protocol::peer::max_body_len(&Limits::DEFAULT) as u32;
    let mut out = vec![marker];
    out.extend_from_slice(&len.to_be_bytes());
    assert_eq!(out.len(), HEADER_LEN);
    out
}

fn hello(from: u32, to: u32) -> PeerMessage {
    Hello {
        from: PeerId(from),
        to: PeerId(to),
        nonce: [3; 16],
    }
    .into()
}

/// Before the dialler has proved anything the acceptor reads three fixed-size frames of
/// under 64 bytes each; a header announcing an 8 MiB body (of any kind: an AppendEntries
/// in place of the hello, or in place of the proof) shows at once that this is no
/// handshake. An acceptor that waits for the whole body holds up to 8 MiB per connection,
/// on any number of connections, for a stranger (the control ports give an unproven
/// peer 512 bytes, `HANDSHAKE_MAX_LINE_LEN`).
#[test]
fn an_oversized_frame_before_the_proof_is_refused_at_its_header() {
    run(async {
        let b = free_addr().await;
        let (_tb, mut rb) = member(2, &b, &[(1, "127.0.0.1:9")], Some(secret(1))).await;
        let mut after_hello = BytesMut::new();
        hello(1, 2).encode(&mut after_hello);
        after_hello.extend_from_slice(&huge_header(marker::APPEND_ENTRIES));
        let openings: [(&str, Vec<u8>); 3] = [
            (
                "an AppendEntries header first",
                huge_header(marker::APPEND_ENTRIES),
            ),
            ("a Hello header of 8 MiB", huge_header(marker::HELLO)),
            (
                "an AppendEntries header after the hello",
                after_hello.to_vec(),
            ),
        ];
        for (what, bytes) in openings {
            let took = time_to_close(&b, &bytes).await;
            assert!(
                took < PROMPTLY,
                "{what}: the acceptor kept reading for {took:?}, waiting for an 8 MiB body"
            );
        }
        assert_eq!(next(&mut rb).await, None);
    });
}

/// Slowloris: a connection that says nothing, or says hello and then nothing, is closed by
/// the handshake's deadline, not held for good.
#[test]
fn a_silent_or_stalled_handshake_is_closed_by_its_deadline() {
    run(async {
        let b = free_addr().await;
        let (_tb, _rb) = member(2, &b, &[(1, "127.0.0.1:9")], Some(secret(1))).await;
        let mut hello_only = BytesMut::new();
        hello(1, 2).encode(&mut hello_only);
        for (what, bytes) in [("nothing", Vec::new()), ("a hello", hello_only.to_vec())] {
            let took = time_to_close(&b, &bytes).await;
            assert!(
                took < CONNECT_TIMEOUT + PROMPTLY,
                "after {what}, the acceptor held the connection for {took:?}"
            );
        }
    });
}

/// A hello that names the acceptor itself as its sender (the acceptor is no member of its
/// own peer list), or a member that does not exist, is refused before any answer.
#[test]
fn a_hello_from_the_acceptor_s_own_id_is_not_answered() {
    run(async {
        let b = free_addr().await;
        let (_tb, mut rb) = member(2, &b, &[(1, "127.0.0.1:9")], Some(secret(1))).await;
        for (from, to) in [(2, 2), (u32::MAX, 2), (1, u32::MAX)] {
            let mut s = TcpStream::connect(&b).await.unwrap();
            write(&mut s, &[hello(from, to), forged()]).await;
            let mut buf = BytesMut::new();
            assert_eq!(
                read_frame(&mut s, &mut buf).await,
                None,
                "{from}->{to} answered"
            );
        }
        assert_eq!(next(&mut rb).await, None);
    });
}

/// A newer connection from a member replaces the older one as the way answers go back.
/// A stranger posing as that member, who fails the proof or never sends it, must not
/// displace the member's connection: the acceptor's answers still reach the member.
#[test]
fn a_stranger_posing_as_a_member_does_not_displace_its_connection() {
    run(async {
        let (a, b) = (free_addr().await, free_addr().await);
        let (ta, mut ra) = member(1, &a, &[(2, &b)], Some(secret(1))).await;
        let (tb, mut rb) = member(2, &b, &[(1, &a)], Some(secret(1))).await;
        // Member 1's connection to 2 is up once a request of its gets through.
        let up = async {
            loop {
                ta.send(PeerId(2), heartbeat());
                if let Ok(Some(_)) =
                    tokio::time::timeout(Duration::from_millis(300), rb.recv()).await
                {
                    return;
                }
            }
        };
        tokio::time::timeout(PATIENCE, up)
            .await
            .expect("member 1 connects");
        // Strangers as member 1: one with a wrong proof, one that stops after the reply.
        let mut wrong = TcpStream::connect(&b).await.unwrap();
        write(&mut wrong, &[hello(1, 2)]).await;
        let mut buf = BytesMut::new();
        let Some(PeerMessage::HelloReply(_)) = read_frame(&mut wrong, &mut buf).await else {
            panic!("the port answers a member's hello");
        };
        write(&mut wrong, &[HelloProof { proof: [0; 32] }.into()]).await;
        let mut stalled = TcpStream::connect(&b).await.unwrap();
        write(&mut stalled, &[hello(1, 2)]).await;
        let mut buf2 = BytesMut::new();
        let Some(PeerMessage::HelloReply(_)) = read_frame(&mut stalled, &mut buf2).await else {
            panic!("the port answers a member's hello");
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        tb.send(PeerId(1), append_answer());
        assert_eq!(
            next(&mut ra).await,
            Some((PeerId(2), append_answer())),
            "the answer went somewhere other than member 1's connection"
        );
        // Neither stranger saw it.
        for (s, buf) in [(&mut wrong, &mut buf), (&mut stalled, &mut buf2)] {
            if let Some(m) = read_frame(s, buf).await {
                panic!("a stranger got {m:?}");
            }
        }
    });
}

/// A relay where member 1 believes member 2's peer port is (an old address of member 2,
/// now held by someone else: the case the control ports' target binding is for, see
/// docs/protocol.md "Relays") forwards the handshake to the real member 2 byte for byte.
/// Every proof checks out, since the hello names member 2 and reaches member 2; then the
/// relay adds a frame of its own. The acceptor must not take it as member 1's.
///
/// Fixed since the review: the proofs name the acceptor's peer address as the member list
/// gives it, so member 2's proof (for its own address) does not verify for the stale
/// address member 1 dialled, and member 1 sends no proof of its own to relay.
#[test]
fn a_relay_at_a_member_s_stale_address_cannot_inject_frames() {
    run(async {
        let (a, b, stale) = (free_addr().await, free_addr().await, free_addr().await);
        let relay = TcpListener::bind(&stale).await.unwrap();
        // Member 1 still has member 2 at its old address; member 2 moved to b.
        let (ta, _ra) = member(1, &a, &[(2, &stale)], Some(secret(1))).await;
        let (_tb, mut rb) = member(2, &b, &[(1, &a)], Some(secret(1))).await;
        ta.send(PeerId(2), heartbeat());
        let (mut from1, _) = tokio::time::timeout(PATIENCE, relay.accept())
            .await
            .unwrap()
            .unwrap();
        let mut to2 = TcpStream::connect(&b).await.unwrap();
        let (mut buf1, mut buf2) = (BytesMut::new(), BytesMut::new());
        let Some(hello @ PeerMessage::Hello(_)) = read_frame(&mut from1, &mut buf1).await else {
            panic!("no hello from member 1");
        };
        write(&mut to2, &[hello]).await;
        let Some(reply @ PeerMessage::HelloReply(_)) = read_frame(&mut to2, &mut buf2).await else {
            panic!("member 2 does not answer member 1's hello");
        };
        write(&mut from1, &[reply]).await;
        // Member 2's proof names its own address, not the stale one member 1 dialled:
        // member 1 refuses it and sends no proof of its own for the relay to pass on.
        let proof = read_frame(&mut from1, &mut buf1).await;
        assert!(
            !matches!(proof, Some(PeerMessage::HelloProof(_))),
            "member 1 proved itself through a host at a stale address: {proof:?}"
        );
        // Whatever the relay sends member 2 now, it has no proof to open with.
        write(&mut to2, &[forged()]).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while let Ok(Some((from, msg))) = tokio::time::timeout_at(deadline, rb.recv()).await {
            assert!(
                msg != forged(),
                "the relay's forged AppendEntries reached member 2's Raft as member {from}'s"
            );
        }
    });
}

/// Two groups share the cluster secret and number their members the same way (0, 1, 2
/// in each). A member of another group that dials this member (a peer address that now
/// belongs to this group: a re-laid-out cluster, a stale `--member` list) proves itself
/// as "member 1", and its AppendEntries (its own group's log, its own terms) reach this
/// group's Raft. Fixed since the review: the proofs name the group (its ring address), so
/// the two groups' members cannot prove themselves to each other.
#[test]
fn a_member_of_another_group_is_not_admitted() {
    run(async {
        let (x1, y2) = (free_addr().await, free_addr().await);
        // Group X's member 1, whose list (wrongly, or staly) has its member 2 at y2.
        let (tx1, _rx1) = member_of("10.0.0.1:7002", 1, &x1, &[(2, &y2)], Some(secret(1))).await;
        // Group Y's member 2 (its member 1 is elsewhere).
        let (_ty2, mut ry2) = member_of(
            "10.0.0.2:7002",
            2,
            &y2,
            &[(1, "127.0.0.1:9")],
            Some(secret(1)),
        )
        .await;
        for _ in 0..5 {
            tx1.send(PeerId(2), heartbeat());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(
            next(&mut ry2).await,
            None,
            "group X's frames reached group Y's Raft"
        );
    });
}
