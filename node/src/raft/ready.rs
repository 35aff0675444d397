//! The core's output: [`Ready`], what the host must persist, send, apply and answer, and
//! the bookkeeping ([`Outbox`]) that decides what goes into the next one.
//!
//! This module owns the contract between the core and its storage: which hard state and
//! which log suffix storage has been told about, and therefore which truncation and which
//! entries the next `Ready` must carry. It must not make protocol decisions.

use bytes::Bytes;
use protocol::peer::{Entry, LogIndex, PeerId, PeerMessage, Term};

use super::log::{next, prev};
use super::types::{HardState, SnapshotMeta};
use super::Raft;

/// Everything the core produced since the last [`Raft::ready`], drained in one go.
///
/// # Handling order
///
/// Carry out one `Ready` completely, in this order, before calling into the core again:
///
/// 1. **Persist, then sync**, all of:
///    - [`hard_state`](Ready::hard_state) if `Some` (term and vote);
///    - [`snapshot`](Ready::snapshot) if `Some`: store it as the new log base and drop every
///      stored entry up to its index;
///    - [`truncate_after`](Ready::truncate_after) if `Some`: drop stored entries with a
///      greater index;
///    - [`entries`](Ready::entries): append them (they continue the stored log, which may
///      now be empty after a snapshot).
/// 2. **Send** [`messages`](Ready::messages). Only after step 1 is durable: a vote or an
///    acknowledgement must never leave a member that could forget it in a crash. The
///    exceptions ([`Ready::may_precede_persist`]) are requests, which promise nothing the
///    sender could forget and may be sent *before* step 1:
///    - the leader's replication (`AppendEntries`, `InstallSnapshot`), so that followers
///      write while the leader does (Raft thesis §10.2.1). The leader counts its own log
///      towards commitment as soon as entries are appended;
///    - vote requests (`RequestVote`, pre-vote or real), so that voters write their votes
///      while the candidate writes its term and its own vote. Waiting for the candidate's
///      sync first costs a whole sync per round, in which the other members' timers run
///      out and split the votes (on 1200 ms syncs, three candidates of one term within
///      0.9 s). The candidate counts its own vote at once; its request names its log as
///      storage holds it (an election starts on a tick, which a host gives between
///      `Ready`s carried out).
///
///    Both stay sound because the core is not called again before this `Ready` is carried
///    out: no answer to those requests is stepped before the sender's own sync has
///    finished, so nothing is committed, and no election won, on what the sender could
///    still lose. A candidate that crashes before its sync restarts with its old term and
///    vote, having counted nothing; voters that granted it are bound to it for that term
///    only, as if its request had gone out after the sync. Their answers may still reach
///    the member's next life, which may stand for that same term again: a candidate
///    counts no vote before its own term and vote are durable (`handle_vote_reply`), so
///    such an answer is dropped until then, and after it is one more vote for this member
///    in a term it durably stands in.
///
///    [`early_replies`](Ready::early_replies) may also go before step 1: a follower's
///    answers to heartbeats (`AppendEntries` without entries) when its term is already
///    durable, acknowledging no more of the log than storage held before this `Ready`.
///    They echo the heartbeat's read round, so a leader's reads wait for the followers'
///    network, not for their syncs of entries that arrived meanwhile (a follower under
///    write load always has some). [`Ready::take_early_messages`] hands out both kinds.
/// 3. **Apply**: if `snapshot` is `Some`, first reset the application state from it; then
///    apply [`committed`](Ready::committed) in order. Entries with empty `data` are the
///    no-ops a new leader appends to commit entries of its term: skip them (so never
///    propose an empty command).
/// 4. **Serve reads**: each of [`reads`](Ready::reads) `(id, index)` may be answered once
///    the application has applied up to `index`; fail each of
///    [`lost_reads`](Ready::lost_reads) (the client may retry at the new leader).
///
/// A `Ready` whose persistence fails must not be half-carried-out: the member should stop
/// (crash) and recover from what storage holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    /// Persist (and sync) if `Some`.
    pub hard_state: Option<HardState>,
    /// Storage must drop entries with an index greater than this before appending
    /// `entries`.
    pub truncate_after: Option<LogIndex>,
    /// Append to durable storage (and sync) before sending messages.
    pub entries: Vec<(LogIndex, Entry)>,
    /// A snapshot received from the leader: persist it, reset the application state from
    /// it, discard the log up to it.
    pub snapshot: Option<(SnapshotMeta, Bytes)>,
    /// Send only after everything above is durable.
    pub messages: Vec<(PeerId, PeerMessage)>,
    /// Replies that promise only what storage held before this `Ready`: may be sent
    /// before step 1 (see [`Ready::take_early_messages`]).
    pub early_replies: Vec<(PeerId, PeerMessage)>,
    /// Committed entries, to apply in order after persisting.
    pub committed: Vec<(LogIndex, Entry)>,
    /// Confirmed [`Raft::read_index`] requests: `(id, index)`, servable once the
    /// application has applied up to `index`.
    pub reads: Vec<(u64, LogIndex)>,
    /// Read requests abandoned because this member stopped being leader.
    pub lost_reads: Vec<u64>,
    /// A member on a replaced disk has caught up: storage may forget that it was
    /// catching up ([`RaftConfig::replaced_disk`](super::RaftConfig::replaced_disk)).
    pub caught_up: bool,
}

