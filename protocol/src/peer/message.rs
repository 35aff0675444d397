//! The peer messages and their bodies: what each carries and in which order.
//!
//! Each message is its own struct; [`PeerMessage`] is the enum a connection carries. The
//! field layout of each body is in `body.rs`, framing (marker, length, CRC32) in
//! `frame.rs`.

use bytes::{Bytes, BytesMut};

use super::body::Body;
use super::types::{LogIndex, PeerId, Term};
use crate::wire::{Reader, Step};

/// The marker bytes that open each peer frame. Requests are upper case, their answers the
/// same letter in lower case.
pub mod marker {
    /// 'C': [`Hello`](super::Hello), the dialer names itself, the peer it means to
    /// reach, and its nonce.
    pub const HELLO: u8 = b'C';
    /// 'c': [`HelloReply`](super::HelloReply), the acceptor names itself and proves it
    /// holds the cluster secret.
    pub const HELLO_REPLY: u8 = b'c';
    /// 'P': [`HelloProof`](super::HelloProof), the dialler proves it holds the secret.
    pub const HELLO_PROOF: u8 = b'P';
    /// 'V': [`RequestVote`](super::RequestVote).
    pub const REQUEST_VOTE: u8 = b'V';
    /// 'v': [`RequestVoteReply`](super::RequestVoteReply).
    pub const REQUEST_VOTE_REPLY: u8 = b'v';
    /// 'A': [`AppendEntries`](super::AppendEntries).
    pub const APPEND_ENTRIES: u8 = b'A';
    /// 'a': [`AppendEntriesReply`](super::AppendEntriesReply).
    pub const APPEND_ENTRIES_REPLY: u8 = b'a';
    /// 'S': [`InstallSnapshot`](super::InstallSnapshot).
    pub const INSTALL_SNAPSHOT: u8 = b'S';
    /// 's': [`InstallSnapshotReply`](super::InstallSnapshotReply).
    pub const INSTALL_SNAPSHOT_REPLY: u8 = b's';
    /// Every marker a peer frame may start with.
    pub const ALL: [u8; 9] = [
        HELLO,
        HELLO_REPLY,
        HELLO_PROOF,
        REQUEST_VOTE,
        REQUEST_VOTE_REPLY,
        APPEND_ENTRIES,
        APPEND_ENTRIES_REPLY,
        INSTALL_SNAPSHOT,
        INSTALL_SNAPSHOT_REPLY,
    ];
}

/// Bytes of a hello's nonce: fresh for every connection, from the injected RNG.
pub const NONCE_LEN: usize = 16;

/// Bytes of a hello's proof: an HMAC-SHA256 (computed by the node, not this crate).
pub const PROOF_LEN: usize = 32;

/// 'C': the first frame on a connection, sent by the side that dialled it.
///
/// Requests name their sender anyway (`candidate`, `leader`); the hello lets the acceptor
/// refuse a stranger, and replace an older connection from the same peer, before any
/// request arrives. Its nonce and the acceptor's ([`HelloReply`]) are what both sides'
/// proofs sign, so no proof is good for another connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hello {
    /// The dialling node.
    pub from: PeerId,
    /// The node it means to reach: an acceptor that is someone else refuses, so a hello
    /// meant for one node cannot be relayed to another.
    pub to: PeerId,
    /// The dialler's nonce for this connection.
    pub nonce: [u8; NONCE_LEN],
}

/// 'c': the acceptor's answer to [`Hello`]. A refusal is not a message: the acceptor
/// closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HelloReply {
    /// The accepting node, so the dialler can check it reached the peer it meant to.
    pub from: PeerId,
    /// The acceptor's nonce for this connection.
    pub nonce: [u8; NONCE_LEN],
    /// The acceptor's proof that it holds the cluster secret, over both ids and both
    /// nonces.
    pub proof: [u8; PROOF_LEN],
}

/// 'P': the dialler's answer to [`HelloReply`], its own proof. The acceptor steps no
/// frame of the connection before this one checked out; nothing answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HelloProof {
    /// The dialler's proof that it holds the cluster secret, over both ids and both
    /// nonces.
    pub proof: [u8; PROOF_LEN],
}

/// 'V': a candidate asks for a vote (or, with `pre_vote`, asks whether it would get one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestVote {
    /// The candidate's term; for a pre-vote, the term it would campaign in.
    pub term: Term,
    /// The candidate.
    pub candidate: PeerId,
    /// Index of the candidate's last log entry (0 if its log is empty).
    pub last_log_index: LogIndex,
    /// Term of the candidate's last log entry (0 if its log is empty).
    pub last_log_term: Term,
    /// True for a pre-vote (Raft thesis 9.6): the receiver answers but changes no state.
    pub pre_vote: bool,
}

