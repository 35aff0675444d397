//! Log replication: the leader's per-follower progress and flow control, `AppendEntries`
//! out and in, commitment, heartbeats and check-quorum.
//!
//! Flow control follows etcd's raft. A follower is **probed** while the leader does not
//! know where their logs match: one `AppendEntries` at a time, without entries, with
//! `prev_log_index` just before `next`, nothing more until it is answered (a heartbeat,
//! which carries no entries either, also gets an answer, so a lost probe is retried on the
//! next one). A success moves the follower to **replicate**:
//! entries are then pipelined, `next` advancing as they are sent, up to
//! `max_inflight_appends` unanswered messages; each answer frees the messages it covers. A
//! refusal sends the follower back to probing from the hint, the index the leader should
//! try next as `prev_log_index` (chosen by the follower to skip whole conflicting terms).
//!
//! Heartbeats and read rounds never resend entries that are in flight: their
//! `AppendEntries` then carries none, with `prev_log_index` the last index sent, so it
//! arrives behind those entries on the same connection and its answer also tells whether
//! they arrived. New entries go out from [`Raft::ready`], one message per follower for all
//! the proposals of a batch. This module must not decide elections (it only steps down on
//! check-quorum through `become_follower`).

use std::collections::VecDeque;

use protocol::peer::{AppendEntries, AppendEntriesReply, LogIndex, PeerId, Term};

use super::log::{next, prev};
use super::snapshot::Outgoing;
use super::types::Role;
use super::Raft;

/// What the leader knows about one follower.
#[derive(Debug, Clone)]
pub(super) struct Progress {
    /// The next index to send.
    pub(super) next: LogIndex,
    /// The highest index known to be replicated on the follower.
    pub(super) matched: LogIndex,
    /// Probing or replicating (see the module docs).
    pub(super) flow: Flow,
    /// The follower answered since the last check-quorum.
    pub(super) active: bool,
    /// The highest read round the follower has echoed in an `AppendEntriesReply` of this
    /// term (see `read.rs`).
    pub(super) round_acked: u64,
    /// A snapshot being sent, if the follower needs compacted entries.
    pub(super) snapshot: Option<Outgoing>,
}

/// How entries may be sent to one follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Flow {
    /// Where the logs match is not known: one message at a time. `sent` while one is
    /// unanswered.
    Probe { sent: bool },
    /// The logs match up to `matched`: entries are pipelined. The last index of every
    /// unanswered `AppendEntries` with entries, oldest first.
    Replicate { inflight: VecDeque<LogIndex> },
}

impl Progress {
    pub(super) fn new(next: LogIndex) -> Self {
        Progress {
            next,
            matched: LogIndex(0),
            flow: Flow::Probe { sent: false },
            active: false,
            round_acked: 0,
            snapshot: None,
        }
    }

    /// Nothing sent to this follower is waiting for an answer.
    fn idle(&self) -> bool {
        match &self.flow {
            Flow::Probe { sent } => !sent,
            Flow::Replicate { inflight } => inflight.is_empty(),
        }
    }

    /// Starts probing again from `next`: nothing is considered in flight.
    pub(super) fn probe_from(&mut self, next: LogIndex) {
        self.next = next;
        self.flow = Flow::Probe { sent: false };
    }
}

