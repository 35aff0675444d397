//! Wire formats of the store, and nothing else: no sockets, no files, no clocks.
//!
//! - [`client`]: the binary client protocol of `client-protocol.ru.md` (packets `C c e l A a
//!   B b M m`) and the store's commands carried inside `C` and answered inside `c`.
//! - [`ecs`]: the text-line protocol between the ECS and the nodes (`ecs-protocol.md`),
//!   with the item encoding and splitter for `ecs_put` transfers.
//! - [`peer`]: the Raft RPCs between members of one replica group, framed with a CRC32
//!   trailer.
//! - [`wire`]: the binary building blocks the client and peer formats share.
//!
//! Binary decoders take a byte slice and return `Ok(None)` when it holds only part of a
//! frame (nothing consumed), `Ok(Some((msg, used)))` for a whole frame, and a typed error
//! for bytes that can never become one. Encoders append to a `BytesMut` and cannot fail.
//! `docs/protocol.md` describes every format byte by byte.
#![warn(missing_docs)]

pub mod client;
pub mod ecs;
pub mod peer;
pub mod wire;

pub use wire::{DecodeError, Limits};
