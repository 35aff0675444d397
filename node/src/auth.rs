//! Authenticated control traffic: the cluster secret, and the challenge–response
//! handshake that opens every connection to a node's admin port and to the ECS
//! (`docs/protocol.md`, "Authenticating control connections").
//!
//! On accept, a port with a secret sends `auth_challenge <nonce>`, a fresh 128-bit nonce
//! drawn from the process's injected RNG; the connecting side answers
//! `auth <proof> <its own nonce> <target>`, where the target names whom it means to reach
//! (`ecs`, or the admin address it dialled) and the proof is an HMAC over both nonces and
//! the target ([`Handshake`]); the port checks that the target is itself and the proof
//! right, and answers `auth_ok <its own proof>` and serves the connection, or
//! `error unauthenticated: ...` and closes it. Nothing a line carries is applied before
//! that, and the connecting side sends nothing before it checked the port's proof.
//! [`Gate::admit`] is the server side (run by
//! [`serve_requests`](crate::lines::serve_requests), so every port has it) and
//! [`authenticate`] the connecting side (run by [`AdminLink`](crate::admin_link::AdminLink)
//! on every new connection, so every sender has it).
//!
//! A captured conversation cannot be replayed: each proof signs the other side's fresh
//! nonce. A proof cannot be relayed to another port (someone an honest node dials passing
//! a real port's challenge through it): it names the port it was made for. And a proof
//! cannot be reflected: the two sides' labels differ.

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

pub mod peer;

/// Bytes of a cluster secret.
pub const SECRET_LEN: usize = 32;

/// Domain separation for the connecting side's proof: its HMAC input starts with this
/// label. A proof made with the cluster secret for anything else (the port's side, the
/// peer protocol) can never pass as one.
pub const DIAL_LABEL: &[u8] = b"ringkv control dial v2\n";

/// Domain separation for the port's proof (in `auth_ok`).
pub const ACCEPT_LABEL: &[u8] = b"ringkv control accept v2\n";

/// The target a connection to the ECS names; one to a node's admin port names the node's
/// admin address (`host:port`, as the node advertises it).
pub const ECS_TARGET: &str = "ecs";

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

    /// An HMAC-SHA256 keyed with this secret.
    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
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

/// Which side of a connection a proof speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The side that dialled.
    Dialler,
    /// The side that accepted (the port).
    Acceptor,
}

/// What both proofs of one control connection sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake<'a> {
    /// The port's nonce (`auth_challenge`).
    pub port_nonce: [u8; NONCE_LEN],
    /// The connecting side's nonce (in `auth`).
    pub dial_nonce: [u8; NONCE_LEN],
    /// Whom the connecting side means to reach: [`ECS_TARGET`] or an admin address.
    pub target: &'a str,
}

