//! The `rogue` action: a host outside the cluster (`rogue<k>`, a new one per event) that
//! speaks to the control ports without the cluster secret.
//!
//! - `forge`: for each target and each line, a connection of its own that sends the line
//!   without answering the port's challenge (`auth = "none"`), or after an `auth` proof
//!   signed with a wrong secret (`auth = "wrong"`), then reads what the port answers
//!   until it closes. A port that checks proofs refuses every line and applies nothing.
//! - `replay`: the bytes the ECS wrote on its first authenticated connection to a node
//!   (its proof and the join's lines, taken from the trace's tap), written again, byte for
//!   byte, on a new connection to the same node. The port's new nonce makes the old proof
//!   worthless.
//!
//! - `forge_peer`: to each target's peer port, a hello as another member of its group,
//!   then an AppendEntries of a far-ahead term that would append puts of values nobody
//!   wrote to its log (after the last entry its leader sent it, as an
//!   eavesdropper would know) and commit them, either without the dialler's proof
//!   (`auth = "none"`) or after one made with a wrong secret (`auth = "wrong"`).
//! - `replay_peer`: the bytes a member wrote on the first connection it dialled to
//!   another member (hello, proof, requests), written again on a new connection to that
//!   member. Its new nonce makes the old proof worthless.
//!
//! Each connection is a real simulated TCP connection through [`SimNet`], so the trace
//! records every line or frame the rogue wrote and every answer, and the checks judge what
//! the cluster did with them.

use std::time::Duration;

use bytes::BytesMut;
use node::auth::peer::Transcript;
use node::auth::{Handshake, Secret, Side, ECS_TARGET};
use node::group::GroupCommand;
use node::io::Network;
use protocol::ecs::auth::AuthLine;
use protocol::ecs::split_line;
use protocol::peer::{
    AppendEntries, Entry, Hello, HelloProof, LogIndex, PeerId, PeerMessage, Term,
};
use protocol::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{fault, hosts, World};
use crate::runtime::{SimNet, ADMIN_PORT, ECS_PORT, PEER_PORT};
use crate::scenario::{RogueAuth, RogueKind};
use crate::trace::{Message, SentRequests, TraceHandle, What};

/// The lines a forging rogue sends when the scenario lists none: the issue's, each of
/// which would lock, re-point, unlock, finish, admit or poison something if obeyed.
pub const DEFAULT_LINES: &[&str] = &[
    "write_lock",
    "next_addr 127.0.0.1 9",
    "transfer_range 127.0.0.1 9",
    "release_lock",
    "done",
    "register 127.0.0.1 9 127.0.0.1:9/127.0.0.1:8",
    "cluster_view 18446744073709551615 0/127.0.0.1:9/127.0.0.1:9/127.0.0.1:8",
];

/// How long the rogue waits to connect, for the challenge, and for the port to close.
const PATIENCE: Duration = Duration::from_secs(1);

