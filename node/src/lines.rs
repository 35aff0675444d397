//! A text-line connection for the ECS protocol, used by both ends: the node's and the ECS's
//! admin ports, and the connections they open to each other.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use bytes::BytesMut;
use protocol::ecs::{split_line, ParseError, Reply, Request};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::{AuthError, Gate};
use crate::io::Stream;

/// Why a line could not be read or a request not answered.
#[derive(Debug, Error)]
pub enum LineError {
    /// The connection failed.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    Closed,
    /// The bytes are not a line (too long, not UTF-8): the connection cannot go on.
    #[error("bad line: {0}")]
    Framing(ParseError),
    /// The peer's answer is not `ok` / `error`.
    #[error("bad reply: {0}")]
    BadReply(ParseError),
    /// A port expected to authenticate connections sent no `auth_challenge` (it may run
    /// without a secret while this side has one); the line it sent instead.
    #[error("expected auth_challenge, got {0:?} (does the other side run without --secret-file?)")]
    NoChallenge(String),
    /// The port refused this side's proof (the secrets differ, or it is not the port
    /// this side meant to reach); its answer.
    #[error("authentication refused: {0}")]
    Refused(String),
    /// The port answered the proof without proving it holds the secret itself: whoever
    /// listens at that address is not a member of this cluster; its answer.
    #[error("the port did not prove it holds the cluster secret: {0}")]
    PortUnproven(String),
}

/// A stream read and written one line at a time.
pub struct LineConn<S> {
    stream: S,
    buf: BytesMut,
    max_line_len: usize,
}

impl<S: Stream> LineConn<S> {
    /// Wraps `stream`; lines longer than `max_line_len` bytes are refused.
    pub fn new(stream: S, max_line_len: usize) -> Self {
        LineConn {
            stream,
            buf: BytesMut::with_capacity(4096),
            max_line_len,
        }
    }

    /// Sets the longest line read from now on; returns the previous limit.
    pub fn set_max_line_len(&mut self, max_line_len: usize) -> usize {
        std::mem::replace(&mut self.max_line_len, max_line_len)
    }

    /// The next line without its terminator; `Ok(None)` when the peer closed cleanly
    /// between lines.
    pub async fn read_line(&mut self) -> Result<Option<String>, LineError> {
        loop {
            match split_line(&self.buf, self.max_line_len) {
                Ok(Some((line, used))) => {
                    let line = line.to_owned();
                    let _ = self.buf.split_to(used);
                    return Ok(Some(line));
                }
                Ok(None) => {}
                Err(e) => return Err(LineError::Framing(e)),
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(LineError::Closed)
                };
            }
        }
    }

    /// Writes `line` and its `\n`.
    pub async fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut out = Vec::with_capacity(line.len() + 1);
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    /// Sends a request and reads its one-line reply.
    pub async fn request(&mut self, request: &Request) -> Result<Reply, LineError> {
        self.write_line(&request.to_line()).await?;
        let line = self.read_line().await?.ok_or(LineError::Closed)?;
        Reply::parse(&line).map_err(LineError::BadReply)
    }
}

/// How long a port with a secret waits for the peer's `auth` line (blank lines
/// included) before it closes the connection.
pub const HANDSHAKE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest line a port reads before the peer is admitted: `auth`, 64 and 32 hex
/// digits, a target of up to 300 bytes, and room for the whitespace a person may type.
pub const HANDSHAKE_MAX_LINE_LEN: usize = 512;

/// Serves an ECS-protocol connection: first `gate`'s handshake (a port with a secret
/// admits only a peer that proves it holds it, and closes the connection otherwise, having
/// applied nothing), then every line is parsed as a request and answered with what
/// `handle` returns, until the peer closes the connection or sends bytes that are not
/// a line (answered with an error, then closed). A line that does not parse gets
/// `error <reason>` and the connection stays open, so a person typing into `nc` can try
/// again. `what` names the port in logs.
pub async fn serve_requests<S, F, Fut>(
    mut conn: LineConn<S>,
    peer: SocketAddr,
    what: &str,
    gate: &Gate,
    mut handle: F,
) where
    S: Stream,
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Reply>,
{
    // Until the peer has proved it holds the secret it gets an auth line's worth of
    // buffer and a few seconds, not a megabyte and forever.
    let full = conn.set_max_line_len(HANDSHAKE_MAX_LINE_LEN);
    let admitted = tokio::time::timeout(HANDSHAKE_DEADLINE, gate.admit(&mut conn)).await;
    conn.set_max_line_len(full);
    let Ok(admitted) = admitted else {
        tracing::warn!(%peer, "closing {what} connection: no proof within {HANDSHAKE_DEADLINE:?}");
        return;
    };
    match admitted {
        Ok(()) => {}
        Err(AuthError::Line(e)) => {
            tracing::debug!(%peer, error = %e, "{what} connection ended during the handshake");
            return;
        }
        Err(e) => {
            tracing::warn!(%peer, error = %e, "closing unauthenticated {what} connection");
            return;
        }
    }
    loop {
        let line = match conn.read_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(LineError::Framing(e)) => {
                tracing::info!(%peer, error = %e, "closing {what} connection: bad line");
                let _ = conn
                    .write_line(&Reply::Error(e.to_string()).to_line())
                    .await;
                return;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "{what} connection ended");
                return;
            }
        };
        // A blank line is answered too (`error empty line`): the seed answers every
        // message with `ok` or `error`.
        let reply = match Request::parse(&line) {
            Ok(request) => handle(request).await,
            Err(e) => Reply::Error(e.to_string()),
        };
        if conn.write_line(&reply.to_line()).await.is_err() {
            return;
        }
    }
}
