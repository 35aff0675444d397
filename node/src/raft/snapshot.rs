//! Log compaction and snapshot transfer, both sides.
//!
//! [`Raft::compact`] makes an application snapshot the log's new base and keeps its bytes.
//! A leader whose follower needs entries before that base sends the snapshot in chunks of
//! `snapshot_chunk_bytes` (`offset`, `data`, `done`), one chunk outstanding. The follower
//! accumulates chunks, answers `next_offset` (the bytes it holds; 0 when it starts over),
//! and on the last chunk installs the snapshot: it becomes the log base and is handed to
//! the application in `Ready::snapshot`. The leader then resumes `AppendEntries` after the
//! snapshot's index. This module does not interpret the bytes.
//!
//! The leader sends a chunk when an answer asks for another offset than the one in flight,
//! and resends the chunk in flight at a heartbeat only once it has gone unanswered for a
//! whole heartbeat interval. An answer asking for the chunk in flight sends nothing: every
//! copy of a chunk gets an answer, so a leader that answered each one with a send (and
//! resent on every heartbeat or read round) kept one more copy of every chunk circulating
//! per heartbeat for the rest of the transfer; a transfer of many chunks to a slow
//! follower grew to over a thousand copies of each chunk.

use bytes::Bytes;
use protocol::peer::{InstallSnapshot, InstallSnapshotReply, LogIndex, PeerId, Term};

use super::log::next;
use super::types::{Role, SnapshotMeta};
use super::Raft;

/// Leader side: a snapshot on its way to one follower.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    meta: SnapshotMeta,
    data: Bytes,
    /// The offset of the chunk in flight (the follower's last `next_offset`).
    offset: u64,
    /// Ticks since that chunk was last sent.
    pub(super) since_sent: u32,
}

/// Follower side: the chunks of one snapshot received so far.
#[derive(Debug, Clone)]
pub(super) struct Incoming {
    /// The term of the leader sending it.
    term: Term,
    meta: SnapshotMeta,
    data: Vec<u8>,
}

impl Raft {
    /// The application holds a snapshot of its state as of `index` (at most the applied
    /// index): the log drops the entries up to `index`, and `snapshot` is kept to send to
    /// followers that need them. Storage compaction is the application's own business.
    ///
    /// After a restart, call it once with the recovered snapshot's index and bytes. Calls
    /// with an index past the applied index or below the current base are ignored.
    pub fn compact(&mut self, index: LogIndex, snapshot: Bytes) {
        let base = self.log.base();
        if index > self.applied || index < base.index {
            tracing::debug!(id = %self.config.id, %index, applied = %self.applied, base = %base.index, "raft: ignoring compaction outside [base, applied]");
            return;
        }
        self.log.compact_to(index);
        self.snapshot = Some((self.log.base(), snapshot));
    }

    /// The latest snapshot this member holds: its metadata and bytes.
    pub fn snapshot(&self) -> Option<&(SnapshotMeta, Bytes)> {
        self.snapshot.as_ref()
    }

    /// Starts sending our snapshot to `to`, whose next entries were compacted away.
    pub(super) fn start_snapshot(&mut self, to: PeerId) {
        let Some((meta, data)) = self.snapshot.clone() else {
            tracing::debug!(id = %self.config.id, %to, "raft: follower needs compacted entries but no snapshot bytes are held");
            return;
        };
        let Some(pr) = self.progress.get_mut(&to) else {
            return;
        };
        tracing::debug!(id = %self.config.id, %to, index = %meta.index, bytes = data.len(), "raft: sending a snapshot");
        pr.snapshot = Some(Outgoing {
            meta,
            data,
            offset: 0,
            since_sent: 0,
        });
        self.send_snapshot_chunk(to);
    }

    /// Sends `to` the chunk of its snapshot at the current offset.
    pub(super) fn send_snapshot_chunk(&mut self, to: PeerId) {
        let Some(out) = self.progress.get_mut(&to).and_then(|p| p.snapshot.as_mut()) else {
            return;
        };
        out.since_sent = 0;
        let len = out.data.len();
        let start = usize::try_from(out.offset).unwrap_or(len).min(len);
        let end = start
            .saturating_add(self.config.snapshot_chunk_bytes)
            .min(len);
        let chunk = InstallSnapshot {
            term: self.term,
            leader: self.config.id,
            last_included_index: out.meta.index,
            last_included_term: out.meta.term,
            offset: start as u64,
            data: out.data.slice(start..end),
            done: end == len,
        };
        self.out.send(to, chunk);
    }

