//! The node's client port: the binary protocol of `client-protocol.ru.md`.
//!
//! A connection must go 'A' -> 'a', then 'B' -> 'b', then any number of 'M' and 'C'.
//! Anything else, and any malformed packet, gets an 'e' and the connection closes; the
//! node keeps serving everyone else.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::BytesMut;
use protocol::client::{
    AuthMethod, Command, GroupInfo, Outcome as Handshake, Packet, Request, ViewNode,
    PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Node;
use crate::group::GroupError;
use crate::group::{retry_message, GroupCommand, Outcome, Route};
use crate::io::Network;

/// Where a connection is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitAuth,
    AwaitBootstrap,
    Ready,
}

/// What to do after answering a packet.
enum Next {
    Continue,
    Close,
}

/// Serves one client connection.
pub(crate) async fn serve<N: Network>(node: Rc<Node<N>>, mut stream: N::Stream, peer: SocketAddr) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut phase = Phase::AwaitAuth;
    loop {
        let packet = match Packet::decode(&buf, &node.config.limits) {
            Ok(Some((packet, used))) => {
                let _ = buf.split_to(used);
                packet
            }
            Ok(None) => match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
            Err(e) => {
                tracing::info!(%peer, error = %e, "closing client connection: malformed packet");
                let _ = send(
                    &mut stream,
                    &Packet::ErrorResponse(format!("malformed packet: {e}")),
                )
                .await;
                return;
            }
        };
        let (answer, next) = answer(&node, &mut phase, packet).await;
        if send(&mut stream, &answer).await.is_err() {
            return;
        }
        if let Next::Close = next {
            return;
        }
    }
}

async fn send<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    packet: &Packet,
) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    packet.encode(&mut out);
    stream.write_all(&out).await?;
    stream.flush().await
}

fn refuse(message: impl Into<String>) -> (Packet, Next) {
    (Packet::ErrorResponse(message.into()), Next::Close)
}

async fn answer<N: Network>(node: &Node<N>, phase: &mut Phase, packet: Packet) -> (Packet, Next) {
    match (*phase, packet) {
        (Phase::AwaitAuth, Packet::AuthorizationRequest(AuthMethod::None)) => {
            *phase = Phase::AwaitBootstrap;
            (
                Packet::AuthorizationResponse(Handshake::Accepted),
                Next::Continue,
            )
        }
        // The seed's answer to a failed authorization is 'a' false with a reason, then
        // the connection closes (the unknown method's Data cannot be read past anyway).
        (Phase::AwaitAuth, Packet::AuthorizationRequest(AuthMethod::Unsupported(kind))) => (
            Packet::AuthorizationResponse(Handshake::Rejected(format!(
                "unsupported authorization type 0x{kind:02x}; this node supports only 'N' \
                 (no authorization)"
            ))),
            Next::Close,
        ),
        (Phase::AwaitAuth, other) => refuse(format!(
            "expected AuthorizationRequest 'A' first, got '{}'",
            other.marker() as char
        )),
        (
            Phase::AwaitBootstrap,
            Packet::BootstrapRequest {
                major,
                minor,
                patch,
            },
        ) => {
            if major == PROTOCOL_VERSION.0 {
                *phase = Phase::Ready;
                (
                    Packet::BootstrapResponse(Handshake::Accepted),
                    Next::Continue,
                )
            } else {
                let reason = format!(
                    "client version {major}.{minor}.{patch} is not compatible with server version {}.{}.{}",
                    PROTOCOL_VERSION.0, PROTOCOL_VERSION.1, PROTOCOL_VERSION.2
                );
                (
                    Packet::BootstrapResponse(Handshake::Rejected(reason)),
                    Next::Close,
                )
            }
        }
        (Phase::AwaitBootstrap, other) => refuse(format!(
            "expected BootstrapRequest 'B', got '{}'",
            other.marker() as char
        )),
        (Phase::Ready, Packet::ClusterMetadataRequest) => (metadata(node), Next::Continue),
        (Phase::Ready, Packet::GroupInfoRequest) => (group_info(node), Next::Continue),
        (Phase::Ready, Packet::CommandRequest(body)) => {
            match Request::decode(&body, &node.config.limits) {
                Ok(request) => (command(node, request).await, Next::Continue),
                Err(e) => refuse(format!("malformed command: {e}")),
            }
        }
        (Phase::Ready, other) => refuse(format!(
            "unexpected packet '{}' after the handshake",
            other.marker() as char
        )),
    }
}

