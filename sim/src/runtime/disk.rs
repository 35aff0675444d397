//! [`Disk`] over turmoil's simulated file system (`unstable-fs`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use node::io::{Disk, LogFile};
use turmoil::fs::shim::std::fs as simfs;

/// The current host's simulated disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimDisk;

/// An append-only simulated file.
pub struct SimLog(simfs::File);

fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

impl Disk for SimDisk {
    type Log = SimLog;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        simfs::create_dir_all(dir)?;
        // Every level's entry must be synced in its parent to survive a power loss.
        let mut p = dir;
        while let Some(parent) = p.parent() {
            simfs::sync_dir(parent)?;
            p = parent;
        }
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match simfs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn open_log(&self, path: &Path) -> io::Result<SimLog> {
        let existed = simfs::exists(path);
        let file = simfs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        if !existed {
            file.sync_all()?;
            simfs::sync_dir(parent_of(path))?;
        }
        Ok(SimLog(file))
    }

    fn replace(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let mut aside = path.as_os_str().to_owned();
        aside.push(".tmp");
        let aside = PathBuf::from(aside);
        let mut file = simfs::File::create(&aside)?;
        file.write_all(contents)?;
        file.sync_all()?;
        simfs::rename(&aside, path)?;
        simfs::sync_dir(parent_of(path))
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
