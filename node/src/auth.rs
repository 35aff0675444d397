//! Authenticated control traffic: the cluster secret, and the challenge–response
//! handshake that opens every connection to a node's admin port and to the ECS
//! (`docs/protocol.md`, "Authenticating control connections").
//!
//! On accept, a port with a secret sends `auth_challenge <nonce>`, a fresh 128-bit nonce
//! drawn from the process's injected RNG; the connecting side answers
//! `auth <HMAC-SHA256(secret, LABEL || nonce)>`; the port answers `ok` and serves the
//! connection, or `error unauthenticated: ...` and closes it. Nothing a line carries is
//! applied before that `ok`. [`Gate::admit`] is the server side (run by
//! [`serve_requests`](crate::lines::serve_requests), so every port has it) and
//! [`authenticate`] the connecting side (run by [`AdminLink`](crate::admin_link::AdminLink)
//! on every new connection, so every sender has it).
//!
//! A captured conversation cannot be replayed: its proof signs the nonce of its own
//! connection, and a new connection gets a new nonce.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use protocol::ecs::auth::{from_hex, to_hex, AuthLine, NONCE_LEN, PROOF_LEN};
use protocol::ecs::Reply;
use sha2::Sha256;
use thiserror::Error;

use crate::io::{Rng, Stream};
use crate::lines::{LineConn, LineError};

/// Bytes of a cluster secret.
pub const SECRET_LEN: usize = 32;

/// Domain separation: the HMAC input is this label, then the nonce's 16 raw bytes. A
/// proof made with the cluster secret for anything else can never pass as a handshake.
pub const LABEL: &[u8] = b"ringkv control-port auth v1\n";

/// The reason an unauthenticated line is refused with (after `error `).
pub const UNAUTHENTICATED: &str = "unauthenticated";

type HmacSha256 = Hmac<Sha256>;

/// The cluster secret: 32 bytes every node and the ECS share. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why a secret file could not be used.
#[derive(Debug, Error)]
pub enum SecretFileError {
    /// Reading or creating it failed.
    #[error("secret file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// Group or others may read or write it: whoever can read it can run the cluster.
    #[error(
        "secret file {path} has mode {mode:04o}: it must be readable by its owner only \
         (chmod 600 {path})"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It does not hold 64 hex digits.
    #[error("secret file {path}: expected {} hex digits (32 bytes), optionally followed by a newline", 2 * SECRET_LEN)]
    BadContents {
        /// The file.
        path: PathBuf,
    },
    /// Another user owns it: they can replace it, or read it whatever its mode says now.
    #[error("secret file {path} belongs to user {owner}, not to this process's user {me}")]
    NotOwner {
        /// The file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// Every byte is zero: a placeholder, not a secret.
    #[error("secret file {path} holds all zeros: a placeholder, not a secret (delete it and let `cluster` create one, or write 32 random bytes as hex)")]
    AllZero {
        /// The file.
        path: PathBuf,
    },
}

impl Secret {
    /// A secret of these bytes.
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Secret {
        Secret(bytes)
    }

    /// The proof for `nonce`: HMAC-SHA256(secret, [`LABEL`] || nonce).
    pub fn proof(&self, nonce: &[u8; NONCE_LEN]) -> [u8; PROOF_LEN] {
        self.mac(nonce).finalize().into_bytes().into()
    }

    /// Whether `proof` is the proof for `nonce`, compared in constant time.
    pub fn verify(&self, nonce: &[u8; NONCE_LEN], proof: &[u8]) -> bool {
        self.mac(nonce).verify_slice(proof).is_ok()
    }

    fn mac(&self, nonce: &[u8; NONCE_LEN]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(LABEL);
        mac.update(nonce);
        mac
    }

    /// The file's contents for this secret: 64 lowercase hex digits and a newline.
    pub fn to_file_text(&self) -> String {
        format!("{}\n", to_hex(&self.0))
    }

    /// Reads a secret file, refusing one that group or others may read or write.
    pub fn load(path: &Path) -> Result<Secret, SecretFileError> {
        let io_err = |source| SecretFileError::Io {
            path: path.to_owned(),
            source,
        };
        // Checked and read through one open file: no window in which the path could be
        // swapped between the check and the read.
        let mut file = std::fs::File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        check_private(path, &meta)?;
        let mut text = String::new();
        io::Read::read_to_string(&mut file, &mut text).map_err(io_err)?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        let bytes = from_hex::<SECRET_LEN>(text).ok_or_else(|| SecretFileError::BadContents {
            path: path.to_owned(),
        })?;
        if bytes.iter().all(|b| *b == 0) {
            return Err(SecretFileError::AllZero {
                path: path.to_owned(),
            });
        }
        Ok(Secret(bytes))
    }

