//! The seams between node code and the world: network, disk and randomness.
//!
//! Node and ECS code never names `tokio::net`, `std::fs` or an OS random source; it takes a
//! [`Network`], a [`Disk`] and a seeded [`Rng`]. This module implements them for real
//! programs ([`TokioNet`], [`StdDisk`]); the `sim` crate implements the same traits over
//! turmoil. Time is `tokio::time`, which turmoil drives, so it needs no trait.
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

/// Durable storage: whole-file reads, append-only logs and atomic replacement.
///
/// "Durable" means synced: after [`LogFile::sync`] or [`Disk::replace`] returns, a power
/// loss keeps the data. Anything else may be lost.
pub trait Disk: Clone + 'static {
    /// An open append-only file.
    type Log: LogFile;
    /// Creates `dir` and its parents, durably.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The whole contents of `path`, or `None` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Opens `path` for appending, creating it (durably) if missing.
    fn open_log(&self, path: &Path) -> io::Result<Self::Log>;
    /// Replaces `path` with `contents` atomically and durably (write aside, sync, rename,
    /// sync the directory).
    fn replace(&self, path: &Path, contents: &[u8]) -> io::Result<()>;
}

/// An append-only file.
pub trait LogFile: 'static {
    /// Appends bytes at the end (not yet durable).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes every appended byte durable.
    fn sync(&mut self) -> io::Result<()>;
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

    /// A generator seeded from the OS. Only for real binaries' `main`, never in the
    /// simulation.
    pub fn from_entropy() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng::from_seed(nanos ^ u64::from(std::process::id()).rotate_left(32))
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

/// [`Disk`] over `std::fs`. Calls block the thread briefly (fsync included); the node's
/// writes are small and batched, which keeps that acceptable on a current-thread runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdDisk;

/// An append-only `std::fs::File`.
#[derive(Debug)]
pub struct StdLog(std::fs::File);

fn sync_dir(dir: &Path) -> io::Result<()> {
    // On Linux a directory opened read-only can be fsynced, which makes its entries durable.
    std::fs::File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Disk for StdDisk {
    type Log = StdLog;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        sync_dir(&parent_of(dir))
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn open_log(&self, path: &Path) -> io::Result<StdLog> {
        let existed = path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        if !existed {
            file.sync_all()?;
            sync_dir(&parent_of(path))?;
        }
        Ok(StdLog(file))
    }

    fn replace(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let mut aside = path.as_os_str().to_owned();
        aside.push(".tmp");
        let aside = PathBuf::from(aside);
        let mut file = std::fs::File::create(&aside)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&aside, path)?;
        sync_dir(&parent_of(path))
    }
}

impl LogFile for StdLog {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        self.0.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)?;
        self.0.sync_all()
    }
}
