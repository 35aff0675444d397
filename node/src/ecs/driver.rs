//! The join driver: takes queued groups one at a time and walks each through the seed's
//! steps, recording every step before moving on.

use std::rc::Rc;

use protocol::ecs::{HostPort, Request};

use super::state::{Join, JoinStep};
use super::Ecs;
use crate::admin_link::AdminLink;
use crate::io::{Disk, Network};

/// Runs joins forever; returns only if the state can no longer be persisted.
pub(crate) async fn drive<N: Network, D: Disk>(ecs: Rc<Ecs<N, D>>) -> Result<(), std::io::Error> {
    let mut link = ecs.link();
    // The join this process is driving and when it began (or resumed) driving it: the
    // deadline counts from there (tokio's clock: virtual inside the simulation).
    let mut current: Option<(u64, tokio::time::Instant)> = None;
    loop {
        let started = ecs.state.borrow_mut().start_next_join();
        if started {
            ecs.persist()?;
        }
        let join = ecs.state.borrow().join.clone();
        match join {
            None => ecs.wake.notified().await,
            Some(join) => {
                let id = ecs.state.borrow().joins;
                let began = match current {
                    Some((j, at)) if j == id => at,
                    _ => tokio::time::Instant::now(),
                };
                current = Some((id, began));
                tracing::info!(group = %join.newcomer.ring, step = %join.step, "join step");
                let next = if join.step < JoinStep::Broadcast {
                    // Until the new ring is announced the join can be abandoned.
                    tokio::select! {
                        next = perform(&ecs, &mut link, &join) => next,
                        () = tokio::time::sleep_until(began + ecs.config.join_deadline) => {
                            tracing::warn!(group = %join.newcomer.ring, deadline = ?ecs.config.join_deadline, "join deadline passed; abandoning it");
                            Next::Step(JoinStep::Abort)
                        }
                        () = ecs.abort.notified() => {
                            if ecs.abort_requested.take() == Some(id) {
                                tracing::warn!(group = %join.newcomer.ring, "abandoning the join, as asked");
                                Next::Step(JoinStep::Abort)
                            } else {
                                // A request for an earlier join: redo this step.
                                continue;
                            }
                        }
                    }
                } else {
                    perform(&ecs, &mut link, &join).await
                };
                advance(&ecs, &join, next)?;
            }
        }
    }
}

/// What comes after a step.
enum Next {
    Step(JoinStep),
    Finished,
    /// The join was abandoned; the newcomer is not on the ring.
    Abandoned,
    /// Another task moved the join on (the `done` handler).
    AlreadyMoved,
}