/// 'v': the answer to [`RequestVote`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestVoteReply {
    /// The voter's current term, for the candidate to update itself.
    pub term: Term,
    /// True if the vote (or pre-vote) is granted.
    pub vote_granted: bool,
    /// Echoes the request's `pre_vote`, so a late answer cannot be counted in the wrong
    /// kind of election.
    pub pre_vote: bool,
}

/// One log entry as replicated: its term and the command bytes, which this crate does not
/// interpret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The term in which the leader created the entry.
    pub term: Term,
    /// The command, opaque here (the `node` crate encodes it).
    pub data: Bytes,
}

/// 'A': the leader replicates entries (none for a heartbeat).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppendEntries {
    /// The leader's term.
    pub term: Term,
    /// The leader, so followers can redirect clients.
    pub leader: PeerId,
    /// Index of the entry just before `entries`.
    pub prev_log_index: LogIndex,
    /// Term of the entry at `prev_log_index`.
    pub prev_log_term: Term,
    /// The leader's commit index.
    pub leader_commit: LogIndex,
    /// The entries at `prev_log_index + 1` onwards, oldest first.
    pub entries: Vec<Entry>,
    /// The leader's read round when it sent this message: a number that never repeats
    /// within the leader's term. The follower echoes it in its [`AppendEntriesReply`], so
    /// the leader can tell which message a reply answers (`node::raft` uses it to confirm
    /// linearizable reads).
    pub round: u64,
}

/// 'a': the answer to [`AppendEntries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppendEntriesReply {
    /// The follower's current term.
    pub term: Term,
    /// True if the follower's log matched at `prev_log_index` and now holds the entries.
    pub success: bool,
    /// On success, the follower's match index (`prev_log_index` + number of entries); on
    /// failure, a hint: the index the leader should try next as `prev_log_index` (for
    /// example the follower's last index when its log is too short).
    pub last_log_index: LogIndex,
    /// The `round` of the [`AppendEntries`] this answers. A refusal carrying a newer term
    /// than the request's (one that only tells a deposed leader to step down) echoes 0.
    pub round: u64,
}

/// 'S': one chunk of a snapshot the leader sends to a follower that lags behind its log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstallSnapshot {
    /// The leader's term.
    pub term: Term,
    /// The leader.
    pub leader: PeerId,
    /// The snapshot replaces every entry up to and including this index.
    pub last_included_index: LogIndex,
    /// Term of the entry at `last_included_index`.
    pub last_included_term: Term,
    /// Byte offset of `data` within the snapshot.
    pub offset: u64,
    /// This chunk's bytes, opaque here.
    pub data: Bytes,
    /// True on the last chunk.
    pub done: bool,
}

/// 's': the answer to [`InstallSnapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstallSnapshotReply {
    /// The follower's current term.
    pub term: Term,
    /// How many bytes of the snapshot the follower holds, which is the offset it expects
    /// next; the leader resumes from there (or restarts from 0 if it is 0).
    pub next_offset: u64,
}

/// One frame of the peer protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerMessage {
    /// 'C'
    Hello(Hello),
    /// 'c'
    HelloReply(HelloReply),
    /// 'P'
    HelloProof(HelloProof),
    /// 'V'
    RequestVote(RequestVote),
    /// 'v'
    RequestVoteReply(RequestVoteReply),
    /// 'A'
    AppendEntries(AppendEntries),
    /// 'a'
    AppendEntriesReply(AppendEntriesReply),
    /// 'S'
    InstallSnapshot(InstallSnapshot),
    /// 's'
    InstallSnapshotReply(InstallSnapshotReply),
}

impl PeerMessage {
    /// The marker byte this message's frame starts with.
    pub fn marker(&self) -> u8 {
        match self {
            PeerMessage::Hello(_) => marker::HELLO,
            PeerMessage::HelloReply(_) => marker::HELLO_REPLY,
            PeerMessage::HelloProof(_) => marker::HELLO_PROOF,
            PeerMessage::RequestVote(_) => marker::REQUEST_VOTE,
            PeerMessage::RequestVoteReply(_) => marker::REQUEST_VOTE_REPLY,
            PeerMessage::AppendEntries(_) => marker::APPEND_ENTRIES,
            PeerMessage::AppendEntriesReply(_) => marker::APPEND_ENTRIES_REPLY,
            PeerMessage::InstallSnapshot(_) => marker::INSTALL_SNAPSHOT,
            PeerMessage::InstallSnapshotReply(_) => marker::INSTALL_SNAPSHOT_REPLY,
        }
    }

