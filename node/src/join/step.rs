//! The vocabulary of one join: its steps in the seed's order, and the join in progress as
//! the ECS records it.

use std::fmt;

use protocol::ecs::{HostPort, Register};

/// The steps of one join, in the seed's order. Each is idempotent on the receiving side,
/// so after a restart the ECS simply redoes the step it was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JoinStep {
    /// Send the new group `next_addr <successor>`.
    TellNewcomerNext,
    /// Send the predecessor `write_lock`.
    LockPredecessor,
    /// Send the predecessor `next_addr <newcomer>`.
    TellPredecessorNext,
    /// Send the predecessor `transfer_range <successor>`, then wait for its `done`.
    Transfer,
    /// `done` arrived: announce the newcomer to the predecessor with `broadcast_node`
    /// and `cluster_view` (to every member when there is no predecessor: the first group).
    Broadcast,
    /// Send the predecessor `release_lock`.
    Release,
    /// Announce the newcomer to every other member, the newcomer first. After the
    /// release, so that a member that cannot be reached (a newcomer that lost power after
    /// `done`, a partitioned group) never delays the predecessor's lock, only the views
    /// sent after its own. Found by a hostile review: the predecessor stayed
    /// write-locked for as long as a dead newcomer was down.
    Announce,
    /// The join is being abandoned (its deadline passed, or an operator said
    /// `abort_join`): send the predecessor `release_lock` (it keeps its range), then drop
    /// the join. Recorded first, so an ECS that restarts finishes the abandonment.
    Abort,
}

impl JoinStep {
    const ALL: [(JoinStep, &'static str); 8] = [
        (JoinStep::TellNewcomerNext, "tell-newcomer-next"),
        (JoinStep::LockPredecessor, "lock-predecessor"),
        (JoinStep::TellPredecessorNext, "tell-predecessor-next"),
        (JoinStep::Transfer, "transfer"),
        (JoinStep::Broadcast, "broadcast"),
        (JoinStep::Release, "release"),
        (JoinStep::Announce, "announce"),
        (JoinStep::Abort, "abort"),
    ];

    /// The step's name in the state file and in logs.
    pub fn name(self) -> &'static str {
        JoinStep::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    /// The step a name in the state file stands for.
    pub fn from_name(name: &str) -> Option<JoinStep> {
        JoinStep::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(s, _)| *s)
    }

    /// Whether a join at this step may still be abandoned: only until the new ring is
    /// announced (after that the newcomer may already serve its range).
    pub fn abandonable(self) -> bool {
        self < JoinStep::Broadcast
    }
}

impl fmt::Display for JoinStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The join in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// The group joining.
    pub newcomer: Register,
    /// The member that owns the newcomer's position now; `None` for the first group.
    pub predecessor: Option<HostPort>,
    /// The member that will follow the newcomer (the newcomer itself when it is the
    /// first group).
    pub successor: HostPort,
    /// How far the join got.
    pub step: JoinStep,
}

/// The removal in progress: a member leaves the ring, handing its whole range to the
/// member before it, with the same locked hand-off as a join run the other way round.
///
/// It uses the join's steps, skipping the two that tell a newcomer and a predecessor
/// their successors: [`JoinStep::LockPredecessor`] locks the leaving group,
/// [`JoinStep::Transfer`] sends it `group_members` and `hand_over` and waits for its
/// `done`, [`JoinStep::Broadcast`] sends the ring without it to the receiver and to the
/// leaving group, [`JoinStep::Release`] unlocks the leaving group and
/// [`JoinStep::Announce`] tells every other member. A removal is never abandoned: the
/// receiver may already hold part of the range, and a copy it keeps while the leaving
/// group goes on serving would come back stale at the next removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The group leaving the ring.
    pub leaving: HostPort,
    /// The member before it, which owns its range once it is gone.
    pub receiver: HostPort,
    /// The member after it: the range handed over ends at its position.
    pub end: HostPort,
    /// How far the removal got.
    pub step: JoinStep,
}

impl Removal {
    /// The step a removal starts at.
    pub const FIRST: JoinStep = JoinStep::LockPredecessor;
}