impl Ready {
    /// Whether `msg` may be sent before this `Ready`'s persistence (step 1): a leader's
    /// `AppendEntries` or `InstallSnapshot`, or a candidate's `RequestVote`, requests that
    /// promise nothing about the sender's log or vote. Votes and every other reply wait
    /// for the sync.
    pub fn may_precede_persist(msg: &PeerMessage) -> bool {
        matches!(
            msg,
            PeerMessage::AppendEntries(_)
                | PeerMessage::InstallSnapshot(_)
                | PeerMessage::RequestVote(_)
        )
    }

    /// Removes and returns what may be sent before step 1: the requests of
    /// [`messages`](Ready::messages) ([`Ready::may_precede_persist`]), then the
    /// [`early_replies`](Ready::early_replies). `messages` keeps the rest, to send after
    /// the sync.
    pub fn take_early_messages(&mut self) -> Vec<(PeerId, PeerMessage)> {
        let (mut early, late): (Vec<_>, Vec<_>) = std::mem::take(&mut self.messages)
            .into_iter()
            .partition(|(_, msg)| Ready::may_precede_persist(msg));
        self.messages = late;
        early.append(&mut self.early_replies);
        early
    }

    /// Whether step 1 (persist, then sync) has anything to write: a hard state, a
    /// snapshot, a truncation or entries.
    pub fn persists(&self) -> bool {
        self.hard_state.is_some()
            || self.truncate_after.is_some()
            || !self.entries.is_empty()
            || self.snapshot.is_some()
    }

    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        !self.persists()
            && self.messages.is_empty()
            && self.early_replies.is_empty()
            && self.committed.is_empty()
            && self.reads.is_empty()
            && self.lost_reads.is_empty()
            && !self.caught_up
    }
}

/// Output collected between two calls to [`Raft::ready`], and what storage was told.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// The hard state last handed out (or recovered).
    persisted: HardState,
    /// Storage must drop entries after this before the entries of the next `Ready`.
    truncate_after: Option<LogIndex>,
    /// The first log index storage has not been given yet.
    unstable_from: LogIndex,
    /// A snapshot installed from the leader, not yet handed out.
    pub(super) snapshot: Option<(SnapshotMeta, Bytes)>,
    /// Messages to send.
    pub(super) messages: Vec<(PeerId, PeerMessage)>,
    /// Replies that promise nothing beyond what storage already holds.
    pub(super) early_replies: Vec<(PeerId, PeerMessage)>,
    /// Confirmed reads.
    pub(super) reads: Vec<(u64, LogIndex)>,
    /// Abandoned reads.
    pub(super) lost_reads: Vec<u64>,
    /// Caught up on a replaced disk since the last `Ready`.
    pub(super) caught_up: bool,
}

impl Outbox {
    /// An outbox for a member whose storage holds `hard_state` and a log ending at
    /// `last_index`.
    pub(super) fn new(hard_state: HardState, last_index: LogIndex) -> Self {
        Outbox {
            persisted: hard_state,
            unstable_from: next(last_index),
            ..Outbox::default()
        }
    }