/// Carries out one `rogue` event: starts host `rogue<k>` with its script, and says in the
/// trace what it will send.
pub(super) fn start(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    kind: RogueKind,
    to: &[String],
    auth: RogueAuth,
    lines: &[String],
    now: Duration,
) {
    world.rogues += 1;
    let name = format!("rogue{}", world.rogues);
    let net = SimNet::new(&name, world.trace.clone());
    match kind {
        RogueKind::Forge => {
            let targets: Vec<String> = if to.is_empty() {
                world.nodes().cloned().chain(["ecs".to_string()]).collect()
            } else {
                to.to_vec()
            };
            let lines: Vec<String> = if lines.is_empty() {
                DEFAULT_LINES.iter().map(|l| l.to_string()).collect()
            } else {
                lines.to_vec()
            };
            fault(
                &world.trace,
                now,
                format!(
                    "{name} forges {} lines to {} ({})",
                    lines.len(),
                    targets.join(" "),
                    match auth {
                        RogueAuth::None => "no auth",
                        RogueAuth::Wrong => "auth with a wrong secret",
                    }
                ),
            );
            let wrong = hosts::wrong_secret(world.seed);
            let addrs: Vec<String> = targets.iter().map(|t| admin_addr(t)).collect();
            sim.client(name.as_str(), async move {
                for addr in &addrs {
                    for line in &lines {
                        forge_one(&net, addr, line, auth, &wrong).await;
                    }
                }
                Ok(())
            });
        }
        RogueKind::ForgePeer => {
            let targets = peer_targets(world, to);
            fault(
                &world.trace,
                now,
                format!(
                    "{name} forges Raft frames to {} ({})",
                    targets
                        .iter()
                        .map(|t| t.host.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    match auth {
                        RogueAuth::None => "no proof",
                        RogueAuth::Wrong => "a proof made with a wrong secret",
                    }
                ),
            );
            let wrong = hosts::wrong_secret(world.seed);
            let trace = world.trace.clone();
            let commands = forged_commands(world);
            sim.client(name.as_str(), async move {
                for target in &targets {
                    let tip = log_tip_sent_to(&trace, &target.host);
                    forge_peer(&net, target, tip, &commands, auth, &wrong).await;
                }
                Ok(())
            });
        }
        RogueKind::ReplayPeer => {
            let Some(captured) = captured_peer(world, to.first().map(String::as_str)) else {
                fault(
                    &world.trace,
                    now,
                    format!(
                        "{name}: nothing to replay: no member has dialled {}",
                        to.first().map_or("any member", String::as_str)
                    ),
                );
                return;
            };
            fault(
                &world.trace,
                now,
                format!(
                    "{name} replays to {} the {} B {} wrote on its peer connection of {:.3}s",
                    captured.peer,
                    captured.bytes.len(),
                    captured.host,
                    captured.at.as_secs_f64()
                ),
            );
            let addr = format!("{}:{PEER_PORT}", captured.peer);
            replay(sim, &name, net, addr, captured.bytes);
        }
        RogueKind::Replay => {
            let captured = captured(world, to.first().map(String::as_str));
            let Some(captured) = captured else {
                fault(
                    &world.trace,
                    now,
                    format!(
                        "{name}: nothing to replay: the ECS has had no authenticated conversation with {}",
                        to.first().map_or("any node", String::as_str)
                    ),
                );
                return;
            };
            fault(
                &world.trace,
                now,
                format!(
                    "{name} replays to {} the {} B the ECS wrote on its connection of {:.3}s",
                    captured.peer,
                    captured.bytes.len(),
                    captured.at.as_secs_f64()
                ),
            );
            let addr = admin_addr(&captured.peer);
            replay(sim, &name, net, addr, captured.bytes);
        }
    }
}

/// Starts host `name`, which writes `bytes` on one new connection to `addr`, byte for
/// byte, and reads whatever comes back until the other side closes.
fn replay(sim: &mut turmoil::Sim<'_>, name: &str, net: SimNet, addr: String, bytes: Vec<u8>) {
    sim.client(name, async move {
        if let Some(mut stream) = connect(&net, &addr).await {
            if stream.write_all(&bytes).await.is_ok() {
                drain(&mut stream).await;
            }
        }
        Ok(())
    });
}

/// The admin address of a node, or the ECS's.
fn admin_addr(host: &str) -> String {
    if host == "ecs" {
        format!("ecs:{ECS_PORT}")
    } else {
        format!("{host}:{ADMIN_PORT}")
    }
}

/// The ECS's first connection to `node` (any node if `None`) whose bytes hold an `auth`
/// proof: an authenticated conversation, as the tap saw it cross the wire.
fn captured(world: &World, node: Option<&str>) -> Option<SentRequests> {
    let trace = world.trace.borrow();
    trace
        .sent_requests
        .values()
        .filter(|c| &*c.host == "ecs" && node.is_none_or(|n| &*c.peer == n))
        .find(|c| {
            String::from_utf8_lossy(&c.bytes)
                .lines()
                .any(|l| matches!(AuthLine::parse(l), Ok(AuthLine::Proof { .. })))
        })
        .cloned()
}

/// A member's peer port, who it is in its group, and the member the rogue poses as.
struct PeerTarget {
    host: String,
    /// Its group's ring address (public: the ECS's lines carry it).
    group: String,
    id: PeerId,
    posing_as: PeerId,
}

/// The `forge_peer` targets: `to`, or every member of a group of more than one.
fn peer_targets(world: &World, to: &[String]) -> Vec<PeerTarget> {
    world
        .groups
        .iter()
        .filter(|g| g.len() > 1)
        .flat_map(|g| {
            g.iter().enumerate().map(|(i, host)| PeerTarget {
                host: host.clone(),
                group: format!("{}:{ADMIN_PORT}", g[0]),
                id: PeerId(i as u32),
                posing_as: PeerId(((i + 1) % g.len()) as u32),
            })
        })
        .filter(|t| to.is_empty() || to.contains(&t.host))
        .collect()
}

/// The first peer connection a member dialled (to `node`, if given), as the tap saw its
/// dialler's bytes.
fn captured_peer(world: &World, node: Option<&str>) -> Option<SentRequests> {
    let trace = world.trace.borrow();
    trace
        .sent_requests
        .values()
        .filter(|c| world.is_node(&c.host) && node.is_none_or(|n| &*c.peer == n))
        .find(|c| {
            // A hello, its proof and at least one request: a whole authenticated opening.
            matches!(
                PeerMessage::decode(&c.bytes, &Limits::DEFAULT),
                Ok(Some((PeerMessage::Hello(_), _)))
            ) && c.bytes.len() > 200
        })
        .cloned()
}

/// The last log entry (index, term) a member last sent `host` in an AppendEntries: what
/// an eavesdropper on the group's network knows of `host`'s log, so that its forged
/// entry extends the log (and would be applied) rather than conflict with it.
fn log_tip_sent_to(trace: &TraceHandle, host: &str) -> (LogIndex, Term) {
    trace
        .borrow()
        .events
        .iter()
        .rev()
        .find_map(|e| match &e.what {
            What::Send {
                from,
                to,
                msg: Message::Peer(PeerMessage::AppendEntries(a)),
            } if &**to == host && !from.starts_with("rogue") => {
                let last = a.prev_log_index.0 + a.entries.len() as u64;
                let term = a.entries.last().map_or(a.prev_log_term, |e| e.term);
                Some((LogIndex(last), term))
            }
            _ => None,
        })
        .unwrap_or((LogIndex(0), Term(0)))
}

/// Keys of the workload a forged AppendEntries writes, at most, per client.
const FORGED_KEYS_PER_CLIENT: u32 = 20;

/// What a forged AppendEntries would make a group apply: a put of a value nobody wrote to
/// each of the workload's first keys (whichever group owns one would then serve it: the
/// checks see a value no client wrote).
fn forged_commands(world: &World) -> Vec<bytes::Bytes> {
    let w = &world.scenario.workload;
    let puts = (1..=w.clients).flat_map(|c| {
        (0..w.keys.min(FORGED_KEYS_PER_CLIENT)).map(move |k| {
            GroupCommand::Client(protocol::client::Request {
                session: None,
                command: protocol::client::Command::Put {
                    key: format!("c{c}-k{k}").into_bytes().into(),
                    value: bytes::Bytes::from_static(b"forged-by-a-rogue"),
                },
            })
        })
    });
    puts.map(|command| {
        let mut out = BytesMut::new();
        command.encode(&mut out);
        out.freeze()
    })
    .collect()
}

/// One forged peer conversation with `target`, whose log ends at `tip`: `commands`
/// appended and committed, if the target obeyed.
async fn forge_peer(
    net: &SimNet,
    target: &PeerTarget,
    tip: (LogIndex, Term),
    commands: &[bytes::Bytes],
    auth: RogueAuth,
    wrong: &Secret,
) {
    let Some(mut stream) = connect(net, &format!("{}:{PEER_PORT}", target.host)).await else {
        return;
    };
    let hello = Hello {
        from: target.posing_as,
        to: target.id,
        nonce: [0x5a; 16],
    };
    let mut out = BytesMut::new();
    PeerMessage::Hello(hello).encode(&mut out);
    if auth == RogueAuth::Wrong {
        if stream.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
        let accept_nonce = match read_peer_frame(&mut stream).await {
            Some(PeerMessage::HelloReply(r)) => r.nonce,
            _ => [0; 16],
        };
        let acceptor_addr = format!("{}:{PEER_PORT}", target.host);
        let transcript = Transcript {
            group: &target.group,
            acceptor_addr: &acceptor_addr,
            dialler: target.posing_as,
            acceptor: target.id,
            dial_nonce: hello.nonce,
            accept_nonce,
        };
        let proof = HelloProof {
            proof: transcript.proof(Some(wrong), Side::Dialler),
        };
        PeerMessage::HelloProof(proof).encode(&mut out);
    }
    let term = Term(1 << 40);
    let forged = AppendEntries {
        term,
        leader: target.posing_as,
        prev_log_index: tip.0,
        prev_log_term: tip.1,
        leader_commit: LogIndex(tip.0 .0 + commands.len() as u64),
        entries: commands
            .iter()
            .map(|data| Entry {
                term,
                data: data.clone(),
            })
            .collect(),
        round: 1,
    };
    PeerMessage::AppendEntries(forged).encode(&mut out);
    if stream.write_all(&out).await.is_ok() {
        drain(&mut stream).await;
    }
}

/// Reads one peer frame, waiting at most [`PATIENCE`].
async fn read_peer_frame<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Option<PeerMessage> {
    let mut got = BytesMut::new();
    let read = async {
        loop {
            if let Ok(Some((m, _))) = PeerMessage::decode(&got, &Limits::DEFAULT) {
                return Some(m);
            }
            if matches!(stream.read_buf(&mut got).await, Ok(0) | Err(_)) {
                return None;
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.ok().flatten()
}

async fn connect(net: &SimNet, addr: &str) -> Option<<SimNet as Network>::Stream> {
    tokio::time::timeout(PATIENCE, net.connect(addr))
        .await
        .ok()?
        .ok()
}

/// One forged line on a connection of its own.
async fn forge_one(net: &SimNet, addr: &str, line: &str, auth: RogueAuth, wrong: &Secret) {
    let Some(mut stream) = connect(net, addr).await else {
        return;
    };
    let mut out = String::new();
    if auth == RogueAuth::Wrong {
        // Sign the port's nonce with the wrong secret (an all-zero nonce if no challenge
        // comes: then the port is open and any proof is just an unknown line).
        let port_nonce = match read_line(&mut stream).await {
            Some(l) => match AuthLine::parse(&l) {
                Ok(AuthLine::Challenge(n)) => n,
                _ => [0; 16],
            },
            None => [0; 16],
        };
        let target = if addr.starts_with("ecs:") {
            ECS_TARGET
        } else {
            addr
        };
        let handshake = Handshake {
            port_nonce,
            dial_nonce: [0x5a; 16],
            target,
        };
        let proof = AuthLine::Proof {
            proof: handshake.proof(wrong, Side::Dialler),
            nonce: handshake.dial_nonce,
            target: target.to_owned(),
        };
        out.push_str(&proof.to_line());
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    if stream.write_all(out.as_bytes()).await.is_ok() {
        drain(&mut stream).await;
    }
}

/// Reads one line (the challenge), waiting at most [`PATIENCE`].
async fn read_line<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut got = Vec::new();
    let read = async {
        loop {
            if let Ok(Some((line, _))) = split_line(&got, 4096) {
                return Some(line.to_owned());
            }
            let mut buf = [0u8; 256];
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.ok().flatten()
}

/// Reads (and so traces) whatever the port answers until it closes, or [`PATIENCE`]
/// passes.
async fn drain<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) {
    let read = async {
        let mut buf = [0u8; 1024];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(PATIENCE, read).await;
}
