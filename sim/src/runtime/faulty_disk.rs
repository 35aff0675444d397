//! [`FaultyDisk`]: [`SimDisk`] with the storage faults a scenario asks for, injected at
//! the moments the runner chooses.
//!
//! The runner arms a fault on a host's [`DiskFaults`] (shared with the host, which runs on
//! the same thread); the disk carries it out at the host's next matching call, and notes
//! what it did for the runner to trace and to judge the node's reaction by:
//!
//! - an I/O error: one of the next few writes (`create_dir` .. `sync_dir`, `append`,
//!   `sync`, `truncate`) fails with `EIO` and changes nothing;
//! - a torn write: the power fails during the next append. A random prefix of its bytes
//!   reaches the disk (synced, as if the disk had written them before it lost power),
//!   the rest of its length zero-filled or not, and every later call fails until the
//!   runner crashes the host. A power loss at another call that changes the disk (a
//!   rename, a truncation, ...; not a sync) just fails it;
//! - a corrupted read: at this boot, reading the Raft log or snapshot back returns it with
//!   one byte changed (a damaged sector: the bytes had been synced whole), anywhere but in
//!   a torn tail a power loss left that no boot since has truncated, replaced or synced
//!   (a boot that only reads the file leaves the tear's bytes where they were; of two
//!   tears in one file the earlier counts), and never to a
//!   zero as the file's last byte (that is what a torn write leaves).
//!
//! Randomness comes only from the host's own generator, seeded from (run seed, host,
//! boot), and is drawn only while a fault is armed: with no faults armed this is
//! [`SimDisk`] exactly.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use node::io::{Disk, LogFile, Rng};

use super::disk::{SimDisk, SimLog};
use crate::runner::seeds;

/// Files whose corruption a node must detect when it reads them back at start.
const CHECKED_FILES: [&str; 2] = ["raft-snapshot", "raft-log"];

/// Whether `path` is the node's catching-up marker (`node::group::CATCHING_UP_FILE`).
fn is_marker(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()) == Some(node::group::CATCHING_UP_FILE)
}

/// What a disk did to its host, for the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injected {
    /// A call failed with an I/O error.
    IoError {
        /// The call: `append`, `sync`, `rename`, ...
        call: &'static str,
        /// The file or directory it was for.
        path: PathBuf,
    },
    /// The power failed during an append.
    Torn {
        /// The file.
        path: PathBuf,
        /// Where the append started: the file's synced length.
        offset: u64,
        /// Bytes of the append that reached the disk.
        kept: usize,
        /// Bytes the append had.
        of: usize,
        /// Whether the rest of the append's length was filled with zeros.
        zero_filled: bool,
    },
    /// The power failed at another call, before it did anything.
    PowerLost {
        /// The call.
        call: &'static str,
    },
    /// A file was read back with one byte changed.
    Flipped {
        /// The file.
        path: PathBuf,
        /// The byte's offset.
        at: usize,
        /// The file's length.
        len: usize,
        /// The byte on disk.
        was: u8,
        /// The byte read back.
        now: u8,
    },
}

/// One host's armed faults and what its disk did; shared between the host and the runner.
#[derive(Debug)]
pub struct DiskFaults {
    seed: u64,
    host: String,
    rng: Rng,
    /// Fail the n-th next write (1: the very next).
    fail_in: Option<u32>,
    /// The power fails at the next write.
    tear: bool,
    /// Corrupt a checked file at the next boot (armed before the boot starts).
    corrupt_next_boot: bool,
    /// Corrupt a checked file read during this boot.
    corrupt: bool,
    /// Erase the whole disk before the next boot (armed before the boot starts).
    wipe_next_boot: bool,
    /// The disk was erased at least once: the node starts with `--replaced-disk` from
    /// then on, as an operator who replaced a machine would start it.
    replaced: bool,
    /// The node's disk says it is catching up on a replaced disk (the marker file
    /// `node::group::CATCHING_UP_FILE` is non-empty, or the disk is about to be erased):
    /// it does not hold a full copy of its group's log.
    catching_up: bool,
    /// The power failed: every call fails until the host is crashed and booted again.
    powered_off: bool,
    /// Everything injected since the host last booted.
    this_boot: Vec<Injected>,
    /// The files a power loss tore an append of, and where the tear's bytes start: they
    /// are not synced data, so a corruption spares them, until the file is truncated
    /// there, created anew, replaced or synced. Kept across boots: a boot that crashed
    /// before it wrote the file left the tear's bytes on disk (explore found a run, seed
    /// 1280, that damaged them two boots after the tear and blamed the node for not
    /// noticing).
    torn_tails: BTreeMap<PathBuf, u64>,
    /// Injected but not yet taken by the runner.
    news: Vec<Injected>,
    /// The node refused to start on this disk: the host runs no node any more.
    retired: bool,
    /// Mean latency of a log sync through `sync_async`, if any (`[storage]
    /// fsync_latency`).
    fsync_latency: Option<Duration>,
    /// Draws the sync latencies: a stream of its own, so turning latency on does not
    /// move the other faults' draws.
    latency_rng: Rng,
}

