//! [`MemDisk`]: a [`Disk`] in memory that models what a power loss keeps, for tests.
//!
//! Durability follows the contract documented on [`Disk`], at its most pessimistic: after
//! [`MemDisk::crash`] a file holds exactly the bytes it held at its last
//! [`LogFile::sync`] or [`LogFile::truncate`], and a directory holds exactly the entries
//! (created, renamed, removed files and directories) it held at its last
//! [`Disk::sync_dir`]. So a file created or renamed without a sync of its directory is
//! gone or back under its old name, and an entry whose parent directory was never made
//! durable is unreachable. The root (`/`, or `.` for relative paths) always exists.
//!
//! [`MemDisk::lose_power_after`] cuts power in the middle of whatever the code under test
//! is doing: every primitive call after the given number fails, as it would in a process
//! whose machine just went dark, until the next crash.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{Disk, LogFile};

/// An in-memory [`Disk`] whose clones share one set of files: one per simulated machine.
#[derive(Debug, Clone, Default)]
pub struct MemDisk(Rc<RefCell<State>>);

/// An open file of a [`MemDisk`]. It stops working at the next crash, like every handle
/// of the process that held it.
#[derive(Debug)]
pub struct MemLog {
    state: Rc<RefCell<State>>,
    inode: u64,
    boot: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Dir,
    File(u64),
}

#[derive(Debug, Clone, Default)]
struct Contents {
    /// What reads see.
    now: Vec<u8>,
    /// What survives a crash is `now[..synced]`, unless `before` holds it because the
    /// file was emptied since its last sync. Kept this way so that a sync, which tests do
    /// after every append, costs nothing.
    synced: usize,
    before: Option<Vec<u8>>,
}

impl Contents {
    fn sync(&mut self) {
        self.before = None;
        self.synced = self.now.len();
    }

    fn empty(&mut self) {
        let mut old = std::mem::take(&mut self.now);
        if self.before.is_none() {
            old.truncate(self.synced);
            self.before = Some(old);
        }
    }

    fn crash(&mut self) {
        match self.before.take() {
            Some(before) => self.now = before,
            None => self.now.truncate(self.synced),
        }
        self.synced = self.now.len();
    }
}

#[derive(Debug, Clone, Default)]
struct State {
    /// Every entry of every directory (the root's own entry is implicit), as reads see them.
    names: BTreeMap<PathBuf, Node>,
    /// The entries as of each directory's last sync.
    durable_names: BTreeMap<PathBuf, Node>,
    files: BTreeMap<u64, Contents>,
    next_inode: u64,
    /// Counts crashes, so handles from before one fail.
    boot: u64,
    /// Primitive calls left before power goes out.
    power_left: Option<u64>,
    power_lost: bool,
    /// Log file syncs that went through, for tests that count fsyncs.
    syncs: u64,
}

