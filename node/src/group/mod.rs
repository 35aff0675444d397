//! A replica group's state and the one place it changes.
//!
//! [`GroupHandle::propose`] is the only way to change a group: the command goes through
//! the group's Raft log (synced on a majority) and is applied on every member in log
//! order. A group of one runs the same Raft with a single member. Reads look at the
//! applied state through [`GroupHandle::with_state`], after
//! [`GroupHandle::read_barrier`] when they must be linearizable.
//!
//! - `state`: the deterministic state machine ([`GroupState::apply`]).
//! - `command`: [`GroupCommand`], the unit the log carries.
//! - `replica`: the task that drives the Raft core and carries out its output.
//! - `transport`: peer connections between members.
//! - `raft_store`: hard state, log and snapshot on disk.
//! - `session`: [`Session`], a client's last write, to answer its resends.
//! - `snapshot`: the stored form of a whole [`GroupState`].

mod command;
mod raft_store;
mod replica;
mod session;
mod snapshot;
mod state;
mod transport;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use protocol::ecs::HostPort;
use protocol::peer::{LogIndex, PeerId};
use protocol::Limits;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};

pub use command::GroupCommand;
pub use raft_store::{Opened, RaftStore, CATCHING_UP_FILE};
pub use replica::Leadership;
pub use session::{Session, SessionAnswer, SessionTable, MAX_SESSIONS};
pub use state::{retry_message, GroupState, Outcome, Route, Transfer};
pub use transport::PeerPort;

use crate::codec::Corrupt;
use crate::io::{Disk, Network, Rng};
use crate::raft::RaftConfig;
use replica::{Replica, Request};
use transport::Transport;

/// Why a group could not be opened, or a command not replicated.
#[derive(Debug, Error)]
pub enum GroupError {
    /// The disk failed.
    #[error("storage error: {0}")]
    Io(#[from] io::Error),
    /// Stored data does not decode.
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    /// The replica has stopped (after a storage failure).
    #[error("group stopped after a storage failure")]
    Stopped,
    /// This member does not lead the group; the leader it knows of, if any.
    #[error("not the group's leader")]
    NotLeader(Option<PeerId>),
    /// Leadership changed before the command was known to be applied: it may or may not
    /// take effect.
    #[error("leadership changed; the command may or may not have been applied")]
    Unknown,
}

/// How a member of a replica group runs.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// The Raft configuration (this member's id and every member's).
    pub raft: RaftConfig,
    /// Peer-protocol addresses of the other members.
    pub peer_addrs: BTreeMap<PeerId, String>,
    /// This member's own peer-protocol address as the member list gives it (what the
    /// others dial; the peer handshake's proofs name it). Empty in a group of one.
    pub own_peer_addr: String,
    /// Length of one Raft tick.
    pub tick: Duration,
    /// Bounds on peer frames.
    pub limits: Limits,
    /// Snapshot the state and compact the Raft log once the log file reaches this many
    /// bytes (and twice its size after the last compaction).
    pub compact_log_bytes: u64,
}

impl GroupSpec {
    /// Length of one Raft tick.
    pub const TICK: Duration = Duration::from_millis(10);
    /// Election timeout range in ticks (0.5 s to 1 s). Fine-grained, so two followers
    /// rarely time out on the same tick and split the vote.
    pub const ELECTION_TICKS: (u32, u32) = (50, 100);
    /// Heartbeat interval in ticks (100 ms).
    pub const HEARTBEAT_TICKS: u32 = 10;
    /// Default log size that triggers a snapshot.
    pub const COMPACT_LOG_BYTES: u64 = 4 * 1024 * 1024;

    /// Member `me` of a group whose members are `0..size`, with the other members' peer
    /// addresses; the timings above.
    pub fn member(me: PeerId, size: u32, peer_addrs: BTreeMap<PeerId, String>) -> Self {
        let mut raft = RaftConfig::new(me, (0..size).map(PeerId).collect());
        raft.election_ticks = Self::ELECTION_TICKS;
        raft.heartbeat_ticks = Self::HEARTBEAT_TICKS;
        GroupSpec {
            raft,
            peer_addrs,
            own_peer_addr: String::new(),
            tick: Self::TICK,
            limits: Limits::DEFAULT,
            compact_log_bytes: Self::COMPACT_LOG_BYTES,
        }
    }

    /// A group of one: this member alone.
    pub fn single() -> Self {
        GroupSpec::member(PeerId(0), 1, BTreeMap::new())
    }
}

