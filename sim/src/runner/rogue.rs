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
//! Each connection is a real simulated TCP connection through [`SimNet`], so the trace
//! records every line the rogue wrote and every answer, and the checks judge what the
//! cluster did with them.

use std::time::Duration;

use node::auth::Secret;
use node::io::Network;
use protocol::ecs::auth::AuthLine;
use protocol::ecs::split_line;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{fault, hosts, World};
use crate::runtime::{SimNet, ADMIN_PORT, ECS_PORT};
use crate::scenario::{RogueAuth, RogueKind};
use crate::trace::SentRequests;

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
            sim.client(name.as_str(), async move {
                if let Some(mut stream) = connect(&net, &addr).await {
                    if stream.write_all(&captured.bytes).await.is_ok() {
                        drain(&mut stream).await;
                    }
                }
                Ok(())
            });
        }
    }
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
                .any(|l| matches!(AuthLine::parse(l), Ok(AuthLine::Proof(_))))
        })
        .cloned()
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
        let nonce = match read_line(&mut stream).await {
            Some(l) => match AuthLine::parse(&l) {
                Ok(AuthLine::Challenge(n)) => n,
                _ => [0; 16],
            },
            None => [0; 16],
        };
        out.push_str(&AuthLine::Proof(wrong.proof(&nonce)).to_line());
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
