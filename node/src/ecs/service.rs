//! The ECS's admin port: groups `register` to join and report `done` after a hand-off.

use std::net::SocketAddr;
use std::rc::Rc;

use protocol::ecs::{HostPort, Register, Reply, Request};

use super::state::{DoneOutcome, JoinStep};
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
            Request::Done(from) => done(&ecs, from, None),
            Request::AbortJoin => abort_join(&ecs),
            Request::ForJoin { join, request } => match *request {
                Request::Done(from) => done(&ecs, from, Some(join)),
                other => Reply::Error(format!(
                    "{} is not a request the ECS serves",
                    other.keyword()
                )),
            },
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
        // A registration of the group joining now comes from a member that (re)started
        // during the join: queue it again, so that if this join is abandoned (the
        // newcomer was down at its deadline) the group, alive again, still gets its turn.
        // A join that succeeds makes the queued copy moot (`start_next_join` skips it).
        let queued = state.queue.iter().any(|q| q.ring == r.ring);
        if state.members.contains(&r.ring) || queued {
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

/// An operator's `abort_join`: the driver abandons the join in progress if it has not
/// announced the new ring yet.
fn abort_join<N: Network, D: Disk>(ecs: &Ecs<N, D>) -> Reply {
    let state = ecs.state.borrow();
    match &state.join {
        None => Reply::Error("no join in progress".into()),
        Some(j) if j.step == JoinStep::Abort => Reply::Ok,
        Some(j) if j.step >= JoinStep::Broadcast => Reply::Error(format!(
            "join {} has announced the new ring; it can only finish",
            state.joins
        )),
        Some(_) => {
            ecs.abort_requested.set(Some(state.joins));
            ecs.abort.notify_one();
            Reply::Ok
        }
    }
}

/// `done` from the predecessor of join `tag` (`None`: the current join). A `done` of a
/// join that already finished is answered `ok` without effect: its sender resends until
/// it sees `ok`, and must not complete a later join with it.
fn done<N: Network, D: Disk>(ecs: &Ecs<N, D>, from: Option<HostPort>, tag: Option<u64>) -> Reply {
    let outcome = ecs.state.borrow_mut().on_done(from.as_ref(), tag);
    match outcome {
        Ok(DoneOutcome::Advanced) => {}
        Ok(DoneOutcome::AlreadyKnown) => return Reply::Ok,
        Err(reason) => return Reply::Error(reason),
    }
    if let Err(e) = ecs.persist() {
        return Reply::Error(format!("could not record done: {e}"));
    }
    ecs.wake.notify_one();
    Reply::Ok
}
