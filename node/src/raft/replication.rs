//! Log replication: the leader's per-follower progress, `AppendEntries` out and in,
//! commitment, heartbeats and check-quorum.
//!
//! The leader keeps one [`Progress`] per follower and at most one `AppendEntries` with
//! entries outstanding per follower; a heartbeat resends from `next` if nothing came back.
//! A follower rejects a mismatch with a hint, the index the leader should try next as
//! `prev_log_index`, chosen to skip whole conflicting terms. This module must not decide
//! elections (it only steps down on check-quorum through `become_follower`).

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
    /// Entries were sent and neither acknowledged nor refused yet.
    pub(super) in_flight: bool,
    /// The follower answered since the last check-quorum.
    pub(super) active: bool,
    /// The highest read round the follower has echoed in an `AppendEntriesReply` of this
    /// term (see `read.rs`).
    pub(super) round_acked: u64,
    /// A snapshot being sent, if the follower needs compacted entries.
    pub(super) snapshot: Option<Outgoing>,
}

impl Progress {
    pub(super) fn new(next: LogIndex) -> Self {
        Progress {
            next,
            matched: LogIndex(0),
            in_flight: false,
            active: false,
            round_acked: 0,
            snapshot: None,
        }
    }
}

impl Raft {
    /// A leader's tick: heartbeats, and check-quorum every minimum election timeout.
    pub(super) fn tick_leader(&mut self) {
        self.heartbeat_elapsed = self.heartbeat_elapsed.saturating_add(1);
        self.quorum_elapsed = self.quorum_elapsed.saturating_add(1);
        if self.quorum_elapsed >= self.config.election_ticks.0 {
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

    /// Sends every follower what it needs next (entries, a heartbeat, or a snapshot chunk).
    pub(super) fn broadcast_append(&mut self) {
        for peer in self.others() {
            self.send_append(peer);
        }
    }

    /// Sends new entries to the followers that have nothing outstanding.
    pub(super) fn send_appends_to_idle(&mut self) {
        let idle: Vec<PeerId> = self
            .progress
            .iter()
            .filter(|(_, p)| !p.in_flight && p.snapshot.is_none())
            .map(|(id, _)| *id)
            .collect();
        for peer in idle {
            self.send_append(peer);
        }
    }

    /// Sends `to` the entries from its `next` index on (none for a heartbeat), tagged with
    /// the current read round, or a snapshot chunk if those entries were compacted away.
    pub(super) fn send_append(&mut self, to: PeerId) {
        let round = self.reads.round();
        let Some(pr) = self.progress.get_mut(&to) else {
            return;
        };
        if pr.snapshot.is_some() {
            self.send_snapshot_chunk(to);
            return;
        }
        let prev_index = prev(pr.next);
        let Some(prev_term) = self.log.term_at(prev_index) else {
            self.start_snapshot(to);
            return;
        };
        let entries = self.log.batch(
            pr.next,
            self.config.max_append_entries,
            self.config.max_append_bytes,
        );
        pr.in_flight = !entries.is_empty();
        self.out.send(
            to,
            AppendEntries {
                term: self.term,
                leader: self.config.id,
                prev_log_index: prev_index,
                prev_log_term: prev_term,
                leader_commit: self.commit,
                entries,
                round,
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
        let reply = self.accept_entries(m);
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
        pr.in_flight = false;
        let mut send = false;
        if r.success {
            if r.last_log_index > last {
                tracing::debug!(id = %self.config.id, %from, index = %r.last_log_index, "raft: dropping an acknowledgement past our log");
            } else {
                pr.matched = pr.matched.max(r.last_log_index);
                pr.next = pr.next.max(next(r.last_log_index));
                send = pr.next <= last;
            }
        } else if next(r.last_log_index) >= pr.next {
            tracing::debug!(id = %self.config.id, %from, hint = %r.last_log_index, "raft: dropping a stale refusal");
        } else {
            pr.next = next(r.last_log_index);
            // A hint at or below the match index means that match was wrong (a follower's
            // answer to an older transfer): forget it rather than get stuck.
            pr.matched = pr.matched.min(r.last_log_index);
            send = true;
        }
        if send {
            self.send_append(from);
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
            self.on_commit_advanced();
        }
    }
}
