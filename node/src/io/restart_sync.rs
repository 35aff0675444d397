//! [`sync_data_dir`]: the one step a real process takes at start before it trusts what it
//! reads back from its data directory.
//!
//! A process that was killed (the machine still running) leaves the writes it never
//! synced in the kernel's page cache, and the next process reads them back as if they were
//! on disk. A node that then acts on them (answers a leader that it holds these Raft
//! entries, repeats a vote, resumes an ECS step) has promised something a power loss a
//! moment later takes back. PostgreSQL syncs its data directory at crash recovery for the
//! same reason.
//!
//! The simulator has no use for it and never calls it: its only crash is a power loss,
//! after which a disk holds exactly what was synced ([`super::mem`]), so everything a
//! restarted simulated node reads back is durable already.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Makes everything under `dir` durable: every file and directory in it (contents before
/// the directory that names them) and, last, `dir`'s own entry in its parent. A missing
/// `dir` is a first start: nothing to do. Symbolic links and special files are left alone.
///
/// Returns the paths synced, in order (for tests and the start-up log).
pub fn sync_data_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut synced = Vec::new();
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(synced),
        Err(e) => return Err(with_path(e, dir)),
        Ok(meta) if !meta.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a directory", dir.display()),
            ))
        }
        Ok(_) => {}
    }
    sync_under(dir, &mut synced)?;
    // `dir` itself may be new since its parent's last sync (created by a process that
    // was killed before it synced the parent).
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    sync_path(parent, &mut synced)?;
    Ok(synced)
}

/// Syncs the files and directories under `dir`, then `dir`.
fn sync_under(dir: &Path, synced: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries = fs::read_dir(dir)
        .map_err(|e| with_path(e, dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| with_path(e, dir))?;
    // Name order, so the log and the tests see one order whatever the file system's.
    entries.sort();
    for path in entries {
        let kind = fs::symlink_metadata(&path)
            .map_err(|e| with_path(e, &path))?
            .file_type();
        if kind.is_dir() {
            sync_under(&path, synced)?;
        } else if kind.is_file() {
            sync_path(&path, synced)?;
        }
    }
    sync_path(dir, synced)
}

/// fsync of a file or a directory, both opened read-only (Linux syncs either so).
fn sync_path(path: &Path, synced: &mut Vec<PathBuf>) -> io::Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| with_path(e, path))?;
    synced.push(path.to_path_buf());
    Ok(())
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_and_directory_is_synced_before_the_directory_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        fs::create_dir_all(data.join("sub/empty")).unwrap();
        fs::write(data.join("wal"), b"records").unwrap();
        fs::write(data.join("sub/snapshot"), b"state").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(data.join("wal"), data.join("link")).unwrap();

        let synced = sync_data_dir(&data).unwrap();
        let expected: Vec<PathBuf> = [
            "data/sub/empty",
            "data/sub/snapshot",
            "data/sub",
            "data/wal",
            "data",
            "",
        ]
        .iter()
        .map(|p| root.path().join(p))
        .collect();
        assert_eq!(synced, expected);
    }

    #[test]
    fn a_missing_directory_is_a_first_start() {
        let root = tempfile::tempdir().unwrap();
        assert!(sync_data_dir(&root.path().join("never"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_refused_with_its_name() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data");
        fs::write(&path, b"").unwrap();
        let e = sync_data_dir(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("data: not a directory"), "{e}");
    }
}