    /// Reads the secret file at `path`, or, if there is none, creates it (mode 0600,
    /// created and written by this process only) holding the bytes `fresh` returns; the
    /// bool says whether it was created. `fresh` is where real randomness comes from: a
    /// binary's `main` reads the OS's.
    pub fn load_or_create(
        path: &Path,
        fresh: impl FnOnce() -> io::Result<[u8; SECRET_LEN]>,
    ) -> Result<(Secret, bool), SecretFileError> {
        let io_err = |source| SecretFileError::Io {
            path: path.to_owned(),
            source,
        };
        if path.exists() {
            return Secret::load(path).map(|s| (s, false));
        }
        let secret = Secret(fresh().map_err(io_err)?);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Born private: no moment when another user could open it.
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_err)?;
        io::Write::write_all(&mut file, secret.to_file_text().as_bytes()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        // Read back through the same checks a node makes (a umask cannot widen 0600, but
        // a file system that ignores modes would be caught here rather than at a node).
        Secret::load(path).map(|s| (s, true))
    }
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretFileError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(SecretFileError::NotOwner {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), SecretFileError> {
    Ok(())
}

/// Why a connection was not admitted.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The first line was not `auth <64 hex digits>`.
    #[error("the first line was not an auth line")]
    NoProof,
    /// The proof does not sign this connection's nonce with the cluster secret.
    #[error("wrong proof")]
    WrongProof,
    /// The connection failed or closed during the handshake.
    #[error(transparent)]
    Line(#[from] LineError),
}

/// The server side of the handshake, one per port: the secret (none: the port is open,
/// as in the seed protocol) and the source of nonces.
#[derive(Debug)]
pub struct Gate {
    secret: Option<Secret>,
    nonces: RefCell<Rng>,
}

impl Gate {
    /// A gate that admits only holders of `secret` (anyone, if `None`), drawing its
    /// nonces from `nonces` (the process's injected RNG, or a fork of it).
    pub fn new(secret: Option<Secret>, nonces: Rng) -> Gate {
        Gate {
            secret,
            nonces: RefCell::new(nonces),
        }
    }

    /// Whether connections must authenticate.
    pub fn is_closed(&self) -> bool {
        self.secret.is_some()
    }

    /// A fresh nonce for one connection.
    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut rng = self.nonces.borrow_mut();
        let mut nonce = [0u8; NONCE_LEN];
        for chunk in nonce.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        nonce
    }

    /// Runs the server side of the handshake on a newly accepted connection: `Ok` once
    /// the peer proved it holds the secret (or at once, on an open gate). On `Err` the
    /// peer has been told `error unauthenticated: ...` and the caller must close the
    /// connection without reading another line from it.
    pub async fn admit<S: Stream>(&self, conn: &mut LineConn<S>) -> Result<(), AuthError> {
        let Some(secret) = &self.secret else {
            return Ok(());
        };
        let nonce = self.nonce();
        conn.write_line(&AuthLine::Challenge(nonce).to_line())
            .await
            .map_err(LineError::from)?;
        // Blank lines are skipped, as `serve_requests` does, for people typing into nc.
        let line = loop {
            match conn.read_line().await? {
                Some(line) if line.trim().is_empty() => continue,
                Some(line) => break line,
                None => return Err(LineError::Closed.into()),
            }
        };
        let verdict = match AuthLine::parse(&line) {
            Ok(AuthLine::Proof(proof)) => {
                let proven = secret.verify(&nonce, &proof);
                if proven {
                    Ok(())
                } else {
                    Err(AuthError::WrongProof)
                }
            }
            _ => Err(AuthError::NoProof),
        };
        let reply = match &verdict {
            Ok(()) => Reply::Ok,
            Err(AuthError::WrongProof) => Reply::Error(format!(
                "{UNAUTHENTICATED}: the proof does not match this connection's challenge"
            )),
            Err(_) => Reply::Error(format!(
                "{UNAUTHENTICATED}: answer the auth_challenge with `auth <hex HMAC-SHA256>` \
                 before any request (docs/protocol.md)"
            )),
        };
        // A failed write is the peer's loss; the verdict stands either way.
        let _ = conn.write_line(&reply.to_line()).await;
        verdict
    }
}

/// The connecting side of the handshake, on a new connection to a port that has a
/// secret: reads its challenge, answers with the proof, and expects `ok`.
pub async fn authenticate<S: Stream>(
    conn: &mut LineConn<S>,
    secret: &Secret,
) -> Result<(), LineError> {
    let line = conn.read_line().await?.ok_or(LineError::Closed)?;
    let nonce = match AuthLine::parse(&line) {
        Ok(AuthLine::Challenge(nonce)) => nonce,
        _ => return Err(LineError::NoChallenge(snippet(&line))),
    };
    conn.write_line(&AuthLine::Proof(secret.proof(&nonce)).to_line())
        .await?;
    let line = conn.read_line().await?.ok_or(LineError::Closed)?;
    match Reply::parse(&line) {
        Ok(Reply::Ok) => Ok(()),
        Ok(_) => Err(LineError::Refused(snippet(&line))),
        Err(e) => Err(LineError::BadReply(e)),
    }
}

/// At most 60 characters of a line, for error messages.
fn snippet(line: &str) -> String {
    line.chars().take(60).collect()
}

/// Whether a listener bound at `addr` (`host:port`) is reachable only from this machine:
/// a loopback IP address or `localhost`. A wildcard (`0.0.0.0`, `[::]`) or any other name
/// or address is not.
pub fn is_loopback_bind(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
