//! The body of each message: field order, widths, reader and writer, side by side.
//!
//! Integers are big-endian; terms and indexes are 8 bytes, peer ids 4, flags 1 byte that
//! must be 0 or 1, and opaque data an Int32 length then the bytes.

use bytes::{BufMut, BytesMut};

use super::message::{
    AppendEntries, AppendEntriesReply, Entry, Hello, HelloProof, HelloReply, InstallSnapshot,
    InstallSnapshotReply, RequestVote, RequestVoteReply, NONCE_LEN, PROOF_LEN,
};
use super::types::{LogIndex, PeerId, Term};
use crate::wire::{put_bool, put_buffer, put_len, Reader, Step};
use crate::DecodeError;

// Field widths on the wire.
const TERM: usize = 8;
const INDEX: usize = 8;
const PEER: usize = 4;
const FLAG: usize = 1;
const LEN: usize = 4;
const U64: usize = 8;

/// The body of one message kind: its size, writer and reader, kept side by side so they
/// cannot drift apart.
pub(super) trait Body: Sized {
    /// Size of the body in bytes.
    fn body_len(&self) -> usize;
    /// Appends the body.
    fn write_body(&self, out: &mut BytesMut);
    /// Reads the body from a bounded reader.
    fn read_body(r: &mut Reader<'_>) -> Step<Self>;
}

fn read_term(r: &mut Reader<'_>) -> Step<Term> {
    r.u64().map(Term)
}

fn read_index(r: &mut Reader<'_>) -> Step<LogIndex> {
    r.u64().map(LogIndex)
}

fn read_peer(r: &mut Reader<'_>) -> Step<PeerId> {
    r.u32().map(PeerId)
}

/// A flag byte: exactly 0 or 1, so every message has one encoding and a corrupted flag
/// cannot pass as `true`.
fn read_flag(r: &mut Reader<'_>, what: &'static str) -> Step<bool> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        marker => Err(DecodeError::UnknownInnerMarker { what, marker }.into()),
    }
}

impl Body for Hello {
    fn body_len(&self) -> usize {
        PEER + PEER + NONCE_LEN
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u32(self.from.0);
        out.put_u32(self.to.0);
        out.put_slice(&self.nonce);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(Hello {
            from: read_peer(r)?,
            to: read_peer(r)?,
            nonce: r.array_of()?,
        })
    }
}

impl Body for HelloReply {
    fn body_len(&self) -> usize {
        PEER + NONCE_LEN + PROOF_LEN
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u32(self.from.0);
        out.put_slice(&self.nonce);
        out.put_slice(&self.proof);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(HelloReply {
            from: read_peer(r)?,
            nonce: r.array_of()?,
            proof: r.array_of()?,
        })
    }
}

impl Body for HelloProof {
    fn body_len(&self) -> usize {
        PROOF_LEN
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_slice(&self.proof);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(HelloProof {
            proof: r.array_of()?,
        })
    }
}

impl Body for RequestVote {
    fn body_len(&self) -> usize {
        TERM + PEER + INDEX + TERM + FLAG
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u64(self.term.0);
        out.put_u32(self.candidate.0);
        out.put_u64(self.last_log_index.0);
        out.put_u64(self.last_log_term.0);
        put_bool(out, self.pre_vote);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(RequestVote {
            term: read_term(r)?,
            candidate: read_peer(r)?,
            last_log_index: read_index(r)?,
            last_log_term: read_term(r)?,
            pre_vote: read_flag(r, "pre_vote flag")?,
        })
    }
}

impl Body for RequestVoteReply {
    fn body_len(&self) -> usize {
        TERM + FLAG + FLAG
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u64(self.term.0);
        put_bool(out, self.vote_granted);
        put_bool(out, self.pre_vote);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(RequestVoteReply {
            term: read_term(r)?,
            vote_granted: read_flag(r, "vote_granted flag")?,
            pre_vote: read_flag(r, "pre_vote flag")?,
        })
    }
}

impl Body for Entry {
    fn body_len(&self) -> usize {
        TERM + LEN + self.data.len()
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u64(self.term.0);
        put_buffer(out, &self.data);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(Entry {
            term: read_term(r)?,
            data: r.buffer("entry data")?,
        })
    }
}

impl Body for AppendEntries {
    fn body_len(&self) -> usize {
        let entries: usize = self.entries.iter().map(Body::body_len).sum();
        TERM + PEER + INDEX + TERM + INDEX + LEN + entries + U64
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u64(self.term.0);
        out.put_u32(self.leader.0);
        out.put_u64(self.prev_log_index.0);
        out.put_u64(self.prev_log_term.0);
        out.put_u64(self.leader_commit.0);
        put_len(out, self.entries.len());
        for e in &self.entries {
            e.write_body(out);
        }
        out.put_u64(self.round);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(AppendEntries {
            term: read_term(r)?,
            leader: read_peer(r)?,
            prev_log_index: read_index(r)?,
            prev_log_term: read_term(r)?,
            leader_commit: read_index(r)?,
            entries: r.array("entries", Entry::read_body)?,
            round: r.u64()?,
        })
    }
}

