//! The ECS's admin port: groups `register` to join and report `done` after a hand-off.

use std::net::SocketAddr;
use std::rc::Rc;

use protocol::ecs::{HostPort, Register, Reply, Request};

use super::state::JoinStep;
use super::Ecs;
use crate::io::{Disk, Network};
use crate::lines::{serve_requests, LineConn};

/// Serves one connection until the peer closes it or sends bytes that are not a line.
pub(crate) async fn serve<N: Network, D: Disk>(
    ecs: Rc<Ecs<N, D>>,
    stream: N::Stream,
    peer: SocketAddr,
) {
    let conn = LineConn::new(stream, ecs.config.max_line_len);
    serve_requests(conn, peer, "ECS", |request| {
        let reply = match request {
            Request::Register(r) => register(&ecs, r),
            Request::Done(from) => done(&ecs, from),
            other => Reply::Error(format!(
                "{} is not a request the ECS serves",
                other.keyword()
            )),
        };
        std::future::ready(reply)
    })
    .await;
}

fn register<N: Network, D: Disk>(ecs: &Ecs<N, D>, r: Register) -> Reply {
    if r.members.is_empty() {
        return Reply::Error(
            "register needs at least one member <admin host:port>/<client host:port>".into(),
        );
    }
    {
        let mut state = ecs.state.borrow_mut();
        if state.knows(&r.ring) {
            return Reply::Ok;
        }
        if let Some(n) = state
            .nodes
            .iter()
            .find(|n| r.members.iter().any(|m| m.admin == n.admin) && n.ring != r.ring)
        {
            return Reply::Error(format!(
                "node {} already belongs to group {}",
                n.admin, n.ring
            ));
        }
        tracing::info!(group = %r.ring, queued = state.queue.len(), "group registered");
        state.queue.push_back(r);
    }
    if let Err(e) = ecs.persist() {
        return Reply::Error(format!("could not record the registration: {e}"));
    }
    ecs.wake.notify_one();
    Reply::Ok
}

fn done<N: Network, D: Disk>(ecs: &Ecs<N, D>, from: Option<HostPort>) -> Reply {
    {
        let mut state = ecs.state.borrow_mut();
        let Some(join) = state.join.as_mut() else {
            return Reply::Error("no join in progress".into());
        };
        if let (Some(from), Some(pred)) = (&from, &join.predecessor) {
            if from != pred {
                return Reply::Error(format!("done from {from}, but the transfer is {pred}'s"));
            }
        }
        match join.step {
            JoinStep::Transfer => join.step = JoinStep::Broadcast,
            s if s > JoinStep::Transfer => return Reply::Ok,
            s => return Reply::Error(format!("no transfer requested yet (join is at {s})")),
        }
        tracing::info!(group = %join.newcomer.ring, "transfer done");
    }
    if let Err(e) = ecs.persist() {
        return Reply::Error(format!("could not record done: {e}"));
    }
    ecs.wake.notify_one();
    Reply::Ok
}