/// A cheap, clonable handle to a running replica.
#[derive(Clone)]
pub struct GroupHandle {
    requests: mpsc::UnboundedSender<Request>,
    state: Rc<RefCell<GroupState>>,
    leadership: watch::Receiver<Leadership>,
    stopped: Rc<Cell<bool>>,
    failure: watch::Receiver<Option<Arc<GroupError>>>,
}

impl GroupHandle {
    /// Opens this member's storage in `dir`, recovers its state, and starts its replica
    /// (and, for groups of more than one, its peer transport on `peer_port`).
    pub fn start<N: Network, D: Disk>(
        net: N,
        disk: D,
        dir: &Path,
        own: HostPort,
        spec: GroupSpec,
        peer_port: Option<PeerPort<N::Listener>>,
        rng: Rng,
    ) -> Result<GroupHandle, GroupError> {
        let (store, raft, snapshot) =
            RaftStore::open(disk, dir)?.start_raft(spec.raft.clone(), rng)?;
        let (state, applied) = match snapshot {
            Some((meta, bytes)) => (snapshot::decode(own, &bytes)?.0, meta.index),
            None => (GroupState::new(own), LogIndex(0)),
        };
        let (inbox_tx, inbox_rx) = mpsc::unbounded_channel();
        let transport = match peer_port {
            Some(port) => Transport::start(
                net,
                spec.raft.id,
                spec.peer_addrs.clone(),
                port,
                inbox_tx,
                spec.limits,
                transport::stall_timeout(spec.tick, spec.raft.election_ticks),
            ),
            None => Transport::none(),
        };
        let state = Rc::new(RefCell::new(state));
        let stopped = Rc::new(Cell::new(false));
        let (lead_tx, lead_rx) = watch::channel(Leadership {
            leader: None,
            is_me: false,
            term: raft.term(),
        });
        let (failure_tx, failure) = watch::channel(None);
        let shared = replica::Shared {
            state: state.clone(),
            leadership: lead_tx,
            stopped: stopped.clone(),
            failure: failure_tx,
        };
        let replica = Replica::new(
            raft,
            store,
            applied,
            transport,
            shared,
            spec.compact_log_bytes,
        );
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::task::spawn_local(replica.run(rx, inbox_rx, spec.tick));
        Ok(GroupHandle {
            requests: tx,
            state,
            leadership: lead_rx,
            stopped,
            failure,
        })
    }

    /// Replicates `command` through the group's log and returns what applying it gave.
    pub async fn propose(&self, command: GroupCommand) -> Result<Outcome, GroupError> {
        if self.stopped.get() {
            return Err(GroupError::Stopped);
        }
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Propose(command, tx))
            .map_err(|_| GroupError::Stopped)?;
        rx.await.map_err(|_| GroupError::Stopped)?
    }

    /// Returns once a read of the applied state is linearizable: this member leads the
    /// group, a majority confirmed it, and the state includes every committed command.
    pub async fn read_barrier(&self) -> Result<(), GroupError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::ReadBarrier(tx))
            .map_err(|_| GroupError::Stopped)?;
        rx.await.map_err(|_| GroupError::Stopped)?
    }

    /// Waits until the replica stops after a storage failure, and returns that failure.
    /// Never returns if the replica ends otherwise (every handle dropped).
    pub async fn failed(&self) -> Arc<GroupError> {
        let mut failure = self.failure.clone();
        loop {
            if let Some(e) = failure.borrow_and_update().clone() {
                return e;
            }
            if failure.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Runs `f` on the applied state. Never hold on to what it borrows across an await.
    pub fn with_state<T>(&self, f: impl FnOnce(&GroupState) -> T) -> T {
        f(&self.state.borrow())
    }

    /// Who leads the group now, as this member sees it.
    pub fn leadership(&self) -> Leadership {
        *self.leadership.borrow()
    }

    /// A receiver that sees every change of leadership.
    pub fn watch_leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }
}

/// Reads the state a group member's storage holds, applying every logged command: a tool
/// for tests and inspection of stopped single-member groups (whose whole log is
/// committed).
pub fn inspect<D: Disk>(disk: D, dir: &Path, own: HostPort) -> Result<GroupState, GroupError> {
    let opened = RaftStore::open(disk, dir)?;
    let mut state = match &opened.snapshot_state {
        Some(bytes) => snapshot::decode(own, bytes)?.0,
        None => GroupState::new(own),
    };
    for entry in &opened.recovered.entries {
        if !entry.data.is_empty() {
            state.apply(&GroupCommand::decode(&entry.data)?);
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests;
