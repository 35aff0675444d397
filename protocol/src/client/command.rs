//! The store's commands, carried inside a 'C' packet's Buffer, and their answers, carried
//! inside a 'c' packet's Buffer.
//!
//! The seed leaves the commands to the system (it points to a commands page we do not
//! have), so this layout is ours; `docs/protocol.md` marks it as an extension. Each body
//! starts with a one-byte marker and uses the seed's data types, plus `Int64` (8 bytes,
//! big-endian, unsigned here) for session numbers and `Optional<Buffer>` (a Bool, then the
//! Buffer only if the Bool is true).

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{put_bool, put_buffer, Reader, Step, Stop};
use crate::{DecodeError, Limits};

/// A client session tag that lets the store recognise a resent command and answer it
/// without applying it twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionTag {
    /// Identifies the client; chosen at random by the client library.
    pub client_id: u64,
    /// Grows by one for every new command of that client; a resend reuses its number.
    pub sequence: u64,
}

/// One store command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// 'G': read a key.
    Get {
        /// The key.
        key: Bytes,
    },
    /// 'P': write a key.
    Put {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// 'D': remove a key.
    Delete {
        /// The key.
        key: Bytes,
    },
    /// 'X': write `new` only if the current value equals `expected` (`None`: key absent).
    CompareAndSet {
        /// The key.
        key: Bytes,
        /// The value the key must hold now, or `None` for "must not exist".
        expected: Option<Bytes>,
        /// The value to store if the comparison holds.
        new: Bytes,
    },
}

/// The body of a 'C' packet: a command, optionally tagged with a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Present when the client wants at-most-once application across resends.
    pub session: Option<SessionTag>,
    /// What to do.
    pub command: Command,
}

/// The body of a 'c' packet: the answer to a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// 'V': the answer to Get: the value, or `None` if the key is absent.
    Value(Option<Bytes>),
    /// 'K': the answer to Put: the write is durable.
    Stored,
    /// 'R': the answer to Delete: whether the key existed.
    Deleted(bool),
    /// 'W': the answer to CompareAndSet.
    CompareAndSet {
        /// Whether the new value was written.
        swapped: bool,
        /// The value the key holds after the command.
        current: Option<Bytes>,
    },
}

mod marker {
    pub const SESSION: u8 = b'S';
    pub const GET: u8 = b'G';
    pub const PUT: u8 = b'P';
    pub const DELETE: u8 = b'D';
    pub const CAS: u8 = b'X';
    pub const VALUE: u8 = b'V';
    pub const STORED: u8 = b'K';
    pub const DELETED: u8 = b'R';
    pub const CAS_RESULT: u8 = b'W';
}

/// Prefix of an 'e' message that means "not applied; the same command may be resent
/// later" (for example while the node's range is write-locked for a hand-off).
pub const RETRYABLE_PREFIX: &str = "retry: ";

/// Whether an 'e' message says the command was not applied and may be resent.
pub fn is_retryable(message: &str) -> bool {
    message.starts_with(RETRYABLE_PREFIX)
}

impl Command {
    /// The key the command reads or writes.
    pub fn key(&self) -> &Bytes {
        match self {
            Command::Get { key }
            | Command::Put { key, .. }
            | Command::Delete { key }
            | Command::CompareAndSet { key, .. } => key,
        }
    }

    /// Whether the command may change the store.
    pub fn is_write(&self) -> bool {
        !matches!(self, Command::Get { .. })
    }

