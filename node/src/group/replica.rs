//! The replica task: one member's Raft core, its storage, its peer transport and the
//! group state it applies, driven by proposals, peer messages and ticks.
//!
//! Every input goes to the Raft core, then its `Ready` is carried out in the documented
//! order: persist (sync), send, apply, serve reads. Proposals are answered when their
//! entry is applied; a proposal whose entry was replaced, or whose leader stepped down
//! before it committed, is answered "outcome unknown" and the client retries (its session
//! tag makes the retry safe).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use protocol::ecs::HostPort;
use protocol::peer::{LogIndex, PeerId, PeerMessage, Term};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::command::GroupCommand;
use super::raft_store::RaftStore;
use super::snapshot;
use super::state::{GroupState, Outcome};
use super::transport::Transport;
use super::GroupError;
use crate::io::Disk;
use crate::raft::{Raft, Role};

/// Inputs taken into one `Ready` at most (see the group commit in [`Replica::run`]).
const MAX_INPUTS_PER_READY: usize = 256;

/// What the rest of the node may ask of the replica.
pub(super) enum Request {
    /// Replicate and apply a command.
    Propose(GroupCommand, oneshot::Sender<Result<Outcome, GroupError>>),
    /// Answer once a read of the applied state would be linearizable.
    ReadBarrier(oneshot::Sender<Result<(), GroupError>>),
}

/// Who leads the group, as this member sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    /// The leader this member knows of.
    pub leader: Option<PeerId>,
    /// Whether this member is that leader.
    pub is_me: bool,
    /// The current term.
    pub term: Term,
}

pub(super) struct Replica<D: Disk> {
    pub(super) raft: Raft,
    pub(super) store: RaftStore<D>,
    pub(super) state: Rc<RefCell<GroupState>>,
    pub(super) applied: LogIndex,
    pub(super) transport: Transport,
    pub(super) leadership: watch::Sender<Leadership>,
    pub(super) stopped: Rc<Cell<bool>>,
    /// The storage failure that stopped the replica, for the node to report.
    pub(super) failure: watch::Sender<Option<Arc<GroupError>>>,
    /// Compact once the Raft log file reaches this size (and twice its size after the
    /// last compaction).
    pub(super) compact_log_bytes: u64,
    /// Proposals waiting for their entry: index -> (term proposed in, answer).
    waiting: BTreeMap<LogIndex, (Term, oneshot::Sender<Result<Outcome, GroupError>>)>,
    /// Read barriers waiting for Raft to confirm leadership: id -> answer.
    reads: BTreeMap<u64, oneshot::Sender<Result<(), GroupError>>>,
    /// Confirmed reads waiting for the state to catch up: (index, answer).
    confirmed: Vec<(LogIndex, oneshot::Sender<Result<(), GroupError>>)>,
    next_read: u64,
}

/// What the replica shares with its handles.
pub(super) struct Shared {
    /// The applied state, read by the node.
    pub(super) state: Rc<RefCell<GroupState>>,
    /// Who leads, watched by the node.
    pub(super) leadership: watch::Sender<Leadership>,
    /// Set once storage failed and the replica stopped.
    pub(super) stopped: Rc<Cell<bool>>,
    /// The storage failure that stopped the replica.
    pub(super) failure: watch::Sender<Option<Arc<GroupError>>>,
}

impl<D: Disk> Replica<D> {
    pub(super) fn new(
        raft: Raft,
        store: RaftStore<D>,
        applied: LogIndex,
        transport: Transport,
        shared: Shared,
        compact_log_bytes: u64,
    ) -> Self {
        Replica {
            compact_log_bytes,
            raft,
            store,
            state: shared.state,
            applied,
            transport,
            leadership: shared.leadership,
            stopped: shared.stopped,
            failure: shared.failure,
            waiting: BTreeMap::new(),
            reads: BTreeMap::new(),
            confirmed: Vec::new(),
            next_read: 0,
        }
    }

