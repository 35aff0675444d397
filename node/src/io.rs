//! The seams between node code and the world: network, disk and randomness.
//!
//! Node and ECS code never names `tokio::net`, `std::fs` or an OS random source; it takes a
//! [`Network`], a [`Disk`] and a seeded [`Rng`]. This module implements them for real
//! programs ([`TokioNet`], [`StdDisk`]); the `sim` crate implements the same traits over
//! turmoil. Time is `tokio::time`, which turmoil drives, so it needs no trait. For tests,
//! [`mem::MemDisk`] keeps files in memory and loses what a power loss would.
//!
//! Everything here runs on a single-threaded runtime inside a `LocalSet` (turmoil gives
//! each host exactly that), so futures need not be `Send`; tasks are started with
//! `tokio::task::spawn_local`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) mod accept;
pub mod mem;
mod restart_sync;

pub use restart_sync::sync_data_dir;

/// A byte stream between two hosts.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + 'static> Stream for T {}

/// Opens and accepts connections. Addresses are `host:port` text.
#[allow(async_fn_in_trait)] // futures run on a LocalSet; no Send bound is wanted
pub trait Network: Clone + 'static {
    /// A connected stream.
    type Stream: Stream;
    /// A bound listener.
    type Listener: Listener<Stream = Self::Stream>;
    /// Binds a listener to `addr`.
    async fn bind(&self, addr: &str) -> io::Result<Self::Listener>;
    /// Connects to `addr`.
    async fn connect(&self, addr: &str) -> io::Result<Self::Stream>;
}

/// A bound socket that accepts streams.
#[allow(async_fn_in_trait)]
pub trait Listener: 'static {
    /// The accepted stream type.
    type Stream: Stream;
    /// Waits for the next connection; returns it with the peer's address.
    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)>;
    /// The address actually bound (useful after binding port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Durable storage: a few file-system primitives, and the crash-safety steps built on
