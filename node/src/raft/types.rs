//! The plain data the Raft core exchanges with its host: configuration, what storage
//! recovered, the durable hard state, snapshot metadata, roles and the `NotLeader` error.
//!
//! Nothing here has behaviour beyond defaults and validation; the state machine is in the
//! sibling modules.

use protocol::peer::{Entry, LogIndex, PeerId, Term};
use thiserror::Error;

/// Default randomized election timeout, in ticks: `[10, 20)`.
pub const DEFAULT_ELECTION_TICKS: (u32, u32) = (10, 20);
/// Default heartbeat interval, in ticks.
pub const DEFAULT_HEARTBEAT_TICKS: u32 = 2;
/// Default cap on entries per `AppendEntries`.
pub const DEFAULT_MAX_APPEND_ENTRIES: usize = 64;
/// Default cap on entry data bytes per `AppendEntries` (one entry is always sent, however
/// large).
pub const DEFAULT_MAX_APPEND_BYTES: usize = 256 * 1024;
/// Default cap on `AppendEntries` with entries in flight to one replicating follower.
pub const DEFAULT_MAX_INFLIGHT_APPENDS: usize = 16;
/// Default snapshot chunk size, in bytes.
pub const DEFAULT_SNAPSHOT_CHUNK_BYTES: usize = 64 * 1024;

/// How one member of a replica group runs Raft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// This member.
    pub id: PeerId,
    /// Every member of the group, including `id` (1, 3 or 5 of them).
    pub peers: Vec<PeerId>,
    /// The election timeout is drawn from `[lo, hi)` ticks. `lo` is also the leader lease:
    /// a follower that heard from its leader less than `lo` ticks ago refuses (pre-)votes,
    /// and a leader that has not heard from a majority for `lo` ticks steps down. On a disk
    /// whose syncs are long beside them all three stretch (`Raft::observe_sync`).
    pub election_ticks: (u32, u32),
    /// A leader sends `AppendEntries` to every follower at least this often, in ticks.
    pub heartbeat_ticks: u32,
    /// At most this many entries per `AppendEntries`.
    pub max_append_entries: usize,
    /// At most this many entry data bytes per `AppendEntries`, except that one entry is
    /// always sent whatever its size.
    pub max_append_bytes: usize,
    /// At most this many `AppendEntries` with entries may be unanswered at once to one
    /// follower whose log is known to match (pipelining); a follower being probed gets
    /// one at a time.
    pub max_inflight_appends: usize,
    /// `InstallSnapshot` carries at most this many snapshot bytes per chunk.
    pub snapshot_chunk_bytes: usize,
    /// This member's disk was lost and replaced: the entries it acknowledged before, some
    /// perhaps committed with its help, are gone, and so are its term and its vote. It
    /// first learns the group's term from every other member (answering no leader
    /// meanwhile, and refusing leaders of older terms afterwards), then grants no vote
    /// until it holds an entry of a leader's term that the leader counts as committed
    /// (every entry committed before is then in its log too); see `replaced.rs`. An empty
    /// disk alone cannot tell a replaced member from a fresh one (a new group's members
    /// all start empty and must vote), so whoever starts the member says so. The core
    /// takes it as given; the store (`group::RaftStore::start_raft`) sets it for a member
    /// started with it on an empty store, or one whose store records that it was
    /// catching up when it stopped.
    pub replaced_disk: bool,
    /// Whether the election timeout, the lease and check-quorum stretch when this
    /// member's syncs are long beside them (`Raft::observe_sync`). On by default; off,
    /// the member keeps the configured timeouts whatever its disk, and on a disk whose
    /// syncs outlast the election timeout its group may never elect a leader again (a
    /// simulation switches it off to study that).
    pub stretch_for_slow_disk: bool,
}

impl RaftConfig {
    /// A configuration for member `id` of the group `peers`, with the default timings and
    /// sizes.
    pub fn new(id: PeerId, peers: Vec<PeerId>) -> Self {
        RaftConfig {
            id,
            peers,
            election_ticks: DEFAULT_ELECTION_TICKS,
            heartbeat_ticks: DEFAULT_HEARTBEAT_TICKS,
            max_append_entries: DEFAULT_MAX_APPEND_ENTRIES,
            max_append_bytes: DEFAULT_MAX_APPEND_BYTES,
            max_inflight_appends: DEFAULT_MAX_INFLIGHT_APPENDS,
            snapshot_chunk_bytes: DEFAULT_SNAPSHOT_CHUNK_BYTES,
            replaced_disk: false,
            stretch_for_slow_disk: true,
        }
    }

    /// Panics with a readable message if the configuration cannot work (a programming or
    /// deployment error, never peer input).
    pub(super) fn validate(&self) {
        assert!(
            self.peers.contains(&self.id),
            "raft config: peers {:?} must include this member {}",
            self.peers,
            self.id
        );
        let mut sorted = self.peers.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            self.peers.len(),
            "raft config: duplicate peers"
        );
        let (lo, hi) = self.election_ticks;
        assert!(
            0 < lo && lo < hi,
            "raft config: election_ticks must be a non-empty range of positive ticks"
        );
        assert!(
            0 < self.heartbeat_ticks && self.heartbeat_ticks < lo,
            "raft config: heartbeat_ticks must be positive and below the election timeout"
        );
        assert!(
            self.max_append_entries > 0
                && self.max_inflight_appends > 0
                && self.snapshot_chunk_bytes > 0,
            "raft config: batch sizes must be positive"
        );
    }
}

/// The state Raft must keep across restarts besides the log: the current term and the vote
/// cast in it. It appears in [`Ready::hard_state`](super::Ready::hard_state) whenever it
/// changes, and must be synced before that `Ready`'s messages are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HardState {
    /// The latest term this member has seen.
    pub term: Term,
    /// The candidate this member voted for in `term`, if any.
    pub voted_for: Option<PeerId>,
}

/// The position a snapshot stands for: it replaces every entry up to and including `index`,
/// and the entry at `index` had term `term`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The last log index the snapshot covers.
    pub index: LogIndex,
    /// The term of the entry at `index`.
    pub term: Term,
}

/// What storage recovered at start.
///
/// If storage holds a snapshot, pass its metadata here and, right after
/// [`Raft::new`](super::Raft::new), hand its bytes to [`Raft::compact`](super::Raft::compact)
/// with the same index, so that this member can send it to lagging followers if it becomes
/// leader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The last synced hard state (the default for a fresh member).
    pub hard_state: HardState,
    /// The last snapshot installed or taken, if any: the log's base.
    pub snapshot: Option<SnapshotMeta>,
    /// The synced log entries, contiguous, starting at `snapshot.index + 1` (or 1).
    pub entries: Vec<Entry>,
}

/// What a member currently is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks for pre-votes at `term + 1` without changing its term (Raft thesis §9.6).
    PreCandidate,
    /// Has started an election in its current term and asks for votes.
    Candidate,
    /// Leads its term: accepts proposals and replicates them.
    Leader,
}

/// A proposal or read was made on a member that is not the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not the leader (leader is {})", match leader { Some(l) => l.to_string(), None => "unknown".into() })]
pub struct NotLeader {
    /// The leader this member knows of, if any, so the caller can redirect.
    pub leader: Option<PeerId>,
}