    /// A follower's answer to a snapshot chunk: send the chunk it asks for unless that
    /// chunk is the one in flight, or, once it holds the whole snapshot, go on with
    /// `AppendEntries` after it.
    pub(super) fn handle_snapshot_reply(&mut self, from: PeerId, r: InstallSnapshotReply) {
        if self.role != Role::Leader {
            tracing::debug!(id = %self.config.id, %from, "raft: dropping InstallSnapshotReply, not leading");
            return;
        }
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        // No read round is acknowledged here: the reply does not say which chunk it answers
        // (see `read.rs`).
        pr.active = true;
        let Some(out) = pr.snapshot.as_mut() else {
            tracing::debug!(id = %self.config.id, %from, "raft: dropping InstallSnapshotReply, no transfer in progress");
            return;
        };
        let len = out.data.len() as u64;
        if r.next_offset == len {
            tracing::debug!(id = %self.config.id, %from, index = %out.meta.index, "raft: follower holds the snapshot");
            pr.matched = pr.matched.max(out.meta.index);
            pr.probe_from(next(pr.matched));
            pr.snapshot = None;
            self.send_entries(from);
            self.maybe_commit();
        } else {
            if r.next_offset > len {
                tracing::debug!(id = %self.config.id, %from, offset = r.next_offset, "raft: follower's offset is past the snapshot, restarting it");
            }
            let wanted = if r.next_offset > len {
                0
            } else {
                r.next_offset
            };
            if wanted == out.offset {
                // The answer to an older copy: the chunk asked for is on its way (or is
                // resent once a heartbeat interval passes without its answer).
                return;
            }
            out.offset = wanted;
            self.send_snapshot_chunk(from);
        }
    }

    /// A snapshot chunk from the leader of our term (older ones are answered in
    /// `Raft::step`).
    pub(super) fn handle_install_snapshot(&mut self, from: PeerId, m: InstallSnapshot) {
        if self.role == Role::Leader {
            tracing::debug!(id = %self.config.id, %from, "raft: dropping InstallSnapshot from a second leader of our term");
            return;
        }
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(m.leader));
        }
        self.leader = Some(m.leader);
        self.election_elapsed = 0;
        let meta = SnapshotMeta {
            index: m.last_included_index,
            term: m.last_included_term,
        };
        if meta.index <= self.commit {
            // We already hold everything it covers (for example, we installed it and our
            // answer to its last chunk was lost): acknowledge the chunk without keeping it.
            self.incoming = None;
            let next_offset = m.offset.saturating_add(m.data.len() as u64);
            self.out.send(
                from,
                InstallSnapshotReply {
                    term: self.term,
                    next_offset,
                },
            );
            return;
        }
        if m.offset == 0 {
            self.incoming = Some(Incoming {
                term: self.term,
                meta,
                data: Vec::new(),
            });
        }
        let next_offset = match self.incoming.as_mut() {
            Some(inc) if inc.term == self.term && inc.meta == meta => {
                if inc.data.len() as u64 == m.offset {
                    inc.data.extend_from_slice(&m.data);
                } else {
                    // A lost or repeated chunk: ask for the one we need.
                    tracing::debug!(id = %self.config.id, %from, offset = m.offset, held = inc.data.len(), "raft: snapshot chunk out of place");
                }
                inc.data.len() as u64
            }
            _ => {
                tracing::debug!(id = %self.config.id, %from, offset = m.offset, "raft: snapshot chunk of an unknown transfer, asking for a restart");
                self.incoming = None;
                0
            }
        };
        if m.done && next_offset == m.offset.saturating_add(m.data.len() as u64) {
            if let Some(inc) = self.incoming.take() {
                self.install_snapshot(inc.meta, Bytes::from(inc.data));
            }
        }
        self.out.send(
            from,
            InstallSnapshotReply {
                term: self.term,
                next_offset,
            },
        );
    }

    /// Makes a complete snapshot from the leader (past our commit index) our log base.
    fn install_snapshot(&mut self, meta: SnapshotMeta, data: Bytes) {
        let kept = self.log.term_at(meta.index) == Some(meta.term);
        if kept {
            self.log.compact_to(meta.index);
        } else {
            self.log.reset(meta);
        }
        tracing::debug!(id = %self.config.id, index = %meta.index, kept, "raft: installed a snapshot");
        self.commit = meta.index;
        self.applied = meta.index;
        self.snapshot = Some((meta, data.clone()));
        self.out.installed_snapshot(meta, data, kept);
    }
}