impl DiskFaults {
    /// A host's disk with nothing armed.
    pub fn new(seed: u64, host: &str) -> Self {
        DiskFaults {
            seed,
            host: host.to_owned(),
            rng: Rng::from_seed(seeds::derive(seed, &format!("faults/storage/{host}"), 0)),
            fail_in: None,
            tear: false,
            corrupt_next_boot: false,
            corrupt: false,
            wipe_next_boot: false,
            replaced: false,
            catching_up: false,
            powered_off: false,
            this_boot: Vec::new(),
            torn_tails: BTreeMap::new(),
            news: Vec::new(),
            retired: false,
            fsync_latency: None,
            latency_rng: Rng::from_seed(seeds::derive(seed, &format!("disk/latency/{host}"), 0)),
        }
    }

    /// Every log sync through `sync_async` takes about `mean` of simulated time.
    pub fn set_fsync_latency(&mut self, mean: Option<Duration>) {
        self.fsync_latency = mean.filter(|m| !m.is_zero());
    }

    /// The time the next log sync takes: uniform in [mean/2, 3·mean/2).
    fn next_sync_latency(&mut self) -> Option<Duration> {
        let mean = self.fsync_latency?;
        let half = (mean.as_nanos() / 2) as u64;
        Some(Duration::from_nanos(
            half + self.latency_rng.range(0, 2 * half.max(1)),
        ))
    }

    /// The host boots for the `boot`-th time: the power is back, faults armed for the
    /// last boot are dropped, and a corruption armed for this one takes effect.
    pub fn new_boot(&mut self, boot: u64) {
        let label = format!("faults/storage/{}", self.host);
        self.rng = Rng::from_seed(seeds::derive(self.seed, &label, boot));
        self.fail_in = None;
        self.tear = false;
        self.powered_off = false;
        self.corrupt = std::mem::take(&mut self.corrupt_next_boot);
        for injected in &self.this_boot {
            if let Injected::Torn { path, offset, .. } = injected {
                // An earlier tear still on disk stays unsynced: a later tear further on
                // does not make it synced (explore seed 1859 of audit-waits-for-a-member-
                // re-electing-on-slow-disks: a record torn before its end byte, whose end
                // byte the next boot's write tore again, was damaged and blamed on the
                // node).
                let start = self.torn_tails.entry(path.clone()).or_insert(*offset);
                *start = (*start).min(*offset);
            }
        }
        self.this_boot.clear();
    }

    /// One of the next three writes fails with an I/O error.
    pub fn arm_io_error(&mut self) {
        self.fail_in = Some(self.rng.range(1, 4) as u32);
    }

    /// Drops an I/O error armed and not yet hit.
    pub fn disarm_io_error(&mut self) {
        self.fail_in = None;
    }

    /// The power fails during the next write.
    pub fn arm_tear(&mut self) {
        self.tear = true;
    }

    /// Disarms a tear that has not happened.
    pub fn disarm_tear(&mut self) {
        self.tear = false;
    }

    /// At the next boot, reading the Raft log or snapshot returns one byte changed.
    pub fn arm_corruption(&mut self) {
        self.corrupt_next_boot = true;
    }

    /// Whether the node is down for good or about to be: a corrupted read armed for the
    /// next boot or this one, or a refusal to start on this disk.
    pub fn lost_for_good(&self) -> bool {
        self.corrupt_next_boot || self.corrupt || self.retired
    }

    /// Erases the disk before the next boot: the machine is replaced, so nothing it
    /// kept (torn bytes, a refusal to start on corrupted storage) carries over.
    pub fn arm_wipe(&mut self) {
        self.wipe_next_boot = true;
        self.replaced = true;
        self.catching_up = true;
        self.corrupt_next_boot = false;
        self.torn_tails.clear();
        self.retired = false;
    }

