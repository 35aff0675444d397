//! Linearizable reads with ReadIndex (Raft thesis §6.4).
//!
//! A read registered on the leader waits until the leader has committed an entry of its
//! own term (its commit index is then at least every acknowledged write's), records the
//! commit index as the read's index, and joins the next *read round*: one heartbeat
//! broadcast, sent from [`Raft::ready`] so that all reads registered in between share it.
//! A leader that steps down hands every unconfirmed read back in `Ready::lost_reads`.
//!
//! Rounds are numbered. The leader's counter only goes up (it is never reset, not even in
//! a new term, so a number never repeats within a term); starting a round increments it,
//! and every `AppendEntries` the leader sends carries the current number in `round`, which
//! the follower echoes in its `AppendEntriesReply`. A read of round `r` is confirmed, and
//! comes out in `Ready::reads`, once a majority counting the leader has echoed a round
//! `>= r` in replies of the leader's term (older terms' replies never reach here; see
//! `Raft::step`). Each such follower answered a message sent after the read was registered
//! while it still held the leader's term, so no newer leader can have committed anything
//! before the read: a majority had not yet moved on. A reply to an older message, however
//! late it arrives, echoes an older round and confirms nothing newer.
//!
//! Two replies acknowledge no round at all:
//!
//! - a refusal of an `AppendEntries` from an older term echoes 0 (`Raft::answer_stale`):
//!   it carries the refuser's newer term, in which the old leader may lead again later
//!   with a counter whose numbers could collide;
//! - an `InstallSnapshotReply` carries no round, so a follower receiving a snapshot counts
//!   towards reads again only once it answers the `AppendEntries` that follow the
//!   transfer. Reads can wait for a transfer when the other followers cannot make a
//!   majority without it.
//!
//! A reply echoing a round the leader has not started yet is malformed and dropped.

use std::collections::VecDeque;

use protocol::peer::LogIndex;

use super::ready::Outbox;
use super::types::{NotLeader, Role};
use super::Raft;

/// The leader's reads in progress.
#[derive(Debug, Default)]
pub(super) struct Reads {
    /// The latest round started; every `AppendEntries` sent now carries it. Only ever
    /// incremented, so a number never repeats within a term.
    round: u64,
    /// Some read waits for the next round's broadcast.
    broadcast_due: bool,
    /// Reads registered before the leader committed an entry of its term.
    waiting_for_commit: Vec<u64>,
    /// Reads waiting for their round's acknowledgements, in registration (and round) order.
    pending: VecDeque<PendingRead>,
}

#[derive(Debug, Clone, Copy)]
struct PendingRead {
    id: u64,
    index: LogIndex,
    round: u64,
}

impl Reads {
    /// The latest round started: the `round` of every `AppendEntries` sent now.
    pub(super) fn round(&self) -> u64 {
        self.round
    }

    /// Hands every unconfirmed read back as lost (the leader is stepping down).
    pub(super) fn abandon(&mut self, out: &mut Outbox) {
        out.lost_reads.append(&mut self.waiting_for_commit);
        out.lost_reads.extend(self.pending.drain(..).map(|r| r.id));
        self.broadcast_due = false;
    }

    fn join_next_round(&mut self, id: u64, index: LogIndex) {
        self.pending.push_back(PendingRead {
            id,
            index,
            round: self.round + 1,
        });
        self.broadcast_due = true;
    }
}

impl Raft {
    /// Asks for a linearizable read tagged `id`. Leader only. When leadership is
    /// confirmed, `Ready::reads` yields `(id, index)`: the application may serve the read
    /// once it has applied up to `index`. If this member stops leading first,
    /// `Ready::lost_reads` yields `id` instead.
    pub fn read_index(&mut self, id: u64) -> Result<(), NotLeader> {
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader: self.leader,
            });
        }
        if self.log.term_at(self.commit) == Some(self.term) {
            self.reads.join_next_round(id, self.commit);
            self.check_reads();
        } else {
            self.reads.waiting_for_commit.push(id);
        }
        Ok(())
    }

    /// The commit index moved on a leader: reads waiting for an entry of its term may go.
    pub(super) fn on_commit_advanced(&mut self) {
        if self.log.term_at(self.commit) != Some(self.term) {
            return;
        }
        let commit = self.commit;
        for id in std::mem::take(&mut self.reads.waiting_for_commit) {
            self.reads.join_next_round(id, commit);
        }
        self.check_reads();
    }

    /// Starts the next read round if a read waits for it: a heartbeat to every follower.
    pub(super) fn broadcast_read_round(&mut self) {
        if self.role != Role::Leader || !self.reads.broadcast_due {
            return;
        }
        self.reads.broadcast_due = false;
        self.reads.round += 1;
        self.broadcast_append();
    }

    /// Confirms the reads whose round a majority (counting the leader) has echoed.
    pub(super) fn check_reads(&mut self) {
        while let Some(read) = self.reads.pending.front().copied() {
            let acks = 1 + self
                .progress
                .values()
                .filter(|p| p.round_acked >= read.round)
                .count();
            if acks < self.quorum() {
                break;
            }
            self.reads.pending.pop_front();
            self.out.reads.push((read.id, read.index));
        }
    }
}
