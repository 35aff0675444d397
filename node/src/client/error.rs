//! What can go wrong in a client operation: [`ClientError`], the one error type the
//! library's public methods return, and [`ConnError`], the failures of a single
//! connection that the retry loop sorts into "try again" and "give up".

use std::io;
use std::time::Duration;

use protocol::DecodeError;
use thiserror::Error;

/// Why a client operation failed.
///
/// For a write, [`ClientError::Timeout`] and [`ClientError::Protocol`] leave the outcome
/// unknown: an earlier attempt may have been applied before its answer was lost. The
/// other variants come from an answer that says the command was not applied, or from
/// before anything was sent.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The configuration names no node to contact.
    #[error("no node address to contact: give at least one seed address")]
    NoSeeds,
    /// A node refused the connection's authorization ('a') or bootstrap ('b'), for
    /// example because its major protocol version differs.
    #[error("{addr} rejected the {stage}: {reason}")]
    Handshake {
        /// The node that refused.
        addr: String,
        /// Which step refused: "authorization" or "bootstrap".
        stage: &'static str,
        /// The node's reason.
        reason: String,
    },
    /// A node answered 'e' with a message that is not retryable: the command was refused
    /// and resending it will not help.
    #[error("server error: {0}")]
    Server(String),
    /// A node sent bytes that are not a valid answer to what was asked (malformed packet,
    /// wrong packet type, or an answer of the wrong kind).
    #[error("protocol error from {addr}: {detail}")]
    Protocol {
        /// The node that sent it.
        addr: String,
        /// What was wrong.
        detail: String,
    },
    /// The command is larger than a node accepts: nothing was sent.
    #[error(
        "the request is {bytes} bytes encoded, over the {limit}-byte limit of a node \
         (key and value together, plus {overhead} bytes of framing for a put)",
        overhead = crate::server::PUT_FRAMING_BYTES
    )]
    TooLarge {
        /// The encoded command's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The operation's deadline passed before any node gave a final answer.
    #[error("gave up after {after:?}: {last_error}")]
    Timeout {
        /// How long the operation ran.
        after: Duration,
        /// The last thing that went wrong, in words (unreachable node, no leader, a
        /// retryable refusal, ...).
        last_error: String,
    },
}

/// Why one connection failed to carry one exchange. Never leaves the client module.
#[derive(Debug, Error)]
pub(crate) enum ConnError {
    /// Connecting, reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The node closed the connection.
    #[error("connection closed by the node")]
    Closed,
    /// The node's bytes are not a packet.
    #[error("malformed packet: {0}")]
    Decode(#[from] DecodeError),
    /// The node refused the handshake.
    #[error("{stage} rejected: {reason}")]
    Rejected {
        /// "authorization" or "bootstrap".
        stage: &'static str,
        /// The node's reason.
        reason: String,
    },
    /// The node answered the handshake with an 'e'.
    #[error("{stage} answered with error: {message}")]
    HandshakeError {
        /// "authorization" or "bootstrap".
        stage: &'static str,
        /// The node's message.
        message: String,
    },
    /// The node answered the handshake with a packet of the wrong type.
    #[error("expected '{expected}' during the handshake, got '{got}'")]
    Unexpected {
        /// The marker that should have come.
        expected: char,
        /// The marker that came.
        got: char,
    },
}
