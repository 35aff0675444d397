//! The coordinator's removal parts: taking an operator's `remove_group`, starting the
//! next queued removal, taking the leaving group's `done`, and closing the removal.
//! The steps themselves run through the same `begin`/`acked`/`timed_out` as a join's.

use protocol::ecs::{HostPort, Reply};

use super::{Closed, Coordinator, DoneOutcome, Output, Persist};
use crate::join::step::{JoinStep, Removal};

impl Coordinator {
    /// An operator's `remove_group`: queued behind the reconfiguration in progress, or
    /// refused with the reason. Asking again for a group queued or being removed is
    /// answered `ok` (the first answer may have been lost).
    pub(super) fn remove_group(&mut self, group: HostPort, out: &mut Vec<Output>) {
        let state = &self.state;
        let leaving = state.removal.as_ref().map(|r| &r.leaving);
        if state.removals.contains(&group) || leaving == Some(&group) {
            return out.push(Output::Reply(Reply::Ok));
        }
        let refusal = if state.removed.contains(&group) {
            Some(format!("group {group} was removed already"))
        } else if !state.members.contains(&group) {
            let joining = state
                .join
                .as_ref()
                .is_some_and(|j| j.newcomer.ring == group)
                || state.queue.iter().any(|r| r.ring == group);
            Some(if joining {
                format!("group {group} is not on the ring yet (its join has not finished); remove it once it has")
            } else {
                format!("no group {group} on the ring")
            })
        } else {
            // Members that stay once every removal asked for so far is done.
            // (The one leaving now counts only until the broadcast takes it off.)
            let leaving_member = leaving.is_some_and(|l| state.members.contains(l));
            let staying = state.members.len() - state.removals.len() - usize::from(leaving_member);
            (staying <= 1).then(|| {
                format!("group {group} is the last group left on the ring; its range would have no owner")
            })
        };
        if let Some(reason) = refusal {
            return out.push(Output::Reply(Reply::Error(reason)));
        }
        tracing::info!(%group, "removal asked");
        self.state.removals.push_back(group);
        out.extend([
            Output::Persist(Persist::OrRefuse("the removal")),
            Output::Wake,
            Output::Reply(Reply::Ok),
        ]);
    }

    /// The refusal of a `register` from a removed group's ring address: retired, so a
    /// removed group's nodes (restarted, or a line delayed on the wire) cannot bring it
    /// back with whatever their disks still hold.
    pub(super) fn refuse_removed(&self, ring: &HostPort) -> Option<Output> {
        let leaving = self.state.removal.as_ref().map(|r| &r.leaving);
        (self.state.removed.contains(ring) || leaving == Some(ring)).then(|| {
            Output::Reply(Reply::Error(format!(
                "group {ring} was removed from the ring; its address is retired (register the machines under a new ring address)"
            )))
        })
    }

    /// Starts the next queued removal unless a join or removal runs. A removal goes before
    /// queued joins. Returns whether one started.
    pub(super) fn start_next_removal(&mut self) -> bool {
        let state = &mut self.state;
        if state.join.is_some() || state.removal.is_some() {
            return false;
        }
        while let Some(leaving) = state.removals.pop_front() {
            let ring = state.members.iter().filter(|m| **m != leaving).cloned();
            let rest = crate::ring::Ring::new(ring);
            // Checked when asked; a state file edited by hand may still say otherwise.
            let neighbours = state
                .members
                .contains(&leaving)
                .then(|| rest.neighbours_of(&leaving))
                .flatten();
            let Some((receiver, end)) = neighbours else {
                tracing::error!(group = %leaving, "cannot remove: not on the ring, or the last member");
                continue;
            };
            // Retired from now on: a removal is never abandoned. A registration of it
            // queued earlier must not bring it back after.
            state.queue.retain(|r| r.ring != leaving);
            state.removed.push(leaving.clone());
            state.joins += 1;
            tracing::info!(group = %leaving, %receiver, number = state.joins, "removal begins");
            state.removal = Some(Removal {
                leaving,
                receiver,
                end,
                step: Removal::FIRST,
            });
            return true;
        }
        false
    }

    /// `done` of the removal in progress (its tag already checked): from the leaving
    /// group, once it was asked to hand over.
    pub(super) fn on_removal_done(
        &mut self,
        from: Option<&HostPort>,
    ) -> Result<DoneOutcome, String> {
        let Some(removal) = self.state.removal.as_mut() else {
            return Err("no removal in progress".into());
        };
        if let Some(from) = from.filter(|f| **f != removal.leaving) {
            return Err(format!(
                "done from {from}, but the hand-over is {}'s",
                removal.leaving
            ));
        }
        match removal.step {
            JoinStep::Transfer => {
                removal.step = JoinStep::Broadcast;
                tracing::info!(group = %removal.leaving, "hand-over done");
                Ok(DoneOutcome::Advanced)
            }
            s if s > JoinStep::Transfer => Ok(DoneOutcome::AlreadyKnown),
            s => Err(format!("no hand-over requested yet (removal is at {s})")),
        }
    }

    /// Takes the leaving group off the ring (once); true if it was still on.
    pub(super) fn drop_member(&mut self, leaving: &HostPort) -> bool {
        let before = self.state.members.len();
        self.state.members.retain(|m| m != leaving);
        let dropped = self.state.members.len() != before;
        if dropped {
            self.state.version += 1;
        }
        dropped
    }

    /// The removal is over: forget it (its group stays retired).
    pub(super) fn close_removal(&mut self, id: u64, out: &mut Vec<Output>) {
        if let Some(removal) = self.state.removal.take() {
            tracing::info!(group = %removal.leaving, "removal finished");
            out.push(Output::Closed {
                join: id,
                newcomer: removal.leaving,
                how: Closed::Removed,
            });
        }
    }
}
