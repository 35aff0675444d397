//! Raft consensus for one replica group, as a sans-I/O state machine.
//!
//! [`Raft`] never touches a socket, a file or a clock. Its host (the node's async shell, or
//! the in-memory test harness) feeds it inputs and carries out its output:
//!
//! - inputs: [`Raft::tick`] (one unit of time passed), [`Raft::step`] (a peer message,
//!   request or reply);
//! - application commands: [`Raft::propose`], [`Raft::read_index`], [`Raft::compact`];
//! - output: [`Raft::ready`], drained after every input or command and handled in the order
//!   documented on [`Ready`] (persist, send, apply, serve reads).
//!
//! What it implements (Raft paper and Ongaro's thesis):
//!
//! - elections with randomized timeouts from the injected [`Rng`], **pre-vote** (§9.6),
//!   a leader lease for voters (a member that heard from a leader in the last
//!   `election_ticks.0` ticks refuses votes) and **check-quorum** (a leader that has not
//!   heard from a majority for `election_ticks.0` ticks steps down), all three stretched
//!   when the sync time its host reports ([`Raft::observe_sync`]) is long beside them,
//!   so a disk slower than the configured timeouts assume slows elections down instead
//!   of stopping them;
//! - flow-controlled replication (as etcd's raft): a follower is *probed* with one
//!   `AppendEntries` without entries at a time until its log is known to match, then
//!   entries are *pipelined* to it, up to a window of unanswered messages; heartbeats and
//!   read rounds carry no entries while any are in flight; fast backtracking through the
//!   follower's hint, a no-op entry at the start of every term, commitment of
//!   current-term entries by majority (§5.4.2);
//! - linearizable reads with ReadIndex (§6.4);
//! - log compaction ([`Raft::compact`]) and chunked `InstallSnapshot` for followers that
//!   need compacted entries.
//!
//! Bad or stale peer input is dropped with a `tracing::debug` line; nothing a peer sends
//! can make the core panic. Everything is deterministic: ordered maps only, the seeded RNG
//! only, no clocks and no threads.
//!
//! Files: `types.rs` (configuration and plain data), `log.rs` (the in-memory log after a
//! snapshot base), `election.rs` (roles, terms and votes), `replication.rs` (the leader's
//! `AppendEntries`, the follower's answers, commitment, heartbeats and check-quorum),
//! `snapshot.rs` (compaction and chunked snapshot transfer, both sides), `read.rs`
//! (ReadIndex), `ready.rs` (the output and the storage contract), `access.rs` (read access
//! to the log for the application's storage), `tests/` (an in-memory cluster harness and
//! the behaviour tests).

mod access;
mod election;
mod log;
mod read;
mod ready;
mod replaced;
mod replication;
mod snapshot;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use bytes::Bytes;
use protocol::peer::{
    AppendEntriesReply, Entry, InstallSnapshotReply, LogIndex, PeerId, PeerMessage,
    RequestVoteReply, Term,
};

pub use ready::Ready;
pub use types::{
    HardState, NotLeader, RaftConfig, Recovered, Role, SnapshotMeta, DEFAULT_ELECTION_TICKS,
    DEFAULT_HEARTBEAT_TICKS, DEFAULT_MAX_APPEND_BYTES, DEFAULT_MAX_APPEND_ENTRIES,
    DEFAULT_MAX_INFLIGHT_APPENDS, DEFAULT_SNAPSHOT_CHUNK_BYTES,
};

use crate::io::Rng;
use log::Log;
use read::Reads;
use ready::Outbox;
use replication::Progress;
use snapshot::Incoming;

/// One member's Raft state machine. See the module docs for how to drive it.
#[derive(Debug)]
pub struct Raft {
    config: RaftConfig,
    rng: Rng,
    /// Durable (through `Ready::hard_state`): the current term and the vote in it.
    term: Term,
    voted_for: Option<PeerId>,
    /// Durable (through `Ready::entries`, `truncate_after` and `snapshot`).
    log: Log,
    role: Role,
    leader: Option<PeerId>,
    /// The highest index known to be committed.
    commit: LogIndex,
    /// The highest index handed to the application in `Ready::committed` (or covered by a
    /// snapshot).
    applied: LogIndex,
    /// Ticks since the last election timer reset (a leader's message, a granted vote, a
    /// campaign).
    election_elapsed: u32,
    /// This round's randomized election timeout, in `[election_ticks.0, election_ticks.1)`
    /// unless the disk is slow (`reset_election_timer`).
    election_timeout: u32,
    /// Eight times how many ticks this member's log syncs take lately, as its host reports
    /// them ([`Raft::observe_sync`]); 0 on a disk faster than a tick.
    disk_eighths: u32,
    /// Leader: ticks since the last heartbeat broadcast.
    heartbeat_elapsed: u32,
    /// Leader: ticks since the last check-quorum.
    quorum_elapsed: u32,
    /// (Pre-)candidate: the answers so far, including its own.
    votes: BTreeMap<PeerId, bool>,
    /// Leader: replication state of every other member.
    progress: BTreeMap<PeerId, Progress>,
    /// The latest snapshot (taken by `compact` or installed from a leader) with its bytes,
    /// to send to followers that need compacted entries.
    snapshot: Option<(SnapshotMeta, Bytes)>,
    /// Follower: the snapshot being received, chunk by chunk.
    incoming: Option<Incoming>,
    /// Leader: ReadIndex requests in progress.
    reads: Reads,
    /// Output collected for the next `Ready`.
    out: Outbox,
    /// Started on a replaced disk and not yet caught up with a leader: neither votes nor
    /// stands for election ([`RaftConfig::replaced_disk`]).
    catching_up: bool,
    /// On a replaced disk: the group's term is not known yet (`replaced.rs`).
    term_probe: Option<replaced::TermProbe>,
}