    /// Whether this boot must start by erasing the disk; true once per [`arm_wipe`].
    ///
    /// [`arm_wipe`]: DiskFaults::arm_wipe
    pub fn take_wipe(&mut self) -> bool {
        std::mem::take(&mut self.wipe_next_boot)
    }

    /// Whether the disk was ever erased (the node is started as on a replaced disk).
    pub fn replaced(&self) -> bool {
        self.replaced
    }

    /// Whether the node is catching up on a replaced disk (its copy of the log may lack
    /// committed entries): as its marker file last read or written says.
    pub fn catching_up(&self) -> bool {
        self.catching_up
    }

    /// Notes what the node read from or wrote to `path`, if it is the catching-up marker.
    fn watch_marker(&mut self, path: &Path, contents: Option<&[u8]>) {
        if is_marker(path) {
            self.catching_up = contents.is_some_and(|b| !b.is_empty());
        }
    }

    /// From now on the host boots without its node (it refused to start on this disk).
    pub fn retire(&mut self) {
        self.retired = true;
    }

    /// Whether the host boots without its node.
    pub fn retired(&self) -> bool {
        self.retired
    }

    /// What was injected since the last call.
    pub fn take_news(&mut self) -> Vec<Injected> {
        std::mem::take(&mut self.news)
    }

    /// Everything injected since the host last booted.
    pub fn this_boot(&self) -> &[Injected] {
        &self.this_boot
    }

    fn note(&mut self, injected: Injected) {
        self.this_boot.push(injected.clone());
        self.news.push(injected);
    }

