//! The node's admin port: ECS-protocol lines from the ECS and from the previous owner of
//! a range, each answered `ok` or `error <reason>`.

use std::net::SocketAddr;
use std::rc::Rc;

use protocol::ecs::{Reply, Request};

use super::{transfer, Node};
use crate::bounds;
use crate::group::{GroupCommand, GroupError, Outcome};
use crate::io::Network;
use crate::lines::{serve_requests, LineConn};

/// Serves one admin connection until the peer closes it or sends bytes that are not a
/// line. A line that is not a valid request gets `error <reason>` and the connection
/// stays open, so a person typing into `nc` can try again.
pub(crate) async fn serve<N: Network>(node: Rc<Node<N>>, stream: N::Stream, peer: SocketAddr) {
    let conn = LineConn::new(stream, node.config.max_line_len);
    serve_requests(conn, peer, "admin", &node.gate, |request| {
        handle(&node, request)
    })
    .await;
}

/// Carries out one request.
async fn handle<N: Network>(node: &Rc<Node<N>>, request: Request) -> Reply {
    tracing::debug!(request = %summary(&request), "admin request");
    if let Err(e) = bounds::check_request(&request, node.config.limits.max_field_len) {
        return Reply::Error(e.to_string());
    }
    let lead = node.group.leadership();
    let for_ecs = matches!(
        request.untagged().1,
        Request::Done(_) | Request::Register(_)
    );
    if !lead.is_me && !for_ecs {
        return Reply::NotLeader(lead.leader.and_then(|l| node.member_admin(l)));
    }
    // A request of a numbered join is applied as that join's (see GroupState).
    let (join, request) = match request {
        Request::ForJoin { join, request } => (Some(join), *request),
        other => (None, other),
    };
    let command = match request {
        Request::ForJoin { .. } => return Reply::Error("a join tag inside a join tag".into()),
        Request::WriteLock => GroupCommand::WriteLock,
        Request::ReleaseLock => GroupCommand::ReleaseLock,
        Request::NextAddr(next) => GroupCommand::SetNext(next),
        Request::TransferRange(end) => {
            let transfer_id = node.rng.borrow_mut().next_u64();
            GroupCommand::BeginTransfer {
                end,
                transfer_id,
                part_size: node.config.part_size_bytes.get() as u32,
            }
        }
        Request::HandOver { to, end } => {
            let transfer_id = node.rng.borrow_mut().next_u64();
            GroupCommand::HandOver {
                to,
                end,
                transfer_id,
                part_size: node.config.part_size_bytes.get() as u32,
            }
        }
        Request::EcsPut(part) => {
            if !node.group.with_state(|s| s.takes_part(&part)) {
                return Reply::Error("already serving its range; not accepting ecs_put".into());
            }
            GroupCommand::ReceivePart(part)
        }
        Request::BroadcastNode(member) => GroupCommand::AddMember(member),
        Request::ClusterView(view) => GroupCommand::SetView(view),
        Request::GroupMembers(group) => GroupCommand::LearnGroup(group),
        Request::Done(_) => return Reply::Error("done is for the ECS, not a node".into()),
        Request::Register(_) => return Reply::Error("register is for the ECS, not a node".into()),
        Request::AbortJoin => return Reply::Error("abort_join is for the ECS, not a node".into()),
        Request::Status => return Reply::Error("status is for the ECS, not a node".into()),
        Request::Progress { .. } => {
            return Reply::Error("progress is for the ECS, not a node".into())
        }
        Request::RemoveGroup(_) => {
            return Reply::Error("remove_group is for the ECS, not a node".into())
        }
    };
    let starts_transfer = matches!(
        command,
        GroupCommand::BeginTransfer { .. } | GroupCommand::HandOver { .. }
    );
    let command = match join {
        Some(join) => GroupCommand::ForJoin {
            join,
            command: Box::new(command),
        },
        None => command,
    };
    match node.group.propose(command).await {
        Ok(Outcome::Ok) => {
            if starts_transfer {
                transfer::ensure_running(node);
            }
            Reply::Ok
        }
        Ok(Outcome::Rejected(reason)) => Reply::Error(reason),
        Ok(other) => Reply::Error(format!("unexpected outcome {other:?}")),
        Err(GroupError::NotLeader(leader)) => {
            Reply::NotLeader(leader.and_then(|l| node.member_admin(l)))
        }
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