    fn encode(&self, out: &mut BytesMut) {
        match self {
            Command::Get { key } => {
                out.put_u8(marker::GET);
                put_buffer(out, key);
            }
            Command::Put { key, value } => {
                out.put_u8(marker::PUT);
                put_buffer(out, key);
                put_buffer(out, value);
            }
            Command::Delete { key } => {
                out.put_u8(marker::DELETE);
                put_buffer(out, key);
            }
            Command::CompareAndSet { key, expected, new } => {
                out.put_u8(marker::CAS);
                put_buffer(out, key);
                put_optional(out, expected.as_deref());
                put_buffer(out, new);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Step<Command> {
        Ok(match r.u8()? {
            marker::GET => Command::Get {
                key: r.buffer("key")?,
            },
            marker::PUT => Command::Put {
                key: r.buffer("key")?,
                value: r.buffer("value")?,
            },
            marker::DELETE => Command::Delete {
                key: r.buffer("key")?,
            },
            marker::CAS => Command::CompareAndSet {
                key: r.buffer("key")?,
                expected: optional(r, "expected value")?,
                new: r.buffer("new value")?,
            },
            other => {
                return Err(DecodeError::UnknownInnerMarker {
                    what: "command",
                    marker: other,
                }
                .into())
            }
        })
    }
}

impl Request {
    /// A request without a session tag.
    pub fn new(command: Command) -> Self {
        Request {
            session: None,
            command,
        }
    }

    /// Appends the body bytes (what goes inside the 'C' Buffer) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        if let Some(tag) = self.session {
            out.put_u8(marker::SESSION);
            out.put_u64(tag.client_id);
            out.put_u64(tag.sequence);
        }
        self.command.encode(out);
    }

    /// The body bytes as a fresh buffer, ready for [`super::Packet::CommandRequest`].
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }

    /// Decodes a whole 'C' body; leftover bytes are an error.
    pub fn decode(body: &[u8], limits: &Limits) -> Result<Request, DecodeError> {
        let mut r = Reader::bounded(body, limits, "command body");
        whole(&mut r, |r| {
            let session = if body.first() == Some(&marker::SESSION) {
                r.u8()?;
                Some(SessionTag {
                    client_id: r.u64()?,
                    sequence: r.u64()?,
                })
            } else {
                None
            };
            let command = Command::decode(r)?;
            Ok(Request { session, command })
        })
    }
}

impl Response {
    /// Appends the body bytes (what goes inside the 'c' Buffer) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Response::Value(value) => {
                out.put_u8(marker::VALUE);
                put_optional(out, value.as_deref());
            }
            Response::Stored => out.put_u8(marker::STORED),
            Response::Deleted(existed) => {
                out.put_u8(marker::DELETED);
                put_bool(out, *existed);
            }
            Response::CompareAndSet { swapped, current } => {
                out.put_u8(marker::CAS_RESULT);
                put_bool(out, *swapped);
                put_optional(out, current.as_deref());
            }
        }
    }

    /// The body bytes as a fresh buffer, ready for [`super::Packet::CommandResponse`].
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }

    /// Decodes a whole 'c' body; leftover bytes are an error.
    pub fn decode(body: &[u8], limits: &Limits) -> Result<Response, DecodeError> {
        let mut r = Reader::bounded(body, limits, "response body");
        whole(&mut r, |r| {
            Ok(match r.u8()? {
                marker::VALUE => Response::Value(optional(r, "value")?),
                marker::STORED => Response::Stored,
                marker::DELETED => Response::Deleted(r.bool()?),
                marker::CAS_RESULT => Response::CompareAndSet {
                    swapped: r.bool()?,
                    current: optional(r, "current value")?,
                },
                other => {
                    return Err(DecodeError::UnknownInnerMarker {
                        what: "response",
                        marker: other,
                    }
                    .into())
                }
            })
        })
    }
}

fn put_optional(out: &mut BytesMut, value: Option<&[u8]>) {
    put_bool(out, value.is_some());
    if let Some(v) = value {
        put_buffer(out, v);
    }
}

fn optional(r: &mut Reader<'_>, what: &'static str) -> Step<Option<Bytes>> {
    if r.bool()? {
        Ok(Some(r.buffer(what)?))
    } else {
        Ok(None)
    }
}

/// Runs `f` over a bounded body and requires it to consume every byte.
fn whole<T>(
    r: &mut Reader<'_>,
    f: impl FnOnce(&mut Reader<'_>) -> Step<T>,
) -> Result<T, DecodeError> {
    let run = |r: &mut Reader<'_>| {
        let v = f(r)?;
        r.expect_end()?;
        Ok(v)
    };
    match run(r) {
        Ok(v) => Ok(v),
        Err(Stop::Malformed(e)) => Err(e),
        // A bounded reader never asks for more bytes; treat it as truncation if it did.
        Err(Stop::Incomplete) => Err(DecodeError::Truncated { what: "body" }),
    }
}