impl Raft {
    /// A member starting from what storage recovered. It starts as a follower with no
    /// known leader; the first election timeout (or, alone in its group, the first tick)
    /// starts an election.
    ///
    /// # Panics
    ///
    /// If `config` is unusable: `peers` missing `id` or holding duplicates, an empty
    /// election range, or a heartbeat interval not below the election timeout.
    pub fn new(config: RaftConfig, recovered: Recovered, rng: Rng) -> Raft {
        config.validate();
        let log = Log::new(recovered.snapshot, recovered.entries);
        let base = log.base().index;
        let mut raft = Raft {
            rng,
            term: recovered.hard_state.term,
            voted_for: recovered.hard_state.voted_for,
            role: Role::Follower,
            leader: None,
            commit: base,
            applied: base,
            election_elapsed: 0,
            election_timeout: config.election_ticks.0,
            disk_eighths: 0,
            heartbeat_elapsed: 0,
            quorum_elapsed: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            snapshot: None,
            incoming: None,
            reads: Reads::default(),
            out: Outbox::new(recovered.hard_state, log.last_index()),
            catching_up: config.replaced_disk,
            term_probe: None,
            log,
            config,
        };
        raft.term_probe = raft.initial_term_probe();
        raft.reset_election_timer();
        raft
    }