async fn perform<N: Network, D: Disk>(
    ecs: &Ecs<N, D>,
    link: &mut AdminLink<N>,
    join: &Join,
) -> Next {
    let newcomer = &join.newcomer.ring;
    let pred = join.predecessor.as_ref();
    // Every line of this join names it, so a line of it that is delayed or resent cannot
    // act on a later join (the group refuses it).
    let id = ecs.state.borrow().joins;
    let of_join = |request: Request| request.for_join(id);
    match (join.step, pred) {
        (JoinStep::TellNewcomerNext, _) => {
            send(
                ecs,
                link,
                newcomer,
                &of_join(Request::NextAddr(join.successor.clone())),
            )
            .await;
            Next::Step(if pred.is_some() {
                JoinStep::LockPredecessor
            } else {
                JoinStep::Broadcast
            })
        }
        (JoinStep::LockPredecessor, Some(p)) => {
            send(ecs, link, p, &of_join(Request::WriteLock)).await;
            Next::Step(JoinStep::TellPredecessorNext)
        }
        (JoinStep::TellPredecessorNext, Some(p)) => {
            send(ecs, link, p, &of_join(Request::NextAddr(newcomer.clone()))).await;
            Next::Step(JoinStep::Transfer)
        }
        (JoinStep::Transfer, Some(p)) => {
            // Resend transfer_range until `done` arrives: the predecessor restarts a
            // hand-off it lost in a crash, and answers `ok` to one already running.
            // Extension: name the newcomer's nodes, so the predecessor can reach its
            // leader even when the node at its ring address is down.
            send(ecs, link, p, &Request::GroupMembers(join.newcomer.clone())).await;
            loop {
                send(
                    ecs,
                    link,
                    p,
                    &of_join(Request::TransferRange(join.successor.clone())),
                )
                .await;
                let waited = tokio::time::timeout(ecs.config.transfer_timeout, async {
                    while ecs.state.borrow().join.as_ref().map(|j| j.step)
                        == Some(JoinStep::Transfer)
                    {
                        ecs.wake.notified().await;
                    }
                })
                .await;
                if waited.is_ok() {
                    return Next::AlreadyMoved;
                }
                tracing::warn!(group = %p, "no done yet; resending transfer_range");
            }
        }
        (JoinStep::Broadcast, _) => {
            broadcast(ecs, link, newcomer).await;
            if pred.is_some() {
                Next::Step(JoinStep::Release)
            } else {
                Next::Finished
            }
        }
        (JoinStep::Release, Some(p)) => {
            send(ecs, link, p, &of_join(Request::ReleaseLock)).await;
            Next::Finished
        }
        (JoinStep::Abort, p) => {
            // The predecessor keeps its range: its transfer never counted as finished
            // on a ring that names the newcomer. Unlocking is safe whatever step the
            // join had reached (an unlocked group answers ok).
            if let Some(p) = p {
                send(ecs, link, p, &of_join(Request::ReleaseLock)).await;
            }
            Next::Abandoned
        }
        (step, None) => {
            tracing::error!(%step, "step needs a predecessor but the join has none; skipping to broadcast");
            Next::Step(JoinStep::Broadcast)
        }
    }
}

/// Adds the newcomer to the ring (once) and tells every group.
async fn broadcast<N: Network, D: Disk>(
    ecs: &Ecs<N, D>,
    link: &mut AdminLink<N>,
    newcomer: &HostPort,
) {
    let added = {
        let mut state = ecs.state.borrow_mut();
        if state.members.contains(newcomer) {
            false
        } else {
            state.members.push(newcomer.clone());
            state.version += 1;
            true
        }
    };
    if added {
        if let Err(e) = ecs.persist() {
            tracing::error!(error = %e, "could not record the new member");
        }
    }
    let (members, view) = {
        let state = ecs.state.borrow();
        (state.members.clone(), state.view())
    };
    for m in &members {
        send(ecs, link, m, &Request::BroadcastNode(newcomer.clone())).await;
    }
    for m in &members {
        send(ecs, link, m, &Request::ClusterView(view.clone())).await;
    }
}

fn advance<N: Network, D: Disk>(
    ecs: &Ecs<N, D>,
    join: &Join,
    next: Next,
) -> Result<(), std::io::Error> {
    {
        let mut state = ecs.state.borrow_mut();
        match next {
            Next::AlreadyMoved => return Ok(()),
            Next::Step(step) => {
                if let Some(j) = state.join.as_mut() {
                    j.step = step;
                }
            }
            Next::Finished => {
                tracing::info!(group = %join.newcomer.ring, "join finished");
                state.join = None;
            }
            Next::Abandoned => {
                tracing::warn!(group = %join.newcomer.ring, "join abandoned; the group is not on the ring (it may register again)");
                state.join = None;
            }
        }
    }
    ecs.persist()
}

/// Sends `request` to the group at `ring` until one of its nodes answers `ok`, following
/// `error not_leader` hints.
async fn send<N: Network, D: Disk>(
    ecs: &Ecs<N, D>,
    link: &mut AdminLink<N>,
    ring: &HostPort,
    request: &Request,
) {
    let admins: Vec<String> = ecs
        .state
        .borrow()
        .admins_of(ring)
        .iter()
        .map(HostPort::to_string)
        .collect();
    link.send_to_group(&admins, None, request, request.keyword(), || true)
        .await;
}
