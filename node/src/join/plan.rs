//! What each step of a join sends, in order, and what follows once every line of it was
//! answered `ok`: the seed's order of steps lives here and nowhere else.

use std::collections::VecDeque;

use protocol::ecs::{HostPort, Request};

use super::step::{Join, JoinStep, Removal};
use crate::ecs::state::EcsState;

/// One line the ECS sends to a group until one of its nodes answers `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    /// The group's ring address.
    pub to: HostPort,
    /// The request.
    pub request: Request,
}

/// What comes after a step's lines were all answered `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Wait for the predecessor's `done` (resending `transfer_range` at every timeout).
    AwaitDone,
    /// Move the join on.
    Advance(Next),
}

/// Where a join goes after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// To this step.
    Step(JoinStep),
    /// The newcomer is on the ring and the predecessor unlocked: the join is over.
    Finished,
    /// The predecessor is unlocked and keeps its range; the newcomer is not on the ring.
    Abandoned,
    /// The leaving group is off the ring and unlocked: the removal is over.
    Removed,
}

/// The lines of one step and what follows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// In the order they go out, each after the one before it was answered `ok`.
    pub lines: VecDeque<Line>,
    /// What comes after the last.
    pub then: Then,
}

impl Plan {
    fn new(lines: impl IntoIterator<Item = Line>, then: Then) -> Plan {
        Plan {
            lines: lines.into_iter().collect(),
            then,
        }
    }
}

/// The plan of `join`'s current step; `id` is the join's number, which every control
/// line of it carries so that a delayed or resent line cannot act on a later join. For the
/// broadcast, `state` must already name the newcomer as a member.
pub(super) fn plan(join: &Join, id: u64, state: &EcsState) -> Plan {
    let newcomer = &join.newcomer.ring;
    let pred = join.predecessor.as_ref();
    let line = |to: &HostPort, request: Request| Line {
        to: to.clone(),
        request,
    };
    let tagged = |to: &HostPort, request: Request| line(to, request.for_join(id));
    match (join.step, pred) {
        (JoinStep::TellNewcomerNext, _) => Plan::new(
            [tagged(newcomer, Request::NextAddr(join.successor.clone()))],
            Then::Advance(Next::Step(if pred.is_some() {
                JoinStep::LockPredecessor
            } else {
                // The first group has nothing to receive.
                JoinStep::Broadcast
            })),
        ),
        (JoinStep::LockPredecessor, Some(p)) => Plan::new(
            [tagged(p, Request::WriteLock)],
            Then::Advance(Next::Step(JoinStep::TellPredecessorNext)),
        ),
        (JoinStep::TellPredecessorNext, Some(p)) => Plan::new(
            [tagged(p, Request::NextAddr(newcomer.clone()))],
            Then::Advance(Next::Step(JoinStep::Transfer)),
        ),
        // Extension: `group_members` names the newcomer's nodes, so the predecessor can
        // reach its leader even when the node at its ring address is down.
        (JoinStep::Transfer, Some(p)) => Plan::new(
            [
                line(p, Request::GroupMembers(join.newcomer.clone())),
                transfer_range(p, join, id),
            ],
            Then::AwaitDone,
        ),
        // The seed announces the new ring, then releases the lock. The predecessor hears
        // first and is released at once; the other members (the newcomer first among
        // them) hear after, so one that cannot be reached never keeps the predecessor
        // locked.
        (JoinStep::Broadcast, Some(p)) => Plan::new(
            announcements(newcomer, state, |m| m == p),
            Then::Advance(Next::Step(JoinStep::Release)),
        ),
        (JoinStep::Broadcast, None) => Plan::new(
            announcements(newcomer, state, |_| true),
            Then::Advance(Next::Finished),
        ),
        (JoinStep::Release, Some(p)) => Plan::new(
            [tagged(p, Request::ReleaseLock)],
            Then::Advance(Next::Step(JoinStep::Announce)),
        ),
        (JoinStep::Announce, Some(p)) => Plan::new(
            announcements(newcomer, state, |m| m != p),
            Then::Advance(Next::Finished),
        ),
        // The predecessor keeps its range: its transfer never counted as finished on a
        // ring that names the newcomer. Unlocking is safe whatever step the join had
        // reached (an unlocked group answers ok).
        (JoinStep::Abort, p) => Plan::new(
            p.map(|p| tagged(p, Request::ReleaseLock)),
            Then::Advance(Next::Abandoned),
        ),
        (step, None) => {
            tracing::error!(%step, "step needs a predecessor but the join has none; skipping to broadcast");
            Plan::new([], Then::Advance(Next::Step(JoinStep::Broadcast)))
        }
    }
}

