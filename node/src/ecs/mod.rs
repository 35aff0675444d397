//! The ECS (external configuration service): keeps the ring and admits groups one at a
//! time with the join protocol of `ecs-protocol.md`.
//!
//! - [`state`]: what the ECS knows and its stored form.
//! - `service`: the admin port, where groups `register` and report `done`: feeds them to
//!   the join machine and answers what it says.
//! - `driver`: the task that carries out the join machine's steps (sends, waits, the
//!   deadline) and feeds back what happened.
//!
//! Every decision of a join is the sans-I/O [`crate::join::Coordinator`]'s; this module
//! only does its I/O. The state is persisted after every step, so an ECS that restarts
//! mid-join resumes at the step it was on; every step is idempotent at the node that
//! receives it.

mod driver;
mod progress;
mod service;
pub mod state;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::admin_link::{AdminLink, LinkTiming};
use crate::auth::{self, Gate, Secret};
use crate::io::accept::accept_forever;
use crate::io::{Disk, Network, Rng};
use crate::join::coordinator::{Input, Output};
use crate::join::{Coordinator, JoinStep};
use progress::ProgressLog;
use state::{EcsState, StateFileError};

/// Everything the ECS needs to know at start.
#[derive(Debug, Clone)]
pub struct EcsConfig {
    /// Address the admin listener binds.
    pub bind: String,
    /// Where the ECS keeps its state file.
    pub data_dir: PathBuf,
    /// Longest line accepted.
    pub max_line_len: usize,
    /// Timeouts and pauses for requests to groups.
    pub timing: LinkTiming,
    /// How long to wait for `done` before resending `transfer_range`.
    pub transfer_timeout: Duration,
    /// How long a join may go without headway before the ECS abandons it (unlocks the
    /// predecessor, which keeps its range, and moves on). Counted from when this ECS
    /// process began (or resumed) the join's current step, or from the last headway its
    /// hand-off reported (`progress`), whichever is later; a join that has announced the
    /// new ring is never abandoned.
    pub join_deadline: Duration,
    /// The cluster secret: with it, every connection to the ECS's port must authenticate,
    /// and so does every connection the ECS opens ([`crate::auth`]). Without it the port
    /// is open, as in the seed protocol, and may only bind a loopback address.
    pub secret: Option<Secret>,
}

impl EcsConfig {
    /// A config with defaults for everything but the bind address and data directory.
    pub fn new(bind: String, data_dir: PathBuf) -> Self {
        EcsConfig {
            bind,
            data_dir,
            max_line_len: protocol::ecs::DEFAULT_MAX_LINE_LEN,
            timing: LinkTiming::default(),
            transfer_timeout: Duration::from_secs(30),
            join_deadline: Duration::from_secs(300),
            secret: None,
        }
    }
}

impl EcsConfig {
    /// The ECS's state file.
    fn state_path(&self) -> PathBuf {
        self.data_dir.join("ecs-state")
    }
}

