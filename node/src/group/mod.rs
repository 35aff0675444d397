//! A replica group's state and the one place it changes.
//!
//! [`GroupHandle::propose`] is the only way to change a group: the command is logged and
//! synced, then applied, then answered. In this single-node form the log is a local WAL;
//! the Raft issue puts a replicated log behind the same call. Reads look at the applied
//! state through [`GroupHandle::with_state`].

mod command;
mod snapshot;
mod state;

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::{BufMut, BytesMut};
use protocol::ecs::HostPort;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

pub use command::GroupCommand;
pub use state::{retry_message, GroupState, Outcome, Route, Transfer};

use crate::codec::Corrupt;
use crate::io::Disk;
use crate::wal::Wal;

/// Why a group could not be opened or could not log a command.
#[derive(Debug, Error)]
pub enum GroupError {
    /// The disk failed.
    #[error("storage error: {0}")]
    Io(#[from] io::Error),
    /// Stored data does not decode.
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    /// The group's task has stopped (after a storage failure).
    #[error("group stopped after a storage failure")]
    Stopped,
}

/// Compact the log once it is this many bytes and larger than twice the last snapshot.
const COMPACT_MIN_LOG_BYTES: u64 = 4 * 1024 * 1024;
/// Commands logged with one sync at most.
const MAX_BATCH: usize = 256;

/// A group's state, its log and its snapshot file.
pub struct DurableGroup<D: Disk> {
    state: GroupState,
    applied: u64,
    wal: Wal<D>,
    disk: D,
    snapshot_path: PathBuf,
    snapshot_bytes: u64,
}

impl<D: Disk> DurableGroup<D> {
    /// Opens the group stored in `dir` (creating it), replaying snapshot and log.
    pub fn open(disk: D, dir: &Path, own: HostPort) -> Result<Self, GroupError> {
        disk.create_dir_all(dir)?;
        let snapshot_path = dir.join("snapshot");
        let (mut state, mut applied, snapshot_bytes) = match disk.read(&snapshot_path)? {
            Some(bytes) => {
                let (s, a) = snapshot::decode(own.clone(), &bytes)?;
                (s, a, bytes.len() as u64)
            }
            None => (GroupState::new(own.clone()), 0, 0),
        };
        let (wal, recovered) = Wal::open(&disk, &dir.join("wal"))?;
        if recovered.torn_bytes > 0 {
            tracing::warn!(bytes = recovered.torn_bytes, "cut a torn tail off the log");
        }
        for record in recovered.records {
            let mut c = crate::codec::Cursor::new(&record);
            let index = c.u64("log index")?;
            let cmd = GroupCommand::decode(c.rest())?;
            // Records up to the snapshot's index are already in it (a crash can land
            // between writing the snapshot and emptying the log).
            if index > applied {
                state.apply(&cmd);
                applied = index;
            }
        }
        Ok(DurableGroup {
            state,
            applied,
            wal,
            disk,
            snapshot_path,
            snapshot_bytes,
        })
    }

    /// The applied state.
    pub fn state(&self) -> &GroupState {
        &self.state
    }

    /// Index of the last applied command.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Logs `commands` durably, then applies them in order.
    pub fn commit(&mut self, commands: &[GroupCommand]) -> Result<Vec<Outcome>, GroupError> {
        let mut record = BytesMut::new();
        for (i, cmd) in commands.iter().enumerate() {
            record.clear();
            record.put_u64(self.applied + 1 + i as u64);
            cmd.encode(&mut record);
            self.wal.append(&record);
        }
        self.wal.sync()?;
        let outcomes = commands
            .iter()
            .map(|cmd| {
                self.applied += 1;
                self.state.apply(cmd)
            })
            .collect();
        if self.wal.len_bytes() >= COMPACT_MIN_LOG_BYTES.max(2 * self.snapshot_bytes) {
            self.compact()?;
        }
        Ok(outcomes)
    }

    /// Writes the state as a snapshot and empties the log.
    pub fn compact(&mut self) -> Result<(), GroupError> {
        let bytes = snapshot::encode(&self.state, self.applied);
        self.disk.replace(&self.snapshot_path, &bytes)?;
        self.snapshot_bytes = bytes.len() as u64;
        self.wal.reset()?;
        tracing::debug!(
            applied = self.applied,
            bytes = self.snapshot_bytes,
            "compacted log"
        );
        Ok(())
    }
}

type Reply = oneshot::Sender<Result<Outcome, GroupError>>;

/// A cheap, clonable handle to a running group.
pub struct GroupHandle<D: Disk> {
    group: Rc<RefCell<DurableGroup<D>>>,
    proposals: mpsc::UnboundedSender<(GroupCommand, Reply)>,
}

impl<D: Disk> Clone for GroupHandle<D> {
    fn clone(&self) -> Self {
        GroupHandle {
            group: self.group.clone(),
            proposals: self.proposals.clone(),
        }
    }
}

impl<D: Disk> GroupHandle<D> {
    /// Starts the task that logs and applies proposals, on the current `LocalSet`.
    pub fn start(group: DurableGroup<D>) -> Self {
        let group = Rc::new(RefCell::new(group));
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::task::spawn_local(run(group.clone(), rx));
        GroupHandle {
            group,
            proposals: tx,
        }
    }

    /// Logs `command`, applies it, and returns what applying it gave.
    pub async fn propose(&self, command: GroupCommand) -> Result<Outcome, GroupError> {
        let (tx, rx) = oneshot::channel();
        self.proposals
            .send((command, tx))
            .map_err(|_| GroupError::Stopped)?;
        rx.await.map_err(|_| GroupError::Stopped)?
    }

    /// Runs `f` on the applied state. Never hold on to what it borrows across an await.
    pub fn with_state<T>(&self, f: impl FnOnce(&GroupState) -> T) -> T {
        f(self.group.borrow().state())
    }
}

/// The proposal loop: batch what is waiting, log it with one sync, apply, answer.
async fn run<D: Disk>(
    group: Rc<RefCell<DurableGroup<D>>>,
    mut rx: mpsc::UnboundedReceiver<(GroupCommand, Reply)>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let (commands, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let result = group.borrow_mut().commit(&commands);
        match result {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                // A failed sync leaves the log in an unknown state: stop taking writes
                // rather than acknowledge anything that might not be durable.
                tracing::error!(error = %e, "storage failure; group stops accepting changes");
                for reply in replies {
                    let _ = reply.send(Err(GroupError::Stopped));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