    /// Before a write: whether it fails, and how.
    fn gate(&mut self, call: &'static str, path: &Path) -> io::Result<()> {
        if self.powered_off {
            return Err(power_lost());
        }
        // An armed power loss waits for a call that changes the disk: the node syncs its
        // log after every batch of Raft output, most of them with nothing to write.
        if self.tear && call != "sync" {
            self.tear = false;
            self.powered_off = true;
            self.note(Injected::PowerLost { call });
            return Err(power_lost());
        }
        match self.fail_in {
            Some(n) if n <= 1 => {
                self.fail_in = None;
                self.note(Injected::IoError {
                    call,
                    path: path.to_path_buf(),
                });
                Err(io::Error::from_raw_os_error(5))
            }
            Some(n) => {
                self.fail_in = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// `path`'s bytes from `from` on were just rewritten (truncated away, or the file
    /// created or replaced) or made durable (a sync, from 0): a tear there is gone.
    fn rewrote(&mut self, path: &Path, from: u64) {
        if self.torn_tails.get(path).is_some_and(|torn| from <= *torn) {
            self.torn_tails.remove(path);
        }
    }

    /// The bytes a read returns: as on disk, or with one byte changed when a corruption
    /// is armed for this file.
    fn read_back(&mut self, path: &Path, mut bytes: Vec<u8>) -> Vec<u8> {
        let checked = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| CHECKED_FILES.iter().position(|c| *c == n));
        let Some(which) = checked else {
            return bytes;
        };
        if !self.corrupt || bytes.is_empty() {
            return bytes;
        }
        // The snapshot is read first: it takes the hit half the time, the log otherwise.
        if which < CHECKED_FILES.len() - 1 && self.rng.range(0, 2) == 0 {
            return bytes;
        }
        let synced = match self.torn_tails.get(path) {
            Some(offset) => (*offset as usize).min(bytes.len()),
            None => bytes.len(),
        };
        if synced == 0 {
            return bytes;
        }
        self.corrupt = false;
        let at = self.rng.range(0, synced as u64) as usize;
        let was = bytes[at];
        let mut xor = self.rng.range(1, 256) as u8;
        if at == bytes.len() - 1 && was == xor {
            // A file ending in a zero it did not have is what a power loss leaves when
            // the end of the last write never reached the disk; no format can tell that
            // from damage, so it is not the damage modelled here.
            xor ^= 0x80;
        }
        bytes[at] ^= xor;
        self.note(Injected::Flipped {
            path: path.to_path_buf(),
            at,
            len: bytes.len(),
            was,
            now: bytes[at],
        });
        bytes
    }
}

fn power_lost() -> io::Error {
    io::Error::other("the disk lost power")
}

/// [`SimDisk`] with the faults armed on its host's [`DiskFaults`].
#[derive(Clone)]
pub struct FaultyDisk {
    faults: Rc<RefCell<DiskFaults>>,
}

impl FaultyDisk {
    /// The disk of the host whose faults are `faults`.
    pub fn new(faults: Rc<RefCell<DiskFaults>>) -> Self {
        FaultyDisk { faults }
    }

    fn gate(&self, call: &'static str, path: &Path) -> io::Result<()> {
        self.faults.borrow_mut().gate(call, path)
    }
}

/// A [`SimLog`] with its disk's faults.
pub struct FaultyLog {
    inner: SimLog,
    path: PathBuf,
    faults: Rc<RefCell<DiskFaults>>,
}

impl Disk for FaultyDisk {
    type Log = FaultyLog;

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        self.gate("create_dir", dir)?;
        SimDisk.create_dir(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        if self.faults.borrow().powered_off {
            return Err(power_lost());
        }
        SimDisk.exists(path)
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        if self.faults.borrow().powered_off {
            return Err(power_lost());
        }
        let bytes = SimDisk.read(path)?;
        self.faults
            .borrow_mut()
            .watch_marker(path, bytes.as_deref());
        Ok(bytes.map(|b| self.faults.borrow_mut().read_back(path, b)))
    }

    fn create_file(&self, path: &Path) -> io::Result<FaultyLog> {
        self.gate("create_file", path)?;
        let inner = SimDisk.create_file(path)?;
        self.faults.borrow_mut().rewrote(path, 0);
        Ok(self.log(inner, path))
    }

    fn open_append(&self, path: &Path) -> io::Result<FaultyLog> {
        self.gate("open_append", path)?;
        let inner = SimDisk.open_append(path)?;
        Ok(self.log(inner, path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.gate("rename", from)?;
        SimDisk.rename(from, to)?;
        self.faults.borrow_mut().rewrote(to, 0);
        if is_marker(to) {
            let marker = SimDisk.read(to)?;
            self.faults.borrow_mut().watch_marker(to, marker.as_deref());
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.gate("sync_dir", dir)?;
        SimDisk.sync_dir(dir)
    }
}

impl FaultyDisk {
    fn log(&self, inner: SimLog, path: &Path) -> FaultyLog {
        FaultyLog {
            inner,
            path: path.to_path_buf(),
            faults: self.faults.clone(),
        }
    }
}

impl LogFile for FaultyLog {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let tear = {
            let mut f = self.faults.borrow_mut();
            if f.tear && !f.powered_off {
                f.tear = false;
                f.powered_off = true;
                let kept = f.rng.range(0, bytes.len() as u64 + 1) as usize;
                let zero_filled = kept < bytes.len() && f.rng.range(0, 2) == 0;
                f.note(Injected::Torn {
                    path: self.path.clone(),
                    offset: self.inner.len()?,
                    kept,
                    of: bytes.len(),
                    zero_filled,
                });
                Some((kept, zero_filled))
            } else {
                None
            }
        };
        if let Some((kept, zero_filled)) = tear {
            // What reached the platter before the power went: durable, and no more.
            self.inner.append(&bytes[..kept])?;
            if zero_filled {
                self.inner.append(&vec![0; bytes.len() - kept])?;
            }
            self.inner.sync()?;
            return Err(power_lost());
        }
        self.faults.borrow_mut().gate("append", &self.path)?;
        self.inner.append(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.faults.borrow_mut().gate("sync", &self.path)?;
        self.inner.sync()?;
        // Whatever a tear left in this file, the node kept or rewrote it and has now
        // synced it: from here on it is synced data, which a corruption may hit.
        self.faults.borrow_mut().rewrote(&self.path, 0);
        Ok(())
    }

    /// Takes the scenario's fsync latency in simulated time first (none by default), so
    /// a crash meanwhile loses what was not synced and inputs queue up as on a real disk.
    fn sync_async(&mut self) -> impl std::future::Future<Output = io::Result<()>> {
        let latency = self.faults.borrow_mut().next_sync_latency();
        async move {
            if let Some(latency) = latency {
                tokio::time::sleep(latency).await;
            }
            self.sync()
        }
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.faults.borrow_mut().gate("truncate", &self.path)?;
        self.inner.truncate(len)?;
        self.faults.borrow_mut().rewrote(&self.path, len);
        Ok(())
    }
}