impl Body for AppendEntriesReply {
    fn body_len(&self) -> usize {
        TERM + FLAG + INDEX + U64
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u64(self.term.0);
        put_bool(out, self.success);
        out.put_u64(self.last_log_index.0);
        out.put_u64(self.round);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(AppendEntriesReply {
            term: read_term(r)?,
            success: read_flag(r, "success flag")?,
            last_log_index: read_index(r)?,
            round: r.u64()?,
        })
    }
}

impl Body for InstallSnapshot {
    fn body_len(&self) -> usize {
        TERM + PEER + INDEX + TERM + U64 + LEN + self.data.len() + FLAG
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u64(self.term.0);
        out.put_u32(self.leader.0);
        out.put_u64(self.last_included_index.0);
        out.put_u64(self.last_included_term.0);
        out.put_u64(self.offset);
        put_buffer(out, &self.data);
        put_bool(out, self.done);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(InstallSnapshot {
            term: read_term(r)?,
            leader: read_peer(r)?,
            last_included_index: read_index(r)?,
            last_included_term: read_term(r)?,
            offset: r.u64()?,
            data: r.buffer("snapshot chunk")?,
            done: read_flag(r, "done flag")?,
        })
    }
}

impl Body for InstallSnapshotReply {
    fn body_len(&self) -> usize {
        TERM + U64
    }
    fn write_body(&self, out: &mut BytesMut) {
        out.put_u64(self.term.0);
        out.put_u64(self.next_offset);
    }
    fn read_body(r: &mut Reader<'_>) -> Step<Self> {
        Ok(InstallSnapshotReply {
            term: read_term(r)?,
            next_offset: r.u64()?,
        })
    }
}

/// The largest fixed part of any body: an `AppendEntries` without its entries plus one
/// entry's term and length (60 bytes), or an `InstallSnapshot` without its data (45 bytes).
pub(super) const LARGEST_FIXED_BODY: usize =
    TERM + PEER + INDEX + TERM + INDEX + LEN + TERM + LEN + U64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::PeerMessage;
    use crate::Limits;
    use bytes::Bytes;

    fn body_roundtrip(m: PeerMessage) {
        let mut out = BytesMut::new();
        m.write_body(&mut out);
        assert_eq!(out.len(), m.body_len(), "{m:?}");
        let limits = Limits::DEFAULT;
        let mut r = Reader::bounded(&out, &limits, "body");
        let back = PeerMessage::read_body(m.marker(), &mut r).expect("known marker");
        assert_eq!(back, Ok(m));
        assert_eq!(r.expect_end(), Ok(()));
    }

    #[test]
    fn body_len_matches_what_is_written() {
        body_roundtrip(
            Hello {
                from: PeerId(1),
                to: PeerId(2),
                nonce: [7; NONCE_LEN],
            }
            .into(),
        );
        body_roundtrip(
            HelloReply {
                from: PeerId(2),
                nonce: [8; NONCE_LEN],
                proof: [9; PROOF_LEN],
            }
            .into(),
        );
        body_roundtrip(
            HelloProof {
                proof: [10; PROOF_LEN],
            }
            .into(),
        );
        body_roundtrip(
            AppendEntries {
                term: Term(1),
                leader: PeerId(2),
                prev_log_index: LogIndex(3),
                prev_log_term: Term(1),
                leader_commit: LogIndex(2),
                entries: vec![
                    Entry {
                        term: Term(1),
                        data: Bytes::from_static(b"abc"),
                    },
                    Entry {
                        term: Term(1),
                        data: Bytes::new(),
                    },
                ],
                round: 9,
            }
            .into(),
        );
        body_roundtrip(
            AppendEntriesReply {
                term: Term(1),
                success: true,
                last_log_index: LogIndex(3),
                round: 9,
            }
            .into(),
        );
        body_roundtrip(
            InstallSnapshot {
                term: Term(1),
                leader: PeerId(2),
                last_included_index: LogIndex(3),
                last_included_term: Term(1),
                offset: 10,
                data: Bytes::from_static(b"xy"),
                done: true,
            }
            .into(),
        );
    }

    #[test]
    fn flags_other_than_zero_or_one_are_rejected() {
        let limits = Limits::DEFAULT;
        let mut r = Reader::bounded(&[2], &limits, "body");
        assert!(matches!(
            read_flag(&mut r, "done flag"),
            Err(crate::wire::Stop::Malformed(
                DecodeError::UnknownInnerMarker { marker: 2, .. }
            ))
        ));
    }

    #[test]
    fn largest_fixed_body_covers_every_fixed_part() {
        let snapshot_fixed = InstallSnapshot {
            term: Term(0),
            leader: PeerId(0),
            last_included_index: LogIndex(0),
            last_included_term: Term(0),
            offset: 0,
            data: Bytes::new(),
            done: false,
        }
        .body_len();
        assert!(snapshot_fixed <= LARGEST_FIXED_BODY);
        assert_eq!(LARGEST_FIXED_BODY, 60);
    }
}
