//! Framing: marker, Int32 body length, body, CRC32 trailer; and the size bound on bodies.
//!
//! ```text
//! +--------+----------------+----------------------+------------------+
//! | marker | body length    | body                 | CRC32 (IEEE)     |
//! | 1 byte | Int32 BE, >= 0 | `body length` bytes  | UInt32 BE        |
//! +--------+----------------+----------------------+------------------+
//!  \______________ covered by the CRC ____________/
//! ```
//!
//! The decoder checks, in this order and each as soon as its bytes are there: the marker is
//! known, the length is within [`max_body_len`], the whole frame has arrived, the CRC
//! matches, and only then parses the body (with a bounded reader, so a short body is
//! `Truncated` and a long one `TrailingBytes`). Corrupted bytes therefore surface as
//! `BadChecksum` rather than as whatever the body parser would make of them.

use bytes::{BufMut, BytesMut};

use super::body::LARGEST_FIXED_BODY;
use super::message::PeerMessage;
use crate::wire::{finish_frame, put_len, Reader, Step, Stop};
use crate::{DecodeError, Limits};

/// Bytes before the body: the marker and the Int32 body length.
pub const HEADER_LEN: usize = 1 + 4;

/// Bytes after the body: the CRC32.
pub const TRAILER_LEN: usize = 4;

/// How far a body may exceed [`Limits::max_field_len`]: room for the fixed fields around
/// one full-size field (an `AppendEntries` with one entry needs 60 bytes besides the
/// entry's data, an `InstallSnapshot` without its data 45).
pub const BODY_ALLOWANCE: usize = 64;

// The allowance must hold the largest fixed part, or a full-size field would not fit.
const _: () = assert!(LARGEST_FIXED_BODY <= BODY_ALLOWANCE);

/// The largest body length a decoder with these limits accepts:
/// `limits.max_field_len + BODY_ALLOWANCE`, capped at `i32::MAX`.
///
/// So one entry or one snapshot chunk of up to `max_field_len` bytes always fits in a
/// frame, but a batch of entries must fit *together*: a leader sizes its `AppendEntries`
/// with [`PeerMessage::body_len`] against this bound. The encoder does not enforce it; a
/// larger frame is rejected by the receiver with `TooLong`.
pub fn max_body_len(limits: &Limits) -> usize {
    limits
        .max_field_len
        .saturating_add(BODY_ALLOWANCE)
        .min(i32::MAX as usize)
}

impl PeerMessage {
    /// Decodes one frame from the front of `buf`.
    ///
    /// `Ok(None)`: `buf` holds only part of a frame; nothing is consumed, call again with
    /// more bytes. `Ok(Some((msg, used)))`: a whole frame of `used` bytes. `Err`: the bytes
    /// can never become a frame (unknown marker, length out of bounds, checksum mismatch,
    /// malformed body); the connection should be closed.
    ///
    /// The body length is checked against [`max_body_len`] as soon as the 5-byte header
    /// is there, before waiting for the body.
    pub fn decode(
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(PeerMessage, usize)>, DecodeError> {
        finish_frame(read_frame(buf, limits))
    }

    /// Appends this message's frame to `out`.
    ///
    /// # Panics
    ///
    /// If a length does not fit an Int32 (a body or a field over 2 GiB), which no frame
    /// within any decoder's limits can reach.
    pub fn encode(&self, out: &mut BytesMut) {
        let body_len = self.body_len();
        out.reserve(HEADER_LEN + body_len + TRAILER_LEN);
        let start = out.len();
        out.put_u8(self.marker());
        put_len(out, body_len);
        self.write_body(out);
        debug_assert_eq!(out.len() - start, HEADER_LEN + body_len);
        let crc = crc32fast::hash(&out[start..]);
        out.put_u32(crc);
    }

    /// The size of this message's whole frame: header, body and trailer.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body_len() + TRAILER_LEN
    }
}

fn read_frame(buf: &[u8], limits: &Limits) -> Step<(PeerMessage, usize)> {
    let mut header = Reader::streaming(buf, limits);
    let marker = header.u8()?;
    if !super::marker::ALL.contains(&marker) {
        return Err(DecodeError::UnknownMarker(marker).into());
    }
    let body_len = header.length("peer frame body", max_body_len(limits))?;
    let body_end = HEADER_LEN + body_len;
    let frame_len = body_end + TRAILER_LEN;
    if buf.len() < frame_len {
        return Err(Stop::Incomplete);
    }
    let covered = &buf[..body_end];
    let expected = Reader::streaming(&buf[body_end..frame_len], limits).u32()?;
    let actual = crc32fast::hash(covered);
    if expected != actual {
        return Err(DecodeError::BadChecksum { expected, actual }.into());
    }
    let what = PeerMessage::name_of(marker);
    let mut body = Reader::bounded(&covered[HEADER_LEN..], limits, what);
    let msg = match PeerMessage::read_body(marker, &mut body) {
        Some(msg) => msg?,
        None => return Err(DecodeError::UnknownMarker(marker).into()),
    };
    body.expect_end()?;
    Ok((msg, frame_len))
}