    /// Runs until storage fails or every handle is gone.
    pub(super) async fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        mut inbox: mpsc::UnboundedReceiver<(PeerId, PeerMessage)>,
        tick: Duration,
    ) {
        // Ticks fall on a fixed grid, as with an interval, but the task sleeps until the
        // next tick that acts (Raft::ticks_until_due) instead of waking every period: an
        // idle member wakes for its heartbeats only, which is most of the simulator's cost
        // of an idle cluster and needless wake-ups on a real machine.
        let mut clock = TickClock::new(tick);
        let sleep = tokio::time::sleep_until(clock.due(self.raft.ticks_until_due()));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                r = requests.recv() => match r {
                    Some(r) => {
                        clock.catch_up(&mut self.raft);
                        self.handle(r);
                    }
                    None => return,
                },
                Some((from, msg)) = inbox.recv() => {
                    clock.catch_up(&mut self.raft);
                    self.raft.step(from, msg);
                }
                () = &mut sleep => clock.catch_up(&mut self.raft),
            }
            // Group commit: every proposal and peer message already queued goes into the
            // same Ready, so one sync covers them all instead of one sync each. Bounded, so
            // a flood cannot hold back the Ready (and the answers) for ever.
            for _ in 0..MAX_INPUTS_PER_READY {
                if let Ok(r) = requests.try_recv() {
                    self.handle(r);
                } else if let Ok((from, msg)) = inbox.try_recv() {
                    self.raft.step(from, msg);
                } else {
                    break;
                }
            }
            if let Err(e) = self.process_ready(tick).await {
                // A failed sync leaves storage in an unknown state: stop rather than send
                // or acknowledge anything that may not be durable.
                tracing::error!(error = %e, "storage failure; replica stops");
                self.stopped.set(true);
                for (_, (_, tx)) in std::mem::take(&mut self.waiting) {
                    let _ = tx.send(Err(GroupError::Stopped));
                }
                // A failed fsync cannot be retried: the kernel may have dropped the pages
                // it failed to write and report the next fsync clean. Only a restart,
                // reading back what the disk kept, knows what is durable.
                self.failure.send_replace(Some(Arc::new(e)));
                return;
            }
            let due = clock.due(self.raft.ticks_until_due());
            if sleep.deadline() != due {
                sleep.as_mut().reset(due);
            }
        }
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Propose(cmd, tx) => {
                let mut data = BytesMut::new();
                cmd.encode(&mut data);
                match self.raft.propose(data.freeze()) {
                    Ok((index, term)) => {
                        self.waiting.insert(index, (term, tx));
                    }
                    Err(e) => {
                        let _ = tx.send(Err(GroupError::NotLeader(e.leader)));
                    }
                }
            }
            Request::ReadBarrier(tx) => {
                let id = self.next_read;
                self.next_read += 1;
                match self.raft.read_index(id) {
                    Ok(()) => {
                        self.reads.insert(id, tx);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(GroupError::NotLeader(e.leader)));
                    }
                }
            }
        }
    }

    /// Carries out every `Ready` the core has. Awaits the log's sync: inputs arriving
    /// meanwhile queue up and go into the next `Ready` together (group commit), and the
    /// runtime's thread serves sockets and other groups while the disk works.
    ///
    /// Tells the core how long each sync took, in ticks of `tick` (`Raft::observe_sync`).
    async fn process_ready(&mut self, tick: Duration) -> Result<(), GroupError> {
        loop {
            let mut ready = self.raft.ready();
            if ready.is_empty() {
                break;
            }
            // Decoded before anything is persisted: a snapshot the group cannot read stops
            // the replica without storing it.
            let installed = match &ready.snapshot {
                Some((meta, bytes)) => Some((
                    meta.index,
                    snapshot::decode(self.state.borrow().own.clone(), bytes)?.0,
                )),
                None => None,
            };
            // Requests (the leader's replication, vote requests) and answers that promise
            // only what is already durable go out before this member's own sync, so the
            // peers work while it writes; every other answer waits for the sync (see
            // `Ready`).
            for (to, msg) in ready.take_early_messages() {
                self.transport.send(to, msg);
            }
            let syncs = ready.persists();
            let started = Instant::now();
            self.store.persist_async(&self.raft, &ready).await?;
            if syncs {
                let took = started.elapsed().as_nanos() / tick.as_nanos().max(1);
                self.raft
                    .observe_sync(u32::try_from(took).unwrap_or(u32::MAX));
            }
            if let Some((index, state)) = installed {
                *self.state.borrow_mut() = state;
                self.applied = index;
            }
            for (to, msg) in std::mem::take(&mut ready.messages) {
                self.transport.send(to, msg);
            }
            for (index, entry) in ready.committed {
                if index <= self.applied {
                    continue;
                }
                self.applied = index;
                // Empty entries are the no-ops a new leader commits; nothing to apply.
                let outcome = if entry.data.is_empty() {
                    None
                } else {
                    let cmd = GroupCommand::decode(&entry.data)?;
                    let mut state = self.state.borrow_mut();
                    let was_member = state.is_member();
                    let outcome = state.apply(&cmd);
                    if !was_member && state.is_member() {
                        // Once per member, and again after a restart replays the log.
                        tracing::info!(group = %state.own, member = %self.raft.id(), index = index.0, "admitted to the ring: serving its range");
                    }
                    Some(outcome)
                };
                if let Some((term, tx)) = self.waiting.remove(&index) {
                    let answer = match outcome {
                        Some(o) if term == entry.term => Ok(o),
                        _ => Err(GroupError::Unknown),
                    };
                    let _ = tx.send(answer);
                }
            }
            for (id, index) in ready.reads {
                if let Some(tx) = self.reads.remove(&id) {
                    self.confirmed.push((index, tx));
                }
            }
            for id in ready.lost_reads {
                if let Some(tx) = self.reads.remove(&id) {
                    let _ = tx.send(Err(GroupError::NotLeader(self.raft.leader())));
                }
            }
        }
        let applied = self.applied;
        let (ready_now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.confirmed)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.confirmed = later;
        for (_, tx) in ready_now {
            let _ = tx.send(Ok(()));
        }
        self.publish_leadership();
        self.maybe_compact().await?;
        Ok(())
    }

    /// Tells watchers about a change of leader, and fails what a deposed leader promised.
    fn publish_leadership(&mut self) {
        let now = Leadership {
            leader: self.raft.leader(),
            is_me: self.raft.role() == Role::Leader,
            term: self.raft.term(),
        };
        if !now.is_me {
            // Entries this member proposed may still commit under the next leader, but it
            // can no longer tell: the client retries with the same session tag.
            for (_, (_, tx)) in std::mem::take(&mut self.waiting) {
                let _ = tx.send(Err(GroupError::Unknown));
            }
            for (_, tx) in std::mem::take(&mut self.confirmed) {
                let _ = tx.send(Err(GroupError::NotLeader(now.leader)));
            }
        }
        let before = *self.leadership.borrow();
        if before != now {
            log_leadership_change(&self.state.borrow().own, self.raft.id(), before, now);
        }
        self.leadership.send_if_modified(|l| {
            let changed = *l != now;
            *l = now;
            changed
        });
    }

    async fn maybe_compact(&mut self) -> Result<(), GroupError> {
        if !self.store.wants_compaction(self.compact_log_bytes) {
            return Ok(());
        }
        let (applied, state) = (self.applied, &self.state);
        let encode = || snapshot::encode(&state.borrow(), applied.0).freeze();
        if self
            .store
            .compact_async(&mut self.raft, applied, encode)
            .await?
        {
            tracing::debug!(index = applied.0, "compacted the Raft log");
        }
        Ok(())
    }
}