/// them (written once, here, so the simulator runs the same steps as a real node).
///
/// "Durable" means synced: after [`LogFile::sync`] or [`Disk::replace`] returns, a power
/// loss keeps the data. Anything else may be lost. An implementation provides only the
/// primitives (`create_dir` .. `sync_dir`); `create_dir_all`, `open_log` and `replace`
/// are provided and should not be overridden.
pub trait Disk: Clone + 'static {
    /// An open file: appends, sync, truncation.
    type Log: LogFile;

    /// Creates the directory `dir` (its parent must exist); an existing one is an error of
    /// kind `AlreadyExists`.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// The whole contents of `path`, or `None` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Creates `path` empty (truncating an existing file) and opens it for writing.
    fn create_file(&self, path: &Path) -> io::Result<Self::Log>;
    /// Opens `path` for appending, creating it (not durably) if missing.
    fn open_append(&self, path: &Path) -> io::Result<Self::Log>;
    /// Renames `from` to `to`, replacing `to` (durable once the directory is synced).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the entries of directory `dir` durable (created, renamed, removed files).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Creates `dir` and its missing parents, durably: each level created is synced in its
    /// parent.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut missing = Vec::new();
        for level in dir.ancestors().filter(|p| !p.as_os_str().is_empty()) {
            if self.exists(level)? {
                break;
            }
            missing.push(level);
        }
        for level in missing.into_iter().rev() {
            match self.create_dir(level) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                other => other?,
            }
            self.sync_dir(&parent_of(level))?;
        }
        Ok(())
    }

    /// Opens `path` for appending, creating it durably (file and directory entry) if
    /// missing.
    fn open_log(&self, path: &Path) -> io::Result<Self::Log> {
        let existed = self.exists(path)?;
        let mut log = self.open_append(path)?;
        if !existed {
            log.sync()?;
            self.sync_dir(&parent_of(path))?;
        }
        Ok(log)
    }

    /// [`replace`](Disk::replace) without holding up the runtime's thread (compaction's
    /// snapshot file, the largest write a node makes). By default it replaces at once;
    /// [`StdDisk`] runs it on tokio's blocking pool.
    fn replace_async(
        &self,
        path: &Path,
        contents: &[u8],
    ) -> impl std::future::Future<Output = io::Result<()>> {
        std::future::ready(self.replace(path, contents))
    }

    /// Replaces `path` with `contents` atomically and durably: write aside, sync, rename,
    /// sync the directory.
    fn replace(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let mut aside = path.as_os_str().to_owned();
        aside.push(".tmp");
        let aside = PathBuf::from(aside);
        let mut file = self.create_file(&aside)?;
        file.append(contents)?;
        file.sync()?;
        self.rename(&aside, path)?;
        self.sync_dir(&parent_of(path))
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An append-only file.
pub trait LogFile: 'static {
    /// Appends bytes at the end (not yet durable).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes every appended byte durable.
    fn sync(&mut self) -> io::Result<()>;
    /// [`sync`](LogFile::sync) without holding up the runtime's thread while the disk
    /// works: the replica's hot path (one per `Ready`) awaits this, so sockets, timers and
    /// other groups go on meanwhile. By default it syncs at once. [`StdLog`] runs its
    /// fsync on a blocking thread; the simulator's disk charges a seeded, configurable
    /// latency in simulated time, so the same batching shows there.
    fn sync_async(&mut self) -> impl std::future::Future<Output = io::Result<()>> {
        std::future::ready(self.sync())
    }
    /// Cuts the file to `len` bytes and syncs (drops a torn tail, or empties the log).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// The injected random source: ChaCha8, seeded by whoever starts the program, so a
/// simulation can replay it.
#[derive(Debug, Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// A generator from a 64-bit seed.
    pub fn from_seed(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A generator seeded with 256 bits from the OS (`getrandom`). Only for real
    /// binaries' `main`, never in the simulation: a simulated run must replay from its
    /// seed alone. Its stream gives the control ports' challenge nonces, so it must not be
    /// guessable from the start time and the pid (which is what it used to be seeded
    /// with). Panics if the OS has no randomness to give: a port with predictable nonces
    /// is worse than a node that does not start.
    pub fn from_entropy() -> Self {
        match ChaCha8Rng::try_from_os_rng() {
            Ok(rng) => Rng(rng),
            Err(e) => panic!("reading 32 bytes of OS randomness: {e}"),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `[low, high)`; `low` if the range is empty.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        // Modulo bias is below 2^-40 for the small spans used here (timeouts, jitter).
        low + self.next_u64() % (high - low)
    }

    /// A child generator with an independent stream, so one subsystem's draws do not
    /// shift another's.
    pub fn fork(&mut self) -> Rng {
        Rng::from_seed(self.next_u64())
    }
}

/// [`Network`] over real TCP with tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNet;

/// A tokio TCP listener.
#[derive(Debug)]
pub struct TokioListener(tokio::net::TcpListener);

impl Network for TokioNet {
    type Stream = tokio::net::TcpStream;
    type Listener = TokioListener;

    async fn bind(&self, addr: &str) -> io::Result<TokioListener> {
        Ok(TokioListener(tokio::net::TcpListener::bind(addr).await?))
    }

    async fn connect(&self, addr: &str) -> io::Result<tokio::net::TcpStream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        // Requests and answers are small and latency-bound.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// A listener that never accepts: for tests of the dialling side alone, over in-memory
/// streams.
#[cfg(test)]
pub(crate) struct NoListener;

#[cfg(test)]
impl Listener for NoListener {
    type Stream = tokio::io::DuplexStream;
    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        std::future::pending().await
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

impl Listener for TokioListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
        let (stream, peer) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// [`Disk`] over `std::fs`. Calls block the thread briefly, except the replica's per-`Ready`
/// fsync ([`LogFile::sync_async`]), which runs on a blocking thread; the rest (start-up,
/// compaction, snapshots) is rare.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdDisk;

/// An append-only `std::fs::File`.
#[derive(Debug)]
pub struct StdLog(std::sync::Arc<std::fs::File>);

impl Disk for StdDisk {
    type Log = StdLog;

    /// On tokio's blocking pool (real binaries only: the simulator never uses `StdDisk`).
    fn replace_async(
        &self,
        path: &Path,
        contents: &[u8],
    ) -> impl std::future::Future<Output = io::Result<()>> {
        let (path, contents) = (path.to_path_buf(), contents.to_vec());
        async move {
            tokio::task::spawn_blocking(move || StdDisk.replace(&path, &contents))
                .await
                .map_err(io::Error::other)?
        }
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create_file(&self, path: &Path) -> io::Result<StdLog> {
        std::fs::File::create(path).map(StdLog::new)
    }

    fn open_append(&self, path: &Path) -> io::Result<StdLog> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(StdLog::new)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // On Linux a directory opened read-only can be fsynced, which makes its entries
        // durable.
        std::fs::File::open(dir)?.sync_all()
    }
}

impl StdLog {
    /// Shared so that `sync_async` can hand the blocking pool the same open file, with
    /// no `dup` per sync.
    fn new(file: std::fs::File) -> Self {
        StdLog(std::sync::Arc::new(file))
    }
}

impl LogFile for StdLog {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        (&*self.0).write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    /// The fsync runs on tokio's blocking pool, on the same open file (real binaries
    /// only: the simulator never uses `StdDisk`). The caller appends nothing until it
    /// returns, so it covers every byte appended before the call.
    fn sync_async(&mut self) -> impl std::future::Future<Output = io::Result<()>> {
        let file = self.0.clone();
        async move {
            tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .map_err(io::Error::other)?
        }
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)?;
        self.0.sync_all()
    }
}

#[cfg(test)]
mod tests {
    //! The crash-safety steps, in the order they reach a disk that records its calls.

    use std::cell::RefCell;
    use std::collections::BTreeSet;
    use std::rc::Rc;

    use super::*;

    #[derive(Clone, Default)]
    struct Recorder {
        calls: Rc<RefCell<Vec<String>>>,
        exist: Rc<RefCell<BTreeSet<PathBuf>>>,
    }

    struct RecordedFile(Rc<RefCell<Vec<String>>>);

    impl Recorder {
        fn note(&self, call: String) {
            self.calls.borrow_mut().push(call);
        }
    }

    impl Disk for Recorder {
        type Log = RecordedFile;
        fn create_dir(&self, dir: &Path) -> io::Result<()> {
            self.note(format!("mkdir {}", dir.display()));
            self.exist.borrow_mut().insert(dir.to_path_buf());
            Ok(())
        }
        fn exists(&self, path: &Path) -> io::Result<bool> {
            Ok(self.exist.borrow().contains(path))
        }
        fn read(&self, _: &Path) -> io::Result<Option<Vec<u8>>> {
            Ok(None)
        }
        fn create_file(&self, path: &Path) -> io::Result<RecordedFile> {
            self.note(format!("create {}", path.display()));
            Ok(RecordedFile(self.calls.clone()))
        }
        fn open_append(&self, path: &Path) -> io::Result<RecordedFile> {
            self.note(format!("open {}", path.display()));
            self.exist.borrow_mut().insert(path.to_path_buf());
            Ok(RecordedFile(self.calls.clone()))
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.note(format!("rename {} {}", from.display(), to.display()));
            Ok(())
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            self.note(format!("syncdir {}", dir.display()));
            Ok(())
        }
    }

    impl LogFile for RecordedFile {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.0.borrow_mut().push(format!("write {}", bytes.len()));
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            self.0.borrow_mut().push("sync".into());
            Ok(())
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.0.borrow_mut().push(format!("truncate {len}"));
            Ok(())
        }
    }

    fn taken(disk: &Recorder) -> Vec<String> {
        std::mem::take(&mut *disk.calls.borrow_mut())
    }

    #[test]
    fn every_created_level_is_synced_in_its_parent() {
        let disk = Recorder::default();
        disk.exist.borrow_mut().extend(["/".into(), "/a".into()]);
        disk.create_dir_all(Path::new("/a/b/c")).unwrap();
        assert_eq!(
            taken(&disk),
            ["mkdir /a/b", "syncdir /a", "mkdir /a/b/c", "syncdir /a/b"]
        );
        disk.create_dir_all(Path::new("/a/b/c")).unwrap();
        assert!(taken(&disk).is_empty(), "nothing to create");
    }

    #[test]
    fn replace_writes_aside_syncs_renames_then_syncs_the_directory() {
        let disk = Recorder::default();
        disk.replace(Path::new("/a/state"), b"xyz").unwrap();
        assert_eq!(
            taken(&disk),
            [
                "create /a/state.tmp",
                "write 3",
                "sync",
                "rename /a/state.tmp /a/state",
                "syncdir /a"
            ]
        );
    }

    #[test]
    fn a_new_log_is_synced_with_its_directory_entry_an_old_one_is_not() {
        let disk = Recorder::default();
        disk.open_log(Path::new("/d/log")).unwrap();
        assert_eq!(taken(&disk), ["open /d/log", "sync", "syncdir /d"]);
        disk.open_log(Path::new("/d/log")).unwrap();
        assert_eq!(taken(&disk), ["open /d/log"]);
    }
}

#[cfg(test)]
mod entropy_tests {
    use super::Rng;

    /// Two generators seeded by the OS start different streams: the seed is drawn, not
    /// fixed (the odds of two equal 64-bit first draws are 2^-64).
    #[test]
    fn from_entropy_draws_a_fresh_seed_every_time() {
        let (mut a, mut b) = (Rng::from_entropy(), Rng::from_entropy());
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
