//! The ECS's admin port: groups `register` to join and report `done` after a hand-off.

use std::net::SocketAddr;
use std::rc::Rc;

use protocol::ecs::{HostPort, Register, Reply, Request};

use super::state::JoinStep;
use super::Ecs;
use crate::io::{Disk, Network};
use crate::lines::{LineConn, LineError};

/// Serves one connection until the peer closes it or sends bytes that are not a line.
pub(crate) async fn serve<N: Network, D: Disk>(
    ecs: Rc<Ecs<N, D>>,
    stream: N::Stream,
    peer: SocketAddr,
) {
    let mut conn = LineConn::new(stream, ecs.config.max_line_len);
    loop {
        let line = match conn.read_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(LineError::Framing(e)) => {
                tracing::info!(%peer, error = %e, "closing ECS connection: bad line");
                let _ = conn
                    .write_line(&Reply::Error(e.to_string()).to_line())
                    .await;
                return;
            }
            Err(_) => return,
        };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match Request::parse(&line) {
            Ok(Request::Register(r)) => register(&ecs, r),
            Ok(Request::Done(from)) => done(&ecs, from),
            Ok(other) => Reply::Error(format!(
                "{} is not a request the ECS serves",
                other.keyword()
            )),
            Err(e) => Reply::Error(e.to_string()),
        };
        if conn.write_line(&reply.to_line()).await.is_err() {
            return;
        }
    }
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