impl Handshake<'_> {
    /// `side`'s proof: HMAC-SHA256(secret, label || port nonce || dial nonce || target).
    pub fn proof(&self, secret: &Secret, side: Side) -> [u8; PROOF_LEN] {
        self.mac(secret, side).finalize().into_bytes().into()
    }

    /// Whether `proof` is `side`'s proof, compared in constant time.
    pub fn verify(&self, secret: &Secret, side: Side, proof: &[u8]) -> bool {
        self.mac(secret, side).verify_slice(proof).is_ok()
    }

    fn mac(&self, secret: &Secret, side: Side) -> HmacSha256 {
        let mut mac = secret.mac();
        mac.update(match side {
            Side::Dialler => DIAL_LABEL,
            Side::Acceptor => ACCEPT_LABEL,
        });
        mac.update(&self.port_nonce);
        mac.update(&self.dial_nonce);
        mac.update(self.target.as_bytes());
        mac
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The first line was not `auth <proof> <nonce> <target>`.
    #[error("the first line was not an auth line")]
    NoProof,
    /// The connection was meant for someone else: a relay, or a misconfigured address.
    #[error("the connection names {target:?} but this port is {me:?}")]
    WrongTarget {
        /// What the connecting side named.
        target: String,
        /// What this port is.
        me: String,
    },
    /// The proof does not sign this connection's nonce with the cluster secret.
    #[error("wrong proof")]
    WrongProof,
    /// The connection failed or closed during the handshake.
    #[error(transparent)]
    Line(#[from] LineError),
}

/// The server side of the handshake, one per port: the secret (none: the port is open,
/// as in the seed protocol), the source of nonces, and the name connections must give.
#[derive(Debug)]
pub struct Gate {
    secret: Option<Secret>,
    nonces: RefCell<Rng>,
    me: String,
}

impl Gate {
    /// A gate that admits only holders of `secret` (anyone, if `None`) who name `me` as
    /// their target ([`ECS_TARGET`] for the ECS, the advertised admin address for a
    /// node), drawing its nonces from `nonces` (the process's injected RNG, or a fork).
    pub fn new(secret: Option<Secret>, nonces: Rng, me: String) -> Gate {
        Gate {
            secret,
            nonces: RefCell::new(nonces),
            me,
        }
    }

    /// Whether connections must authenticate.
    pub fn is_closed(&self) -> bool {
        self.secret.is_some()
    }

    /// A fresh nonce for one connection.
    fn nonce(&self) -> [u8; NONCE_LEN] {
        fresh_nonce(&mut self.nonces.borrow_mut())
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
        let mut accepted = None;
        let verdict = match AuthLine::parse(&line) {
            Ok(AuthLine::Proof {
                proof,
                nonce: dial_nonce,
                target,
            }) => {
                let handshake = Handshake {
                    port_nonce: nonce,
                    dial_nonce,
                    target: &target,
                };
                if target != self.me {
                    Err(AuthError::WrongTarget {
                        target: target.clone(),
                        me: self.me.clone(),
                    })
                } else if handshake.verify(secret, Side::Dialler, &proof) {
                    accepted = Some(handshake.proof(secret, Side::Acceptor));
                    Ok(())
                } else {
                    Err(AuthError::WrongProof)
                }
            }
            _ => Err(AuthError::NoProof),
        };
        let reply = match (&verdict, accepted) {
            (Ok(()), Some(proof)) => AuthLine::Accepted(proof).to_line(),
            (Err(AuthError::WrongProof), _) => Reply::Error(format!(
                "{UNAUTHENTICATED}: the proof does not match this connection's challenge"
            ))
            .to_line(),
            (Err(e @ AuthError::WrongTarget { .. }), _) => {
                Reply::Error(format!("{UNAUTHENTICATED}: {e}")).to_line()
            }
            _ => Reply::Error(format!(
                "{UNAUTHENTICATED}: answer the auth_challenge with `auth <proof> <nonce> \
                 <target>` before any request (docs/protocol.md)"
            ))
            .to_line(),
        };
        // A failed write is the peer's loss; the verdict stands either way.
        let _ = conn.write_line(&reply).await;
        verdict
    }
}

/// 16 bytes from `rng`: a nonce for one connection (of either protocol; both use 16).
pub fn fresh_nonce(rng: &mut Rng) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    for chunk in nonce.chunks_exact_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    nonce
}

/// The connecting side of the handshake, on a new connection to a port that has a
/// secret: reads its challenge, answers with its proof for `target` (whom it means to
/// reach: [`ECS_TARGET`] or the admin address it dialled) and a nonce from `nonces`, and
/// expects `auth_ok` with the port's proof before it returns.
pub async fn authenticate<S: Stream>(
    conn: &mut LineConn<S>,
    secret: &Secret,
    target: &str,
    nonces: &mut Rng,
) -> Result<(), LineError> {
    let line = conn.read_line().await?.ok_or(LineError::Closed)?;
    let port_nonce = match AuthLine::parse(&line) {
        Ok(AuthLine::Challenge(nonce)) => nonce,
        _ => return Err(LineError::NoChallenge(snippet(&line))),
    };
    let handshake = Handshake {
        port_nonce,
        dial_nonce: fresh_nonce(nonces),
        target,
    };
    let proof = AuthLine::Proof {
        proof: handshake.proof(secret, Side::Dialler),
        nonce: handshake.dial_nonce,
        target: target.to_owned(),
    };
    conn.write_line(&proof.to_line()).await?;
    let line = conn.read_line().await?.ok_or(LineError::Closed)?;
    match AuthLine::parse(&line) {
        Ok(AuthLine::Accepted(proof)) if handshake.verify(secret, Side::Acceptor, &proof) => Ok(()),
        Err(_) => match Reply::parse(&line) {
            Ok(Reply::Error(_)) => Err(LineError::Refused(snippet(&line))),
            // A bare `ok` (a port of the seed protocol, or an impostor) or another reply.
            Ok(_) => Err(LineError::PortUnproven(snippet(&line))),
            Err(e) => Err(LineError::BadReply(e)),
        },
        // Whoever answers here does not hold the secret: it gets no request.
        Ok(_) => Err(LineError::PortUnproven(snippet(&line))),
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