fn is_root(path: &Path) -> bool {
    matches!(path.to_str(), Some("" | "/" | "."))
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

impl State {
    /// Spends one primitive call of the power budget.
    fn power(&mut self) -> io::Result<()> {
        if !self.power_lost {
            match self.power_left {
                Some(0) => self.power_lost = true,
                Some(n) => self.power_left = Some(n - 1),
                None => {}
            }
        }
        if self.power_lost {
            return Err(io::Error::other("power lost"));
        }
        Ok(())
    }

    fn is_dir(&self, path: &Path) -> bool {
        is_root(path) || self.names.get(path) == Some(&Node::Dir)
    }

    /// Fails unless the directory that would hold `path` exists.
    fn parent_exists(&self, path: &Path) -> io::Result<()> {
        if self.is_dir(parent(path)) {
            Ok(())
        } else {
            Err(not_found(parent(path)))
        }
    }

    /// A new empty file at `path` (its entry not yet durable).
    fn new_file(&mut self, path: &Path) -> u64 {
        let inode = self.next_inode;
        self.next_inode += 1;
        self.files.insert(inode, Contents::default());
        self.names.insert(path.to_path_buf(), Node::File(inode));
        inode
    }

    fn file(&self, path: &Path) -> io::Result<Option<u64>> {
        match self.names.get(path) {
            Some(Node::File(inode)) => Ok(Some(*inode)),
            _ if self.is_dir(path) => Err(io::Error::other(format!(
                "{}: is a directory",
                path.display()
            ))),
            _ => Ok(None),
        }
    }
}

impl MemDisk {
    /// An empty disk (only the root directory).
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    /// Power loss and reboot: every file goes back to its last synced contents and every
    /// directory to its last synced entries; handles opened before fail; power is back
    /// and any [`lose_power_after`](MemDisk::lose_power_after) is cancelled.
    pub fn crash(&self) {
        let mut s = self.0.borrow_mut();
        // Parents sort before their children, so one pass sees each parent first.
        let mut names = BTreeMap::new();
        for (path, node) in &s.durable_names {
            if is_root(parent(path)) || names.get(parent(path)) == Some(&Node::Dir) {
                names.insert(path.clone(), *node);
            }
        }
        let reachable: BTreeSet<u64> = names
            .values()
            .filter_map(|n| match n {
                Node::File(inode) => Some(*inode),
                Node::Dir => None,
            })
            .collect();
        s.files.retain(|inode, _| reachable.contains(inode));
        for contents in s.files.values_mut() {
            contents.crash();
        }
        s.durable_names = names.clone();
        s.names = names;
        s.boot += 1;
        s.power_left = None;
        s.power_lost = false;
    }

    /// What [`crash`](MemDisk::crash) would leave if power went out now, as a separate
    /// disk: a way to look at the durable state without disturbing this one.
    pub fn after_crash(&self) -> MemDisk {
        let copy = MemDisk(Rc::new(RefCell::new(self.0.borrow().clone())));
        copy.crash();
        copy
    }

    /// Power goes out after `calls` more primitive calls (reads and `exists` included):
    /// from then on every call fails, changing nothing, until [`crash`](MemDisk::crash).
    pub fn lose_power_after(&self, calls: u64) {
        self.0.borrow_mut().power_left = Some(calls);
    }

    /// Cancels a pending [`lose_power_after`](MemDisk::lose_power_after) that has not
    /// struck yet.
    pub fn keep_power(&self) {
        let mut s = self.0.borrow_mut();
        if !s.power_lost {
            s.power_left = None;
        }
    }

    /// Whether power went out (calls fail until the next crash).
    pub fn power_lost(&self) -> bool {
        self.0.borrow().power_lost
    }

    /// How many times a log file was synced (an fsync on a real disk).
    pub fn log_syncs(&self) -> u64 {
        self.0.borrow().syncs
    }
}

impl Disk for MemDisk {
    type Log = MemLog;

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.power()?;
        if is_root(dir) || s.names.contains_key(dir) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: already exists", dir.display()),
            ));
        }
        s.parent_exists(dir)?;
        s.names.insert(dir.to_path_buf(), Node::Dir);
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let mut s = self.0.borrow_mut();
        s.power()?;
        Ok(is_root(path) || s.names.contains_key(path))
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let mut s = self.0.borrow_mut();
        s.power()?;
        Ok(s.file(path)?.map(|inode| s.files[&inode].now.clone()))
    }

    fn create_file(&self, path: &Path) -> io::Result<MemLog> {
        let mut s = self.0.borrow_mut();
        s.power()?;
        s.parent_exists(path)?;
        let inode = match s.file(path)? {
            Some(inode) => {
                // Truncation is not durable until the file is synced.
                s.files.get_mut(&inode).expect("inode").empty();
                inode
            }
            None => s.new_file(path),
        };
        Ok(MemLog {
            state: self.0.clone(),
            inode,
            boot: s.boot,
        })
    }

    fn open_append(&self, path: &Path) -> io::Result<MemLog> {
        let mut s = self.0.borrow_mut();
        s.power()?;
        s.parent_exists(path)?;
        let inode = match s.file(path)? {
            Some(inode) => inode,
            None => s.new_file(path),
        };
        Ok(MemLog {
            state: self.0.clone(),
            inode,
            boot: s.boot,
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.power()?;
        s.parent_exists(to)?;
        let Some(inode) = s.file(from)? else {
            return Err(not_found(from));
        };
        if s.is_dir(to) {
            return Err(io::Error::other(format!(
                "{}: is a directory",
                to.display()
            )));
        }
        s.names.remove(from);
        s.names.insert(to.to_path_buf(), Node::File(inode));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.0.borrow_mut();
        s.power()?;
        if !s.is_dir(dir) {
            return Err(not_found(dir));
        }
        let in_dir = |path: &Path| {
            if is_root(dir) {
                is_root(parent(path))
            } else {
                parent(path) == dir
            }
        };
        let now: Vec<(PathBuf, Node)> = s
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        s.durable_names.retain(|p, _| !in_dir(p));
        s.durable_names.extend(now);
        Ok(())
    }
}

impl MemLog {
    /// The file's contents, if power is on and this handle is from the current boot.
    fn contents<T>(&mut self, f: impl FnOnce(&mut Contents) -> T) -> io::Result<T> {
        let mut s = self.state.borrow_mut();
        s.power()?;
        if s.boot != self.boot {
            return Err(io::Error::other("file handle from before a crash"));
        }
        // Files are only forgotten in a crash (a file renamed over stays while it is
        // open), and the boot check above rules out handles from before one.
        Ok(f(s.files.get_mut(&self.inode).expect("open file")))
    }
}

impl LogFile for MemLog {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.contents(|c| c.now.extend_from_slice(bytes))
    }

    fn sync(&mut self) -> io::Result<()> {
        self.contents(Contents::sync)?;
        self.state.borrow_mut().syncs += 1;
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.contents(|c| {
            c.now.resize(len, 0);
            c.sync();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    fn contents(disk: &MemDisk, path: &str) -> Option<Vec<u8>> {
        disk.read(p(path)).unwrap()
    }

    #[test]
    fn unsynced_bytes_are_lost_and_synced_ones_survive() {
        let disk = MemDisk::new();
        disk.create_dir_all(p("/d")).unwrap();
        let mut log = disk.open_log(p("/d/log")).unwrap();
        log.append(b"kept").unwrap();
        log.sync().unwrap();
        log.append(b" lost").unwrap();
        assert_eq!(contents(&disk, "/d/log").unwrap(), b"kept lost");
        disk.crash();
        assert_eq!(contents(&disk, "/d/log").unwrap(), b"kept");
        assert!(log.append(b"x").is_err(), "a handle from before the crash");
    }

    #[test]
    fn a_file_or_a_rename_without_a_directory_sync_is_lost() {
        let disk = MemDisk::new();
        disk.create_dir_all(p("/d")).unwrap();
        let mut f = disk.open_append(p("/d/new")).unwrap();
        f.append(b"x").unwrap();
        f.sync().unwrap();
        disk.crash();
        assert_eq!(contents(&disk, "/d/new"), None, "entry never synced");

        disk.replace(p("/d/state"), b"one").unwrap();
        let mut f = disk.create_file(p("/d/state.tmp")).unwrap();
        f.append(b"two").unwrap();
        f.sync().unwrap();
        disk.rename(p("/d/state.tmp"), p("/d/state")).unwrap();
        assert_eq!(contents(&disk, "/d/state").unwrap(), b"two");
        disk.crash();
        assert_eq!(contents(&disk, "/d/state").unwrap(), b"one");
        assert_eq!(
            contents(&disk, "/d/state.tmp"),
            None,
            "created, never synced in /d"
        );
        disk.replace(p("/d/state"), b"three").unwrap();
        disk.crash();
        assert_eq!(contents(&disk, "/d/state").unwrap(), b"three");
        assert_eq!(contents(&disk, "/d/state.tmp"), None);
    }

    #[test]
    fn an_entry_in_a_directory_that_was_never_synced_in_its_parent_is_lost() {
        let disk = MemDisk::new();
        disk.create_dir(p("/a")).unwrap();
        disk.create_dir(p("/a/b")).unwrap();
        disk.sync_dir(p("/a")).unwrap();
        disk.open_log(p("/a/b/log")).unwrap();
        disk.crash();
        assert!(!disk.exists(p("/a")).unwrap());
        assert!(!disk.exists(p("/a/b/log")).unwrap());
        // `create_dir_all` syncs every level it creates.
        disk.create_dir_all(p("/a/b")).unwrap();
        disk.open_log(p("/a/b/log")).unwrap();
        disk.crash();
        assert!(disk.exists(p("/a/b/log")).unwrap());
    }

    #[test]
    fn truncation_is_durable_and_create_file_empties_only_until_a_crash() {
        let disk = MemDisk::new();
        disk.replace(p("/f"), b"abcdef").unwrap();
        let mut f = disk.open_log(p("/f")).unwrap();
        f.truncate(2).unwrap();
        disk.crash();
        assert_eq!(contents(&disk, "/f").unwrap(), b"ab");
        let mut f = disk.create_file(p("/f")).unwrap();
        f.append(b"x").unwrap();
        assert_eq!(contents(&disk, "/f").unwrap(), b"x");
        disk.crash();
        assert_eq!(contents(&disk, "/f").unwrap(), b"ab");
        let mut f = disk.create_file(p("/f")).unwrap();
        f.append(b"xy").unwrap();
        f.sync().unwrap();
        f.append(b"z").unwrap();
        disk.crash();
        assert_eq!(contents(&disk, "/f").unwrap(), b"xy");
    }

    #[test]
    fn after_power_loss_every_call_fails_and_changes_nothing() {
        let disk = MemDisk::new();
        let mut f = disk.open_log(p("/f")).unwrap();
        disk.lose_power_after(2);
        f.append(b"a").unwrap();
        f.sync().unwrap();
        assert!(!disk.power_lost());
        assert!(f.append(b"b").is_err());
        assert!(disk.power_lost());
        assert!(disk.read(p("/f")).is_err());
        let copy = disk.after_crash();
        assert_eq!(contents(&copy, "/f").unwrap(), b"a");
        assert!(disk.power_lost(), "looking at the copy changes nothing");
        disk.crash();
        assert!(!disk.power_lost());
        assert_eq!(contents(&disk, "/f").unwrap(), b"a");

        disk.lose_power_after(0);
        disk.keep_power();
        assert!(disk.exists(p("/f")).unwrap(), "cancelled before it struck");
    }

    #[test]
    fn paths_need_their_parent_directory() {
        let disk = MemDisk::new();
        assert_eq!(
            disk.open_append(p("/no/f")).err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
        assert_eq!(
            disk.create_dir(p("/")).err().map(|e| e.kind()),
            Some(io::ErrorKind::AlreadyExists)
        );
        assert!(disk.read(p("/")).is_err(), "the root is a directory");
    }
}
