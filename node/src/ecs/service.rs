//! The ECS's admin port: groups `register` to join and report `done` after a hand-off,
//! and an operator may `abort_join` or `remove_group`. Each request goes to the join machine, whose answer
//! this carries out.

use std::net::SocketAddr;
use std::rc::Rc;

use protocol::ecs::{Reply, Request};

use super::Ecs;
use crate::bounds;
use crate::io::{Disk, Network};
use crate::join::coordinator::{Input, Output, Persist};
use crate::lines::{serve_requests, LineConn};

/// Serves one connection until the peer closes it or sends bytes that are not a line.
pub(crate) async fn serve<N: Network, D: Disk>(
    ecs: Rc<Ecs<N, D>>,
    stream: N::Stream,
    peer: SocketAddr,
) {
    let conn = LineConn::new(stream, ecs.config.max_line_len);
    serve_requests(conn, peer, "ECS", &ecs.gate, |request| {
        if request == Request::Status {
            return std::future::ready(Reply::Status(ecs.status_json()));
        }
        // Items are never sent to the ECS: no field limit applies to what it serves.
        if let Err(e) = bounds::check_request(&request, usize::MAX) {
            return std::future::ready(Reply::Error(e.to_string()));
        }
        if let (join, Request::Progress { acked, total }) = request.untagged() {
            let taken = match join {
                Some(join) => ecs.note_progress(join, *acked, *total),
                None => Err("progress needs a join=<n> tag".into()),
            };
            return std::future::ready(taken.map_or_else(Reply::Error, |()| Reply::Ok));
        }
        let input = match request {
            Request::Register(r) => Ok(Input::Register(r)),
            Request::Done(from) => Ok(Input::Done { from, join: None }),
            Request::AbortJoin => Ok(Input::AbortJoin),
            Request::RemoveGroup(group) => Ok(Input::RemoveGroup(group)),
            Request::ForJoin { join, request } => match *request {
                Request::Done(from) => Ok(Input::Done {
                    from,
                    join: Some(join),
                }),
                other => Err(other),
            },
            other => Err(other),
        };
        let reply = match input {
            Ok(input) => answer(&ecs, input),
            Err(other) => Reply::Error(format!(
                "{} is not a request the ECS serves",
                other.keyword()
            )),
        };
        std::future::ready(reply)
    })
    .await;
}

/// Feeds one request to the machine and carries out its answer: the state is written
/// before the driver is woken and before `ok` goes back, and a write that fails is
/// answered instead.
fn answer<N: Network, D: Disk>(ecs: &Ecs<N, D>, input: Input) -> Reply {
    for output in ecs.step(input) {
        match output {
            Output::Persist(how) => {
                if let Err(e) = ecs.persist() {
                    let what = match how {
                        Persist::OrRefuse(what) => what,
                        Persist::Fatal | Persist::BestEffort => "the change",
                    };
                    return Reply::Error(format!("could not record {what}: {e}"));
                }
            }
            Output::Wake => ecs.wake.notify_one(),
            Output::SignalAbort => ecs.abort.notify_one(),
            Output::Reply(reply) => return reply,
            // The driver's outputs; a request never produces them.
            Output::Begin { .. }
            | Output::Send { .. }
            | Output::AwaitDone
            | Output::Idle
            | Output::Closed { .. } => {}
        }
    }
    Reply::Error("the ECS has no answer".into())
}