    /// One tick of time passed. A follower or candidate whose election timer expires starts
    /// a pre-vote; a leader sends heartbeats and checks that a majority still answers.
    pub fn tick(&mut self) {
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    /// How many calls to [`tick`](Self::tick) may pass before one does more than count:
    /// the next heartbeat or check-quorum of a leader, the election timeout of anyone else.
    /// A driver may sleep that many ticks unless a message or proposal arrives first, and
    /// then makes up the ticks that passed before it hands the input over (so the counters
    /// that decide a lease are as current as with a tick every period). At least 1.
    pub fn ticks_until_due(&self) -> u32 {
        let left = |limit: u32, elapsed: u32| limit.saturating_sub(elapsed).max(1);
        match self.role {
            Role::Leader => left(self.config.heartbeat_ticks, self.heartbeat_elapsed)
                .min(left(self.min_election_ticks(), self.quorum_elapsed)),
            // A lone member elects itself on its next tick.
            _ if self.config.peers.len() == 1 => 1,
            _ => {
                let election = left(self.election_timeout, self.election_elapsed);
                self.ticks_until_probe()
                    .map_or(election, |p| p.min(election))
            }
        }
    }

    /// The host's report that one of this member's log syncs (step 1 of a [`Ready`] with
    /// something to persist) took `ticks` ticks. The core keeps a moving average (each
    /// report moves it an eighth of the way, in eighths of a tick so that it settles on
    /// the syncs' own time and decays to 0 on a fast disk), at most four longest election
    /// timeouts: one stalled sync stretches the timeouts for a few syncs only.
    ///
    /// Raft needs its election timeout well above the time a round of votes takes, and
    /// each vote waits on a sync, first the candidate's and then the voter's. A timeout
    /// chosen for a fast disk would, on a disk whose syncs take about as long, expire
    /// before any round can finish, and the group would never elect a leader again. With
    /// these reports the member stretches its election timeout, its lease and its
    /// check-quorum period when its disk's syncs are long beside them; a disk whose syncs
    /// are short beside them changes nothing.
    pub fn observe_sync(&mut self, ticks: u32) {
        if !self.config.stretch_for_slow_disk {
            return;
        }
        let cap = self.config.election_ticks.1.saturating_mul(4);
        let e = self.disk_eighths;
        let next = (e - e.div_ceil(8)).saturating_add(ticks.min(cap));
        self.disk_eighths = next.min(cap.saturating_mul(8));
    }

    /// A message from peer `from`: a request (answered through `Ready::messages`) or a
    /// reply. Input from non-members, from this member itself, with a sender field that
    /// disagrees with `from`, or stale for the current state is dropped with a debug log.
    pub fn step(&mut self, from: PeerId, msg: PeerMessage) {
        if from == self.config.id || !self.config.peers.contains(&from) {
            tracing::debug!(id = %self.config.id, %from, "raft: dropping message from a non-member");
            return;
        }
        let named = match &msg {
            PeerMessage::RequestVote(m) => Some(m.candidate),
            PeerMessage::AppendEntries(m) => Some(m.leader),
            PeerMessage::InstallSnapshot(m) => Some(m.leader),
            _ => None,
        };
        if named.is_some_and(|n| n != from) {
            tracing::debug!(id = %self.config.id, %from, ?named, "raft: dropping message whose sender field disagrees");
            return;
        }
        let Some(term) = msg.term() else {
            tracing::debug!(id = %self.config.id, %from, "raft: dropping a hello, which is the transport's business");
            return;
        };
        if !self.screen_while_learning_term(from, &msg) {
            return;
        }
        if term < self.term {
            self.answer_stale(from, msg);
            return;
        }
        if term > self.term && !self.observe_higher_term(from, &msg) {
            return;
        }
        match msg {
            PeerMessage::RequestVote(m) => self.handle_request_vote(from, m),
            PeerMessage::RequestVoteReply(m) => self.handle_vote_reply(from, m),
            PeerMessage::AppendEntries(m) => self.handle_append_entries(from, m),
            PeerMessage::AppendEntriesReply(m) => self.handle_append_reply(from, m),
            PeerMessage::InstallSnapshot(m) => self.handle_install_snapshot(from, m),
            PeerMessage::InstallSnapshotReply(m) => self.handle_snapshot_reply(from, m),
            PeerMessage::Hello(_) | PeerMessage::HelloReply(_) | PeerMessage::HelloProof(_) => {}
        }
    }

    /// A message from an older term: answer requests with the current term so their
    /// sender steps down; drop replies.
    fn answer_stale(&mut self, from: PeerId, msg: PeerMessage) {
        let term = self.term;
        match msg {
            PeerMessage::RequestVote(m) => self.out.send(
                from,
                RequestVoteReply {
                    term,
                    vote_granted: false,
                    pre_vote: m.pre_vote,
                },
            ),
            // Round 0 acknowledges no read round. Echoing the request's round here would be
            // wrong: this reply carries our newer term, and its receiver may go on to lead
            // that term with its own rounds, where this number could mean a later round.
            PeerMessage::AppendEntries(_) => self.out.send(
                from,
                AppendEntriesReply {
                    term,
                    success: false,
                    last_log_index: self.log.last_index(),
                    round: 0,
                },
            ),
            PeerMessage::InstallSnapshot(_) => self.out.send(
                from,
                InstallSnapshotReply {
                    term,
                    next_offset: 0,
                },
            ),
            other => {
                tracing::debug!(id = %self.config.id, %from, marker = %char::from(other.marker()), "raft: dropping a reply from an older term");
            }
        }
    }

    /// Proposes `data` as a new log entry. Leader only; returns the entry's index and
    /// term. The entry is committed once it appears in `Ready::committed`; if another
    /// entry shows up at that index instead, the proposal was lost. `data` must not be
    /// empty (empty entries are the leader's no-ops, which the application skips).
    pub fn propose(&mut self, data: Bytes) -> Result<(LogIndex, Term), NotLeader> {
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader: self.leader,
            });
        }
        let index = self.log.append(Entry {
            term: self.term,
            data,
        });
        // Sent from `ready`, so that every proposal of one batch goes out in one message.
        self.maybe_commit();
        Ok((index, self.term))
    }

    /// The member's id.
    pub fn id(&self) -> PeerId {
        self.config.id
    }

    /// Whether this member, started on a replaced disk, is still catching up (it neither
    /// votes nor stands for election; [`RaftConfig::replaced_disk`]).
    pub fn is_catching_up(&self) -> bool {
        self.catching_up
    }

    /// The configuration the member runs with.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    /// The leader of the current term, if known (this member itself when leading).
    pub fn leader(&self) -> Option<PeerId> {
        self.leader
    }

    /// The member's current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The member's current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The current term and vote, as they will be (or have been) persisted.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            voted_for: self.voted_for,
        }
    }

    /// The highest log index known to be committed.
    pub fn commit_index(&self) -> LogIndex {
        self.commit
    }

    /// The highest index handed to the application (through `Ready::committed` or a
    /// snapshot).
    pub fn applied_index(&self) -> LogIndex {
        self.applied
    }

    /// The index of the last log entry.
    pub fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }

    /// The term of the last log entry.
    pub fn last_term(&self) -> Term {
        self.log.last_term()
    }

    /// The position the in-memory log starts after (the latest snapshot's, or `(0, 0)`).
    pub fn log_base(&self) -> SnapshotMeta {
        self.log.base()
    }

    /// Members needed for a majority.
    fn quorum(&self) -> usize {
        self.config.peers.len() / 2 + 1
    }

    /// The other members, in id order.
    fn others(&self) -> Vec<PeerId> {
        let me = self.config.id;
        self.config
            .peers
            .iter()
            .copied()
            .filter(|p| *p != me)
            .collect()
    }
}