    /// The sender's term, carried by every message except the handshake's.
    pub fn term(&self) -> Option<Term> {
        match self {
            PeerMessage::Hello(_) | PeerMessage::HelloReply(_) | PeerMessage::HelloProof(_) => None,
            PeerMessage::RequestVote(m) => Some(m.term),
            PeerMessage::RequestVoteReply(m) => Some(m.term),
            PeerMessage::AppendEntries(m) => Some(m.term),
            PeerMessage::AppendEntriesReply(m) => Some(m.term),
            PeerMessage::InstallSnapshot(m) => Some(m.term),
            PeerMessage::InstallSnapshotReply(m) => Some(m.term),
        }
    }

    /// Size of the body alone, without the 5-byte header and the 4-byte trailer.
    pub fn body_len(&self) -> usize {
        match self {
            PeerMessage::Hello(m) => m.body_len(),
            PeerMessage::HelloReply(m) => m.body_len(),
            PeerMessage::HelloProof(m) => m.body_len(),
            PeerMessage::RequestVote(m) => m.body_len(),
            PeerMessage::RequestVoteReply(m) => m.body_len(),
            PeerMessage::AppendEntries(m) => m.body_len(),
            PeerMessage::AppendEntriesReply(m) => m.body_len(),
            PeerMessage::InstallSnapshot(m) => m.body_len(),
            PeerMessage::InstallSnapshotReply(m) => m.body_len(),
        }
    }

    /// Writes the body's fields.
    pub(super) fn write_body(&self, out: &mut BytesMut) {
        match self {
            PeerMessage::Hello(m) => m.write_body(out),
            PeerMessage::HelloReply(m) => m.write_body(out),
            PeerMessage::HelloProof(m) => m.write_body(out),
            PeerMessage::RequestVote(m) => m.write_body(out),
            PeerMessage::RequestVoteReply(m) => m.write_body(out),
            PeerMessage::AppendEntries(m) => m.write_body(out),
            PeerMessage::AppendEntriesReply(m) => m.write_body(out),
            PeerMessage::InstallSnapshot(m) => m.write_body(out),
            PeerMessage::InstallSnapshotReply(m) => m.write_body(out),
        }
    }

    /// Reads the body of a frame whose marker is `marker` from a bounded reader; `None`
    /// if the marker is not a peer marker.
    pub(super) fn read_body(marker: u8, r: &mut Reader<'_>) -> Option<Step<PeerMessage>> {
        Some(match marker {
            marker::HELLO => Hello::read_body(r).map(PeerMessage::Hello),
            marker::HELLO_REPLY => HelloReply::read_body(r).map(PeerMessage::HelloReply),
            marker::HELLO_PROOF => HelloProof::read_body(r).map(PeerMessage::HelloProof),
            marker::REQUEST_VOTE => RequestVote::read_body(r).map(PeerMessage::RequestVote),
            marker::REQUEST_VOTE_REPLY => {
                RequestVoteReply::read_body(r).map(PeerMessage::RequestVoteReply)
            }
            marker::APPEND_ENTRIES => AppendEntries::read_body(r).map(PeerMessage::AppendEntries),
            marker::APPEND_ENTRIES_REPLY => {
                AppendEntriesReply::read_body(r).map(PeerMessage::AppendEntriesReply)
            }
            marker::INSTALL_SNAPSHOT => {
                InstallSnapshot::read_body(r).map(PeerMessage::InstallSnapshot)
            }
            marker::INSTALL_SNAPSHOT_REPLY => {
                InstallSnapshotReply::read_body(r).map(PeerMessage::InstallSnapshotReply)
            }
            _ => return None,
        })
    }

    /// The name of a marker's message, used as the `what` of `Truncated` errors.
    pub(super) fn name_of(marker: u8) -> &'static str {
        match marker {
            marker::HELLO => "Hello",
            marker::HELLO_REPLY => "HelloReply",
            marker::HELLO_PROOF => "HelloProof",
            marker::REQUEST_VOTE => "RequestVote",
            marker::REQUEST_VOTE_REPLY => "RequestVoteReply",
            marker::APPEND_ENTRIES => "AppendEntries",
            marker::APPEND_ENTRIES_REPLY => "AppendEntriesReply",
            marker::INSTALL_SNAPSHOT => "InstallSnapshot",
            marker::INSTALL_SNAPSHOT_REPLY => "InstallSnapshotReply",
            _ => "peer frame",
        }
    }
}

macro_rules! impl_from {
    ($($t:ident),*) => {$(
        impl From<$t> for PeerMessage {
            fn from(m: $t) -> Self {
                PeerMessage::$t(m)
            }
        }
    )*};
}

impl_from!(
    Hello,
    HelloReply,
    HelloProof,
    RequestVote,
    RequestVoteReply,
    AppendEntries,
    AppendEntriesReply,
    InstallSnapshot,
    InstallSnapshotReply
);
