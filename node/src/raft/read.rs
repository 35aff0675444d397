//! Linearizable reads with ReadIndex (Raft thesis §6.4).
//!
//! A read registered on the leader waits until the leader has committed an entry of its
//! own term (its commit index is then at least every acknowledged write's), records the
//! commit index as the read's index, and joins the next *read round*: one heartbeat
//! broadcast, sent from [`Raft::ready`] so that all reads registered in between share it.
//! The read is confirmed once a majority (counting the leader) has answered a message sent
//! in or after its round, and comes out in `Ready::reads`. A leader that steps down hands
//! every unconfirmed read back in `Ready::lost_reads`.
//!
//! Limitation: peer replies carry no request id, so "answered a message sent in the round"
//! is judged by arrival: a follower's reply that arrives after a round's broadcast counts
//! for that round. A reply to an *older* message that is delayed past the broadcast would
//! be miscounted. That needs a reordering network *and* a new leader elected in the gap;
//! on per-connection FIFO transports (TCP) it is narrowed to replies already in flight
//! when the round starts. An echoed round number in `AppendEntries`/`AppendEntriesReply`
//! would close it (a wire change, not made here).

use std::collections::VecDeque;

use protocol::peer::LogIndex;

use super::ready::Outbox;
use super::types::{NotLeader, Role};
use super::Raft;

/// The leader's reads in progress.
#[derive(Debug, Default)]
pub(super) struct Reads {
    /// The latest round broadcast.
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
    /// The latest round broadcast; messages sent now belong to it.
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

    /// Confirms the reads whose round a majority has acknowledged.
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