/// A change of leader at the default log level, so an operator following one node's log
/// sees elections without turning on debug output.
fn log_leadership_change(group: &HostPort, me: PeerId, before: Leadership, now: Leadership) {
    let term = now.term.0;
    match (before.is_me, now.is_me, now.leader) {
        (false, true, _) => tracing::info!(%group, member = %me, term, "elected leader"),
        (true, false, Some(leader)) => {
            tracing::info!(%group, member = %me, term, %leader, "lost leadership to another member")
        }
        (true, false, None) => {
            tracing::info!(%group, member = %me, term, "lost leadership; no leader known")
        }
        (false, false, Some(leader)) if before.leader != Some(leader) => {
            tracing::info!(%group, member = %me, term, %leader, "following a new leader")
        }
        (false, false, None) if before.leader.is_some() => {
            tracing::info!(%group, member = %me, term, "leader lost; election under way")
        }
        _ => {}
    }
}

/// The grid of Raft ticks: one every `period` from the replica's start.
struct TickClock {
    period: Duration,
    /// When the next tick falls.
    next: Instant,
}

impl TickClock {
    fn new(period: Duration) -> Self {
        TickClock {
            period,
            next: Instant::now() + period,
        }
    }

    /// The instant of the `n`-th tick from now (`n` at least 1).
    fn due(&self, n: u32) -> Instant {
        self.next + self.period * n.saturating_sub(1)
    }

    /// Gives `raft` every tick whose time has come: the ticks slept through only count,
    /// the last one may act.
    fn catch_up(&mut self, raft: &mut Raft) {
        let now = Instant::now();
        while self.next <= now {
            let acts = raft.ticks_until_due() == 1;
            raft.tick();
            self.next += self.period;
            if acts && self.next <= now {
                // Late past a tick that acts (the task was held up, e.g. by a slow fsync):
                // like an interval that delays missed ticks, restart the grid from now
                // rather than act several times in a burst (a leader would step down on
                // check-quorum before reading the replies waiting in its inbox).
                self.next = now + self.period;
            }
        }
    }
}