/// The 'm' answer: client addresses by node id, this group's leader and this node's id;
/// -1 for ids not known yet.
fn metadata<N: Network>(node: &Node<N>) -> Packet {
    let leader = node.global_id(node.group.leadership().leader);
    node.group.with_state(|s| {
        let mut addresses = Vec::new();
        let mut me = -1;
        if let Some(view) = &s.view {
            let len = view
                .nodes
                .iter()
                .map(|n| n.id as usize + 1)
                .max()
                .unwrap_or(0);
            addresses = vec![String::new(); len];
            for n in &view.nodes {
                addresses[n.id as usize] = n.client.to_string();
                if n.admin == node.config.admin {
                    me = n.id as i32;
                }
            }
        }
        Packet::ClusterMetadataResponse {
            addresses,
            leader_id: leader,
            current_node_id: me,
        }
    })
}

/// The 'i' answer (extension): this node's view of its group and the cluster view it
/// holds, for inspection tools. Any member answers, leader or not: its own knowledge.
fn group_info<N: Network>(node: &Node<N>) -> Packet {
    let lead = node.group.leadership();
    let leader_id = node.global_id(lead.leader);
    node.group.with_state(|s| {
        let (view_version, nodes) = match &s.view {
            Some(view) => (
                view.version,
                view.nodes
                    .iter()
                    .map(|n| ViewNode {
                        id: n.id as i32,
                        ring: n.ring.to_string(),
                        client: n.client.to_string(),
                    })
                    .collect(),
            ),
            None => (0, Vec::new()),
        };
        Packet::GroupInfoResponse(GroupInfo {
            ring: node.config.ring.to_string(),
            on_ring: s.is_member(),
            leader_id,
            term: lead.term.0,
            locked: s.locked,
            handing_off_to: s
                .transfer
                .as_ref()
                .map(|t| t.target.to_string())
                .unwrap_or_default(),
            view_version,
            nodes,
        })
    })
}

/// Runs one store command on the group's leader: reads after a read barrier (so no
/// deposed leader answers from stale state), writes through the group's log. Other
/// members answer 'l' with the leader's id.
async fn command<N: Network>(node: &Node<N>, request: Request) -> Packet {
    let lead = node.group.leadership();
    if !lead.is_me {
        return Packet::NotLeader(node.global_id(lead.leader));
    }
    // A resent write that already applied is answered as it was the first time, even if
    // the group is locked or no longer owns the key (DESIGN.md §3, sessions).
    match node.group.with_state(|s| {
        s.session_answer(&request)
            .ok_or_else(|| s.route(&request.command))
    }) {
        Ok(decided) => return outcome_packet(decided),
        Err(Route::Serve) => {}
        Err(other) => return refused(other),
    }
    if let Command::Get { key } = &request.command {
        return match node.group.read_barrier().await {
            // The route is checked again: the barrier may have applied a ring change.
            Ok(()) => node.group.with_state(|s| match s.route(&request.command) {
                Route::Serve => Packet::CommandResponse(s.read(key).to_bytes()),
                other => refused(other),
            }),
            Err(e) => group_error(node, e),
        };
    }
    match node.group.propose(GroupCommand::Client(request)).await {
        Ok(outcome) => outcome_packet(outcome),
        Err(e) => group_error(node, e),
    }
}

/// The client's packet for the outcome of a client command.
fn outcome_packet(outcome: Outcome) -> Packet {
    match outcome {
        Outcome::Response(response) => Packet::CommandResponse(response.to_bytes()),
        Outcome::Refused(route) => refused(route),
        Outcome::Rejected(reason) => Packet::ErrorResponse(reason),
        other => Packet::ErrorResponse(format!("unexpected outcome {other:?}")),
    }
}

/// The client's answer when the group could not run a command.
fn group_error<N: Network>(node: &Node<N>, e: GroupError) -> Packet {
    match e {
        GroupError::NotLeader(leader) => Packet::NotLeader(node.global_id(leader)),
        GroupError::Unknown => Packet::ErrorResponse(retry_message(
            "leadership changed before the command was known to apply",
        )),
        // The command may already be in the log (replicated, possibly to commit later):
        // a final error would tell the client it was not applied. A retryable one sends
        // it elsewhere, and its session answers the resend if it did apply.
        other => Packet::ErrorResponse(retry_message(&other.to_string())),
    }
}

fn refused(route: Route) -> Packet {
    match route {
        Route::Redirect(id) => Packet::NotLeader(id),
        Route::Retry(reason) => Packet::ErrorResponse(retry_message(reason)),
        Route::Serve => Packet::ErrorResponse(retry_message("try again")),
    }
}
