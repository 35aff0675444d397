//! [`Disk`] over turmoil's simulated file system (`unstable-fs`).

use std::io::{self, Write};
use std::path::Path;

use node::io::{Disk, LogFile};
use turmoil::fs::shim::std::fs as simfs;

/// The current host's simulated disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimDisk;

/// An append-only simulated file.
pub struct SimLog(simfs::File);

/// Only the primitives: the crash-safety steps (`replace`, `create_dir_all`, `open_log`)
/// are node's own, so the simulator runs the production code.
impl Disk for SimDisk {
    type Log = SimLog;

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        simfs::create_dir(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(simfs::exists(path))
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match simfs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create_file(&self, path: &Path) -> io::Result<SimLog> {
        simfs::File::create(path).map(SimLog)
    }

    fn open_append(&self, path: &Path) -> io::Result<SimLog> {
        simfs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map(SimLog)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        simfs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        simfs::sync_dir(dir)
    }
}

impl SimLog {
    /// The file's length now, synced or not.
    pub(super) fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl LogFile for SimLog {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)?;
        self.0.sync_all()
    }
}