impl Raft {
    /// A leader's tick: heartbeats, and check-quorum every minimum election timeout.
    pub(super) fn tick_leader(&mut self) {
        self.heartbeat_elapsed = self.heartbeat_elapsed.saturating_add(1);
        for out in self
            .progress
            .values_mut()
            .filter_map(|p| p.snapshot.as_mut())
        {
            out.since_sent = out.since_sent.saturating_add(1);
        }
        self.quorum_elapsed = self.quorum_elapsed.saturating_add(1);
        if self.quorum_elapsed >= self.min_election_ticks() {
            self.quorum_elapsed = 0;
            let active = 1 + self.progress.values().filter(|p| p.active).count();
            for p in self.progress.values_mut() {
                p.active = false;
            }
            if active < self.quorum() {
                tracing::debug!(id = %self.config.id, term = %self.term, active, "raft: check-quorum failed, stepping down");
                self.become_follower(self.term, None);
                return;
            }
        }
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_append();
        }
    }

    /// A heartbeat to every follower (also a read round's broadcast): new entries where
    /// nothing is in flight, an `AppendEntries` without entries otherwise, or the next
    /// snapshot chunk.
    pub(super) fn broadcast_append(&mut self) {
        for peer in self.others() {
            self.send_heartbeat(peer);
        }
    }

    /// Sends every follower the entries its flow control lets through (called from
    /// `ready`, so one batch of proposals goes out together).
    pub(super) fn send_new_entries(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        for peer in self.others() {
            while self.send_entries(peer) {}
        }
    }

    /// A heartbeat to `to`: if nothing is in flight, what [`Raft::send_entries`] sends
    /// (entries, or an empty probe); otherwise an `AppendEntries` without entries after
    /// the last index sent. During a snapshot transfer, the chunk in flight again if it
    /// has gone unanswered for a heartbeat interval (see `snapshot.rs`), else nothing.
    pub(super) fn send_heartbeat(&mut self, to: PeerId) {
        let Some(pr) = self.progress.get(&to) else {
            return;
        };
        if let Some(out) = &pr.snapshot {
            if out.since_sent >= self.config.heartbeat_ticks {
                self.send_snapshot_chunk(to);
            }
            return;
        }
        let (idle, next_index) = (pr.idle(), pr.next);
        if idle && self.send_entries(to) {
            return;
        }
        let prev_index = prev(next_index);
        let Some(prev_term) = self.log.term_at(prev_index) else {
            self.start_snapshot(to);
            return;
        };
        self.send_append_entries(to, prev_index, prev_term, Vec::new());
    }

    /// Sends `to` the entries from its `next` on, if its flow control allows: a probe
    /// (no entries) when probing and nothing is unanswered; a batch of new
    /// entries when replicating with room in the window. Starts a snapshot transfer
    /// instead if those entries were compacted away. Returns whether it sent anything.
    pub(super) fn send_entries(&mut self, to: PeerId) -> bool {
        let last = self.log.last_index();
        let window = self.config.max_inflight_appends;
        let Some(pr) = self.progress.get(&to) else {
            return false;
        };
        let allowed = pr.snapshot.is_none()
            && match &pr.flow {
                Flow::Probe { sent } => !sent,
                Flow::Replicate { inflight } => inflight.len() < window && pr.next <= last,
            };
        if !allowed {
            return false;
        }
        let from = pr.next;
        let prev_index = prev(from);
        let Some(prev_term) = self.log.term_at(prev_index) else {
            self.start_snapshot(to);
            return true;
        };
        // A probe carries no entries: until the follower answers, the leader cannot tell
        // whether a success it reads answers the probe or an older message, and entries in
        // a probe would be sent again when it does not.
        let entries = match &pr.flow {
            Flow::Probe { .. } => Vec::new(),
            Flow::Replicate { .. } => self.log.batch(
                from,
                self.config.max_append_entries,
                self.config.max_append_bytes,
            ),
        };
        let end = LogIndex(prev_index.0 + entries.len() as u64);
        let Some(pr) = self.progress.get_mut(&to) else {
            return false;
        };
        match &mut pr.flow {
            Flow::Probe { sent } => *sent = true,
            Flow::Replicate { inflight } => {
                inflight.push_back(end);
                pr.next = next(end);
            }
        }
        self.send_append_entries(to, prev_index, prev_term, entries);
        true
    }

    /// Queues one `AppendEntries` for `to`, tagged with the current read round.
    fn send_append_entries(
        &mut self,
        to: PeerId,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Vec<protocol::peer::Entry>,
    ) {
        self.out.send(
            to,
            AppendEntries {
                term: self.term,
                leader: self.config.id,
                prev_log_index,
                prev_log_term,
                leader_commit: self.commit,
                entries,
                round: self.reads.round(),
            },
        );
    }

    /// `AppendEntries` of our term (older ones are answered in `Raft::step`).
    pub(super) fn handle_append_entries(&mut self, from: PeerId, m: AppendEntries) {
        if self.role == Role::Leader {
            tracing::debug!(id = %self.config.id, %from, term = %m.term, "raft: dropping AppendEntries from a second leader of our term");
            return;
        }
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(m.leader));
        }
        self.leader = Some(m.leader);
        self.election_elapsed = 0;
        let heartbeat = m.entries.is_empty();
        let mut reply = self.accept_entries(m);
        // A heartbeat's answer need not wait for the sync of entries that arrived with it
        // or before it: it goes at once, acknowledging only what storage already holds.
        // (Entries in flight are acknowledged by the answers to their own messages.)
        if heartbeat && reply.success && !self.out.holds_refusal_to(from) {
            if let Some(durable) = self.out.durable_last(self.term) {
                reply.last_log_index = reply.last_log_index.min(durable);
                self.out.send_early(from, reply);
                return;
            }
        }
        self.out.send(from, reply);
    }

    /// The follower's side of `AppendEntries`: check the previous entry, append, truncate
    /// conflicts, advance the commit index. The answer echoes the request's read round.
    fn accept_entries(&mut self, m: AppendEntries) -> AppendEntriesReply {
        let term = self.term;
        let round = m.round;
        let end = LogIndex(m.prev_log_index.0.saturating_add(m.entries.len() as u64));
        let mut prev_index = m.prev_log_index;
        let mut prev_term = m.prev_log_term;
        let mut entries = m.entries;
        // Entries up to our commit index are in every future leader's log at the same
        // place, so they need no check (and may be compacted here).
        if prev_index < self.commit {
            let skip = (self.commit.0 - prev_index.0).min(entries.len() as u64);
            entries.drain(..skip as usize);
            prev_index = LogIndex(prev_index.0 + skip);
            match self.log.term_at(prev_index) {
                Some(t) => prev_term = t,
                None => {
                    // Only reachable when every entry was below the commit index.
                    return AppendEntriesReply {
                        term,
                        success: true,
                        last_log_index: end,
                        round,
                    };
                }
            }
        }
        if self.log.term_at(prev_index) != Some(prev_term) {
            let hint = self.reject_hint(prev_index, prev_term);
            tracing::debug!(id = %self.config.id, prev = %prev_index, %hint, "raft: AppendEntries does not match our log");
            return AppendEntriesReply {
                term,
                success: false,
                last_log_index: hint,
                round,
            };
        }
        let mut index = prev_index;
        for entry in entries {
            index = next(index);
            match self.log.term_at(index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    // A conflicting entry (never a committed one: index > commit here).
                    self.log.truncate_after(prev(index));
                    self.out.truncated_after(prev(index));
                    self.log.append(entry);
                }
                None => {
                    self.log.append(entry);
                }
            }
        }
        let commit = m.leader_commit.min(end);
        if commit > self.commit {
            self.commit = commit;
        }
        self.note_caught_up(m.leader_commit);
        AppendEntriesReply {
            term,
            success: true,
            last_log_index: end,
            round,
        }
    }

    /// Where the leader should try next after `prev_index` did not match: our last index
    /// if our log is shorter, otherwise the last index before `prev_index` whose term is
    /// not above `prev_term` (entries of later terms cannot match the leader's log up to
    /// there). Never below our commit index, which is known to match.
    fn reject_hint(&self, prev_index: LogIndex, prev_term: Term) -> LogIndex {
        let last = self.log.last_index();
        let mut hint = if prev_index > last {
            last
        } else {
            prev(prev_index)
        };
        while hint > self.commit && self.log.term_at(hint).is_some_and(|t| t > prev_term) {
            hint = prev(hint);
        }
        hint.max(self.commit.min(prev(prev_index)))
    }

    /// A follower's answer to our `AppendEntries`. Its echoed round acknowledges every read
    /// round up to it (it is of our term: `Raft::step` dropped older ones).
    pub(super) fn handle_append_reply(&mut self, from: PeerId, r: AppendEntriesReply) {
        if self.role != Role::Leader {
            tracing::debug!(id = %self.config.id, %from, "raft: dropping AppendEntriesReply, not leading");
            return;
        }
        if r.round > self.reads.round() {
            tracing::debug!(id = %self.config.id, %from, round = r.round, current = self.reads.round(), "raft: dropping AppendEntriesReply echoing a round not sent yet");
            return;
        }
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.active = true;
        pr.round_acked = pr.round_acked.max(r.round);
        if pr.snapshot.is_some() {
            tracing::debug!(id = %self.config.id, %from, "raft: dropping AppendEntriesReply during a snapshot transfer");
            self.check_reads();
            return;
        }
        if r.success {
            if r.last_log_index > last {
                tracing::debug!(id = %self.config.id, %from, index = %r.last_log_index, "raft: dropping an acknowledgement past our log");
            } else {
                pr.matched = pr.matched.max(r.last_log_index);
                pr.next = pr.next.max(next(r.last_log_index));
                match &mut pr.flow {
                    Flow::Probe { .. } => {
                        pr.flow = Flow::Replicate {
                            inflight: VecDeque::new(),
                        }
                    }
                    Flow::Replicate { inflight } => {
                        while inflight.front().is_some_and(|i| *i <= r.last_log_index) {
                            inflight.pop_front();
                        }
                    }
                }
                while self.send_entries(from) {}
            }
        } else if next(r.last_log_index) >= pr.next {
            // Answers an older message than the probe in progress (e.g. the rest of a
            // pipeline after its first refusal): that probe still stands.
            // (An answer to a message whose `prev_log_index` is `next - 1` always hints below
            // it, so the probe or heartbeat in progress is never taken for stale.)
            tracing::debug!(id = %self.config.id, %from, hint = %r.last_log_index, "raft: dropping a stale refusal");
        } else {
            // A hint at or below the match index means that match was wrong (a follower's
            // answer to an older transfer): forget it rather than get stuck.
            pr.matched = pr.matched.min(r.last_log_index);
            pr.probe_from(next(r.last_log_index));
            self.send_entries(from);
        }
        self.maybe_commit();
        self.check_reads();
    }

    /// Advances the commit index to the highest index of the current term held by a
    /// majority (Raft §5.4.2: entries of older terms commit only with one of ours).
    pub(super) fn maybe_commit(&mut self) {
        let mut matched: Vec<LogIndex> = self.progress.values().map(|p| p.matched).collect();
        matched.push(self.log.last_index());
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&candidate) = matched.get(self.quorum() - 1) else {
            return;
        };
        if candidate > self.commit && self.log.term_at(candidate) == Some(self.term) {
            self.commit = candidate;
            // A lone member on a replaced disk is caught up once it commits in its term.
            self.note_caught_up(candidate);
            self.on_commit_advanced();
        }
    }
}
