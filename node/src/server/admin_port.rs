//! The node's admin port: ECS-protocol lines from the ECS and from the previous owner of
//! a range, each answered `ok` or `error <reason>`.

use std::net::SocketAddr;
use std::rc::Rc;

use protocol::ecs::{Reply, Request};

use super::{transfer, Node};
use crate::group::{GroupCommand, Outcome};
use crate::io::{Disk, Network};
use crate::lines::{LineConn, LineError};

/// Serves one admin connection until the peer closes it or sends bytes that are not a
/// line. A line that is not a valid request gets `error <reason>` and the connection
/// stays open, so a person typing into `nc` can try again.
pub(crate) async fn serve<N: Network, D: Disk>(
    node: Rc<Node<N, D>>,
    stream: N::Stream,
    peer: SocketAddr,
) {
    let mut conn = LineConn::new(stream, node.config.max_line_len);
    loop {
        let line = match conn.read_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(LineError::Framing(e)) => {
                tracing::info!(%peer, error = %e, "closing admin connection: bad line");
                let _ = conn
                    .write_line(&Reply::Error(e.to_string()).to_line())
                    .await;
                return;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "admin connection ended");
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match Request::parse(&line) {
            Ok(request) => handle(&node, request).await,
            Err(e) => Reply::Error(e.to_string()),
        };
        if conn.write_line(&reply.to_line()).await.is_err() {
            return;
        }
    }
}

/// Carries out one request.
async fn handle<N: Network, D: Disk>(node: &Rc<Node<N, D>>, request: Request) -> Reply {
    tracing::debug!(request = %summary(&request), "admin request");
    let command = match request {
        Request::WriteLock => GroupCommand::WriteLock,
        Request::ReleaseLock => GroupCommand::ReleaseLock,
        Request::NextAddr(next) => GroupCommand::SetNext(next),
        Request::TransferRange(end) => {
            let transfer_id = node.rng.borrow_mut().next_u64();
            GroupCommand::BeginTransfer { end, transfer_id }
        }
        Request::EcsPut(part) => {
            if node.group.with_state(|s| s.is_member()) {
                return Reply::Error("already serving its range; not accepting ecs_put".into());
            }
            GroupCommand::ReceivePart(part)
        }
        Request::BroadcastNode(member) => GroupCommand::AddMember(member),
        Request::ClusterView(view) => GroupCommand::SetView(view),
        Request::Done(_) => return Reply::Error("done is for the ECS, not a node".into()),
        Request::Register(_) => return Reply::Error("register is for the ECS, not a node".into()),
    };
    let starts_transfer = matches!(command, GroupCommand::BeginTransfer { .. });
    match node.group.propose(command).await {
        Ok(Outcome::Ok) => {
            if starts_transfer {
                transfer::ensure_running(node);
            }
            Reply::Ok
        }
        Ok(Outcome::Rejected(reason)) => Reply::Error(reason),
        Ok(other) => Reply::Error(format!("unexpected outcome {other:?}")),
        Err(e) => Reply::Error(e.to_string()),
    }
}

/// A request for logs, with `ecs_put` items summarised.
pub(crate) fn summary(request: &Request) -> String {
    match request {
        Request::EcsPut(part) => format!(
            "ecs_put transfer={} part={} items={}",
            part.transfer_id,
            part.part,
            part.items.len()
        ),
        other => other.to_line(),
    }
}