    /// Queues `msg` for `to`.
    pub(super) fn send(&mut self, to: PeerId, msg: impl Into<PeerMessage>) {
        self.messages.push((to, msg.into()));
    }

    /// Queues `reply` for `to`, to leave before the next `Ready`'s sync: it must promise
    /// nothing beyond what storage held before that `Ready` (see [`Outbox::durable_last`]).
    pub(super) fn send_early(&mut self, to: PeerId, reply: impl Into<PeerMessage>) {
        self.early_replies.push((to, reply.into()));
    }

    /// The last index of the log storage holds, if storage holds the hard state of `term`
    /// and the next `Ready` rewrites nothing storage holds (no truncation, no snapshot):
    /// what a reply may promise before that `Ready`'s sync. Every `Ready` handed out was
    /// carried out before the core was called again, so what was handed out is durable.
    pub(super) fn durable_last(&self, term: Term) -> Option<LogIndex> {
        let clean = self.truncate_after.is_none() && self.snapshot.is_none();
        (self.persisted.term == term && clean).then(|| prev(self.unstable_from))
    }

    /// Whether `hard_state` has been handed out in a `Ready`, and so (the core being
    /// called only between `Ready`s carried out) is durable.
    pub(super) fn holds(&self, hard_state: HardState) -> bool {
        self.persisted == hard_state
    }

    /// Whether a refusal to `to` waits for the next sync. An early reply must not overtake
    /// it: the leader tells a stale refusal from a current one by the order they arrive in
    /// (a refusal read after a success would restart a probe and send entries again).
    pub(super) fn holds_refusal_to(&self, to: PeerId) -> bool {
        self.messages.iter().any(|(peer, m)| {
            *peer == to && matches!(m, PeerMessage::AppendEntriesReply(r) if !r.success)
        })
    }

    /// The in-memory log dropped every entry after `index`: if storage may hold some of
    /// them, the next `Ready` must tell it to drop them too.
    pub(super) fn truncated_after(&mut self, index: LogIndex) {
        if next(index) < self.unstable_from {
            self.truncate_after = Some(self.truncate_after.map_or(index, |t| t.min(index)));
            self.unstable_from = next(index);
        }
    }

    /// A snapshot at `meta` became the log base. If `kept_suffix`, the entries after it
    /// stayed (they matched); otherwise the log is now empty after `meta.index`.
    pub(super) fn installed_snapshot(&mut self, meta: SnapshotMeta, data: Bytes, kept: bool) {
        if !kept {
            self.truncated_after(meta.index);
        }
        self.unstable_from = self.unstable_from.max(next(meta.index));
        self.snapshot = Some((meta, data));
    }
}

impl Raft {
    /// Drains everything produced since the last call. Call it after every
    /// [`tick`](Raft::tick), [`step`](Raft::step), [`propose`](Raft::propose),
    /// [`read_index`](Raft::read_index) and [`compact`](Raft::compact), and carry it out in
    /// the order documented on [`Ready`].
    pub fn ready(&mut self) -> Ready {
        self.send_new_entries();
        self.broadcast_read_round();
        let hard_state = self.hard_state();
        let hard_state = (hard_state != self.out.persisted).then(|| {
            self.out.persisted = hard_state;
            hard_state
        });
        let last = self.log.last_index();
        let from = self.out.unstable_from.max(next(self.log.base().index));
        let entries = self.log.range(from, last);
        self.out.unstable_from = next(last);
        let committed = self.log.range(next(self.applied), self.commit);
        if let Some((index, _)) = committed.last() {
            self.applied = *index;
        }
        Ready {
            hard_state,
            truncate_after: self.out.truncate_after.take(),
            entries,
            snapshot: self.out.snapshot.take(),
            messages: std::mem::take(&mut self.out.messages),
            early_replies: std::mem::take(&mut self.out.early_replies),
            committed,
            reads: std::mem::take(&mut self.out.reads),
            lost_reads: std::mem::take(&mut self.out.lost_reads),
            caught_up: std::mem::take(&mut self.out.caught_up),
        }
    }
}