/// `broadcast_node <newcomer>` to each member `to` picks, then the ring's `cluster_view`
/// to each of them; the newcomer, if picked, hears both before any other member.
///
/// The moved range is served by nobody from the moment the predecessor recorded its
/// transfer finished until the newcomer learns it is on the ring, and every member told
/// before it is one more commit at a group (seconds each on slow disks). Told last, as it
/// was, a newcomer left the range unserved for about 22 s on 1200 ms syncs with five
/// groups, longer with every group added (found by `sim explore`:
/// `explore-join-steps-1200ms-syncs-seed1523`).
fn announcements(
    newcomer: &HostPort,
    state: &EcsState,
    to: impl Fn(&HostPort) -> bool,
) -> Vec<Line> {
    let view = state.view();
    let broadcast = |m: &HostPort| Line {
        to: m.clone(),
        request: Request::BroadcastNode(newcomer.clone()),
    };
    let cluster_view = |m: &HostPort| Line {
        to: m.clone(),
        request: Request::ClusterView(view.clone()),
    };
    let (first, others): (Vec<&HostPort>, Vec<&HostPort>) = state
        .members
        .iter()
        .filter(|m| to(m))
        .partition(|m| *m == newcomer);
    first
        .iter()
        .flat_map(|m| [broadcast(m), cluster_view(m)])
        .chain(others.iter().map(|m| broadcast(m)))
        .chain(others.iter().map(|m| cluster_view(m)))
        .collect()
}

/// `transfer_range <successor>` to the predecessor, resent until its `done` arrives: the
/// predecessor restarts a hand-off it lost in a crash, and answers `ok` to one running.
pub(super) fn transfer_range(predecessor: &HostPort, join: &Join, id: u64) -> Line {
    Line {
        to: predecessor.clone(),
        request: Request::TransferRange(join.successor.clone()).for_join(id),
    }
}

/// The plan of `removal`'s current step (see [`Removal`] for the steps); `id` is its
/// number. For the broadcast, `state` must already have the leaving group off the ring.
pub(super) fn plan_removal(removal: &Removal, id: u64, state: &EcsState) -> Plan {
    let leaving = &removal.leaving;
    let tagged = |request: Request| Line {
        to: leaving.clone(),
        request: request.for_join(id),
    };
    let view_to = |m: &HostPort| Line {
        to: m.clone(),
        request: Request::ClusterView(state.view()),
    };
    match removal.step {
        JoinStep::LockPredecessor => Plan::new(
            [tagged(Request::WriteLock)],
            Then::Advance(Next::Step(JoinStep::Transfer)),
        ),
        // The receiver's nodes first, so the leaving group can reach its leader.
        JoinStep::Transfer => Plan::new(
            [
                Line {
                    to: leaving.clone(),
                    request: Request::GroupMembers(state.group(&removal.receiver)),
                },
                hand_over(removal, id),
            ],
            Then::AwaitDone,
        ),
        // The receiver serves the range from the moment it hears the ring without the
        // leaving group, which has stopped serving it since it recorded its transfer
        // finished (before `done`): the receiver first, then the leaving group.
        JoinStep::Broadcast => Plan::new(
            [view_to(&removal.receiver), view_to(leaving)],
            Then::Advance(Next::Step(JoinStep::Release)),
        ),
        JoinStep::Release => Plan::new(
            [tagged(Request::ReleaseLock)],
            Then::Advance(Next::Step(JoinStep::Announce)),
        ),
        JoinStep::Announce => Plan::new(
            state
                .members
                .iter()
                .filter(|m| **m != removal.receiver)
                .map(view_to),
            Then::Advance(Next::Removed),
        ),
        // Not steps of a removal (a state file edited by hand): start it over, which
        // every group tolerates.
        step => {
            tracing::error!(%step, "not a step of a removal; starting it over");
            Plan::new([], Then::Advance(Next::Step(Removal::FIRST)))
        }
    }
}

/// `hand_over <receiver> <end>` to the leaving group, resent until its `done` arrives,
/// like `transfer_range` in a join.
pub(super) fn hand_over(removal: &Removal, id: u64) -> Line {
    Line {
        to: removal.leaving.clone(),
        request: Request::HandOver {
            to: removal.receiver.clone(),
            end: removal.end.clone(),
        }
        .for_join(id),
    }
}
