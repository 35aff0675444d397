//! The Raft RPCs between the members of one replica group, and their wire format.
//!
//! Modelled on TaskFlux's inter-node protocol: one marker byte per packet, requests in
//! upper case and their answers in lower case, big-endian integers, a CRC32 over the
//! packet. Unlike TaskFlux, *every* frame has the same shape (marker, Int32 body length,
//! body, CRC32 over all of it), so a receiver can bound and verify any frame without
//! knowing its kind. `docs/protocol.md` ("Peer protocol") has the byte-level tables.
//!
//! | marker | message             | answered by                  |
//! |--------|---------------------|------------------------------|
//! | 'C'    | [`Hello`]           | 'c' [`HelloReply`]           |
//! | 'P'    | [`HelloProof`]      | -                            |
//! | 'V'    | [`RequestVote`]     | 'v' [`RequestVoteReply`]     |
//! | 'A'    | [`AppendEntries`]   | 'a' [`AppendEntriesReply`]   |
//! | 'S'    | [`InstallSnapshot`] | 's' [`InstallSnapshotReply`] |
//!
//! A connection is dialled by the side with requests to send; it starts with 'C', 'c' and
//! 'P' (a mutual challenge–response over the cluster secret: the proofs are the node's
//! business, the bytes are this crate's), and every request on it is answered, in order,
//! on the same connection.
//!
//! This module owns the message types and their bytes. It must not decide anything about
//! Raft: what a term or a hint means, when to send what, and what to do with a peer that
//! sends garbage belong to the `node` crate. The newtypes [`Term`], [`LogIndex`] and
//! [`PeerId`] live here so both sides of the wire share them.

mod body;
mod frame;
mod message;
mod types;

pub use frame::{max_body_len, BODY_ALLOWANCE, HEADER_LEN, TRAILER_LEN};
pub use message::{
    marker, AppendEntries, AppendEntriesReply, Entry, Hello, HelloProof, HelloReply,
    InstallSnapshot, InstallSnapshotReply, PeerMessage, RequestVote, RequestVoteReply, NONCE_LEN,
    PROOF_LEN,
};
pub use types::{LogIndex, PeerId, Term};
