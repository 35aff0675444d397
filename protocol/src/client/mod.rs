//! The binary client protocol of `client-protocol.ru.md`.
//!
//! [`Packet`] is the seed's ten packets, byte for byte: big-endian, Int32 signed,
//! String/Buffer as an Int32 length then the bytes, Array as an Int32 count then the items,
//! Bool as one byte (non-zero is true). [`Request`] and [`Response`] are the store's own
//! commands and answers, which travel inside the Buffers of 'C' and 'c'.
//!
//! A connection goes 'A' -> 'a', 'B' -> 'b', then any number of 'M' and 'C'. This module
//! only encodes and decodes; the node and the client library own the conversation.

mod command;
mod packet;

pub use command::{is_retryable, Command, Request, Response, SessionTag, RETRYABLE_PREFIX};
pub use packet::{AuthMethod, GroupInfo, Outcome, Packet, ViewNode};

/// The protocol version this crate speaks, sent in 'B'. A node accepts any client with the
/// same major version.
pub const PROTOCOL_VERSION: (i32, i32, i32) = (1, 0, 0);