/// Why the ECS stopped.
#[derive(Debug, Error)]
pub enum EcsError {
    /// The disk failed.
    #[error("ECS storage in {dir}: {source}")]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The state file does not parse.
    #[error(transparent)]
    StateFile(#[from] StateFileError),
    /// The port would accept control lines from other machines without a secret.
    #[error(
        "refusing to bind the ECS port to {addr} without a cluster secret: anyone who \
         reaches it could register groups or end joins; give --secret-file, or bind a \
         loopback address"
    )]
    OpenPort {
        /// The bind address.
        addr: String,
    },
    /// The ECS port could not be bound.
    #[error("ECS port {addr}: {source}")]
    Listen {
        /// The bind address.
        addr: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// State shared by the ECS's tasks.
pub(crate) struct Ecs<N: Network, D: Disk> {
    pub(crate) config: EcsConfig,
    pub(crate) net: N,
    disk: D,
    /// The join machine, which owns the state.
    machine: RefCell<Coordinator>,
    /// Wakes the driver: a group registered, or `done` arrived.
    pub(crate) wake: Notify,
    /// An operator asked to abandon the join in progress (`abort_join`).
    pub(crate) abort: Notify,
    /// Who may speak on the port.
    pub(crate) gate: Gate,
    /// Nonces of the connections the ECS opens (each link gets a fork).
    link_nonces: RefCell<Rng>,
    /// The join in progress, its step, and since when it is at that step (tokio's clock),
    /// for `status`.
    step_since: RefCell<Option<(u64, JoinStep, Instant)>>,
    /// What the sender of the join in progress said of its hand-off.
    progress: RefCell<ProgressLog>,
}

impl<N: Network, D: Disk> Ecs<N, D> {
    /// Records when the join in progress reached its current step (called by the driver
    /// after every change it carries out).
    pub(crate) fn note_step(&self) {
        let machine = self.machine.borrow();
        let state = machine.state();
        let step = state.removal.as_ref().map(|r| r.step);
        let now = step
            .or(state.join.as_ref().map(|j| j.step))
            .map(|step| (state.joins, step));
        let mut since = self.step_since.borrow_mut();
        if since.map(|(join, step, _)| (join, step)) != now {
            *since = now.map(|(join, step)| (join, step, Instant::now()));
        }
    }

    /// The answer to `status`: the admitted groups, the queue, and the join (or removal)
    /// in progress with its step and how long it has been at it, as one JSON object.
    pub(crate) fn status_json(&self) -> String {
        let machine = self.machine.borrow();
        let state = machine.state();
        let since = *self.step_since.borrow();
        let hand_off = self.progress.borrow().parts(state.joins);
        let join = state.join.as_ref().map(|j| {
            let in_step_ms = since
                .filter(|(join, step, _)| *join == state.joins && *step == j.step)
                .map(|(_, _, at)| at.elapsed().as_millis() as u64);
            serde_json::json!({
                "number": state.joins,
                "newcomer": j.newcomer.ring.to_string(),
                "predecessor": j.predecessor.as_ref().map(|p| p.to_string()),
                "step": j.step.to_string(),
                "in_step_ms": in_step_ms,
                "hand_off_parts": hand_off,
            })
        });
        let removal = state.removal.as_ref().map(|r| {
            let in_step_ms = since
                .filter(|(n, step, _)| *n == state.joins && *step == r.step)
                .map(|(_, _, at)| at.elapsed().as_millis() as u64);
            serde_json::json!({
                "number": state.joins,
                "leaving": r.leaving.to_string(),
                "receiver": r.receiver.to_string(),
                "step": r.step.to_string(),
                "in_step_ms": in_step_ms,
                "hand_off_parts": hand_off,
            })
        });
        serde_json::json!({
            "view_version": state.version,
            "joins_begun": state.joins,
            "nodes": state.nodes.len(),
            "members": state.members.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            "queue": state.queue.iter().map(|r| r.ring.to_string()).collect::<Vec<_>>(),
            "join": join,
            "removal_queue": state.removals.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "removal": removal,
            "removed": state.removed.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// Takes a sending group's `progress` for join `join`: if that join is in progress and
    /// more parts are acknowledged than the last count heard ([`ProgressLog::note`]), its
    /// deadline counts from now.
    pub(crate) fn note_progress(&self, join: u64, acked: u32, total: u32) -> Result<(), String> {
        let machine = self.machine.borrow();
        let state = machine.state();
        if join != state.joins || (state.join.is_none() && state.removal.is_none()) {
            return Err(format!("join {join} is not in progress"));
        }
        if self
            .progress
            .borrow_mut()
            .note(join, acked, total, Instant::now())
        {
            tracing::debug!(
                join,
                acked,
                total,
                "hand-off progress: the join deadline counts from now"
            );
        }
        Ok(())
    }

    /// When the hand-off of join `join` last moved, if it reported any headway.
    pub(crate) fn progress_at(&self, join: u64) -> Option<Instant> {
        self.progress.borrow().moved_at(join)
    }

    /// Feeds the join machine one input.
    pub(crate) fn step(&self, input: Input) -> Vec<Output> {
        self.machine.borrow_mut().step(input)
    }

    /// Whether the join in progress still waits for its predecessor's `done`.
    pub(crate) fn transfer_pending(&self) -> bool {
        self.machine.borrow().transfer_pending()
    }

    /// Writes the state durably.
    pub(crate) fn persist(&self) -> Result<(), std::io::Error> {
        let text = self.machine.borrow().state().to_text();
        self.disk
            .replace(&self.config.state_path(), text.as_bytes())
    }

    pub(crate) fn link(&self) -> AdminLink<N> {
        AdminLink::new(
            self.net.clone(),
            self.config.timing,
            self.config.max_line_len,
            self.config.secret.clone(),
            self.link_nonces.borrow_mut().fork(),
        )
    }
}

/// Runs the ECS until its disk fails (or its driver ends); fails at once if its port cannot
/// be bound, and a failed accept only pauses the port. `rng` is the injected random
/// source; the ECS draws the nonces of its port's handshakes from it.
pub async fn run<N: Network, D: Disk>(
    net: N,
    disk: D,
    mut rng: Rng,
    config: EcsConfig,
) -> Result<(), EcsError> {
    if config.secret.is_none() {
        if !auth::is_loopback_bind(&config.bind) {
            return Err(EcsError::OpenPort {
                addr: config.bind.clone(),
            });
        }
        tracing::warn!(
            bind = %config.bind,
            "no cluster secret: the ECS port takes register, done and abort_join from anyone who reaches it"
        );
    }
    let io_err = |source| EcsError::Io {
        dir: config.data_dir.clone(),
        source,
    };
    disk.create_dir_all(&config.data_dir).map_err(io_err)?;
    let path = config.state_path();
    let state = match disk.read(&path).map_err(io_err)? {
        Some(bytes) => EcsState::from_text(&String::from_utf8_lossy(&bytes))?,
        None => EcsState::default(),
    };
    tracing::info!(
        members = state.members.len(),
        queued = state.queue.len(),
        joining = state.join.as_ref().map(|j| j.step.name()),
        "ECS starting"
    );
    let listener = net
        .bind(&config.bind)
        .await
        .map_err(|source| EcsError::Listen {
            addr: config.bind.clone(),
            source,
        })?;
    let config_secret = config.secret.clone();
    let ecs = Rc::new(Ecs {
        config,
        net,
        disk,
        machine: RefCell::new(Coordinator::new(state)),
        wake: Notify::new(),
        abort: Notify::new(),
        gate: Gate::new(config_secret, rng.fork(), auth::ECS_TARGET.to_owned()),
        link_nonces: RefCell::new(rng),
        step_since: RefCell::new(None),
        progress: RefCell::new(ProgressLog::default()),
    });
    let driver = tokio::task::spawn_local(driver::drive(ecs.clone()));
    let accept = accept_forever(listener, "ECS", |stream, peer| {
        service::serve(ecs.clone(), stream, peer)
    });
    tokio::select! {
        never = accept => match never {},
        r = driver => match r {
            Ok(Err(e)) => Err(EcsError::Io { dir: ecs.config.data_dir.clone(), source: e }),
            _ => Ok(()),
        },
    }
}
