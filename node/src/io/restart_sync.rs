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
//!
//! What it cannot mend: after an fsync that failed (a node stops on one), Linux may have
//! marked the lost pages clean, so this sync succeeds and the next process still reads
//! data that is not on the disk. Restarting a node after a storage error is the operator's
//! call, with the disk checked first.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Makes the data directory `dir` durable: each regular file directly in it (the node and
/// the ECS keep nothing deeper, so a `lost+found` of a mount point is not entered), then
/// `dir` and every directory above it up to the root. The levels above matter too: a
/// process killed inside `create_dir_all`, or a directory made by `cluster` with plain
/// `std::fs`, leaves entries no one synced, and losing one loses the whole data directory
/// (the node would then start empty and vote). When `dir` does not exist yet, the levels
/// of it that do are synced. A symbolic link to the data directory is followed.
///
/// Above `dir`, a level this process may not read or the file system cannot sync is
/// skipped: it cannot have been synced by this process's `create_dir_all` either.
///
/// Returns the paths synced, in order (for tests and the start-up log).
pub fn sync_data_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut synced = Vec::new();
    let deepest = deepest_existing(dir)?;
    let real = fs::canonicalize(deepest).map_err(|e| with_path(e, deepest))?;
    if deepest == dir {
        if !real.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a directory", dir.display()),
            ));
        }
        for file in regular_files(&real)? {
            sync_path(&file, &mut synced)?;
        }
    }
    for (depth, level) in real.ancestors().enumerate() {
        match sync_path(level, &mut synced) {
            Err(e)
                if depth > 0
                    && matches!(
                        e.kind(),
                        io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput
                    ) => {}
            other => other?,
        }
    }
    Ok(synced)
}

/// `dir`, or the deepest of its ancestors that exists (`.` for a relative path at worst).
fn deepest_existing(dir: &Path) -> io::Result<&Path> {
    for level in dir.ancestors() {
        let level = if level.as_os_str().is_empty() {
            Path::new(".")
        } else {
            level
        };
        if level.try_exists().map_err(|e| with_path(e, level))? {
            return Ok(level);
        }
    }
    Ok(Path::new("."))
}

/// The regular files directly in `dir`, in name order (one order for the log and the
/// tests, whatever the file system's).
fn regular_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| with_path(e, dir))? {
        let entry = entry.map_err(|e| with_path(e, dir))?;
        let kind = entry.file_type().map_err(|e| with_path(e, &entry.path()))?;
        if kind.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
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

    /// `path` and every level above it, as `sync_data_dir` syncs them last.
    fn and_above(path: &Path) -> Vec<PathBuf> {
        path.ancestors().map(Path::to_path_buf).collect()
    }

    #[test]
    fn the_files_then_the_directory_and_every_level_above_it_are_synced() {
        let root = tempfile::tempdir().unwrap();
        let data = fs::canonicalize(root.path()).unwrap().join("data");
        fs::create_dir_all(data.join("lost+found")).unwrap();
        fs::write(data.join("raft-snapshot"), b"state").unwrap();
        fs::write(data.join("raft-log"), b"records").unwrap();
        std::os::unix::fs::symlink(data.join("raft-log"), data.join("link")).unwrap();

        let synced = sync_data_dir(&data).unwrap();
        let mut expected = vec![data.join("raft-log"), data.join("raft-snapshot")];
        expected.extend(and_above(&data));
        assert_eq!(synced, expected);
    }

    #[test]
    fn levels_a_killed_create_dir_all_left_are_synced() {
        let root = tempfile::tempdir().unwrap();
        let made = fs::canonicalize(root.path()).unwrap().join("a");
        fs::create_dir(&made).unwrap();
        assert_eq!(
            sync_data_dir(&made.join("b/data")).unwrap(),
            and_above(&made)
        );
    }

    #[test]
    fn a_data_directory_behind_a_symbolic_link_is_synced_where_it_is() {
        let root = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(root.path()).unwrap().join("real");
        fs::create_dir(&real).unwrap();
        fs::write(real.join("ecs-state"), b"ring").unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();

        let mut expected = vec![real.join("ecs-state")];
        expected.extend(and_above(&real));
        assert_eq!(sync_data_dir(&link).unwrap(), expected);
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
