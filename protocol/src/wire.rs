//! Binary building blocks shared by the client and peer formats: big-endian integers,
//! length-prefixed fields, and a `Reader` that tells "need more bytes" apart from
//! "malformed".
//!
//! Every length and count is checked against [`Limits`] before anything is allocated or
//! waited for, so a hostile peer cannot make a decoder reserve memory by lying about a size.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Upper bounds a decoder enforces on the sizes a frame declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest String or Buffer body, in bytes.
    pub max_field_len: usize,
    /// Largest number of items in one Array.
    pub max_array_len: usize,
}

impl Limits {
    /// The defaults: 8 MiB per field, 65 536 items per array.
    pub const DEFAULT: Limits = Limits {
        max_field_len: 8 * 1024 * 1024,
        max_array_len: 65_536,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Why a binary frame could not be decoded. Each variant closes the connection it came on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The first byte of a frame names no known packet.
    #[error("unknown packet marker {0:#04x}")]
    UnknownMarker(u8),
    /// A marker inside a frame (auth type, command, answer, entry kind) is unknown.
    #[error("unknown {what} marker {marker:#04x}")]
    UnknownInnerMarker {
        /// Which kind of marker it was.
        what: &'static str,
        /// The byte found.
        marker: u8,
    },
    /// A length or count field is negative.
    #[error("{what} has negative length {len}")]
    NegativeLength {
        /// The field.
        what: &'static str,
        /// The value found.
        len: i32,
    },
    /// A length or count field exceeds the configured maximum.
    #[error("{what} of {len} exceeds the maximum of {max}")]
    TooLong {
        /// The field.
        what: &'static str,
        /// The declared size.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A String field is not valid UTF-8.
    #[error("{what} is not valid UTF-8")]
    BadUtf8 {
        /// The field.
        what: &'static str,
    },
    /// A body whose length is known ended before its fields did.
    #[error("{what} ends before its fields do")]
    Truncated {
        /// The body being read.
        what: &'static str,
    },
    /// A body whose length is known has bytes left over after its last field.
    #[error("{0} trailing bytes after the last field")]
    TrailingBytes(usize),
    /// A frame's CRC32 trailer does not match its contents.
    #[error("checksum mismatch: frame says {expected:#010x}, contents give {actual:#010x}")]
    BadChecksum {
        /// The checksum carried by the frame.
        expected: u32,
        /// The checksum of the bytes received.
        actual: u32,
    },
}

/// What stopped a [`Reader`]: the input ran out, or it is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// More bytes are needed; nothing is consumed.
    Incomplete,
    /// The input can never become a valid frame.
    Malformed(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(e: DecodeError) -> Self {
        Stop::Malformed(e)
    }
}

/// Result of one read step.
pub(crate) type Step<T> = Result<T, Stop>;

/// Turns a frame-level read result into the public decoder shape:
/// `Ok(None)` for "need more bytes".
pub(crate) fn finish_frame<T>(r: Step<(T, usize)>) -> Result<Option<(T, usize)>, DecodeError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Malformed(e)) => Err(e),
    }
}

/// A cursor over a byte slice that reads big-endian fields.
///
/// A reader is either *streaming* (running out of bytes means "wait for more") or *bounded*
/// (the slice is a whole body whose length was already known, so running out is malformed).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: &'a Limits,
    bounded: Option<&'static str>,
}

impl<'a> Reader<'a> {
    /// A reader over the front of a stream buffer.
    pub(crate) fn streaming(buf: &'a [u8], limits: &'a Limits) -> Self {
        Reader {
            buf,
            pos: 0,
            limits,
            bounded: None,
        }
    }

    /// A reader over a complete body called `what`.
    pub(crate) fn bounded(buf: &'a [u8], limits: &'a Limits, what: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            limits,
            bounded: Some(what),
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Step<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(match self.bounded {
                None => Stop::Incomplete,
                Some(what) => Stop::Malformed(DecodeError::Truncated { what }),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// One unsigned byte.
    pub(crate) fn u8(&mut self) -> Step<u8> {
        Ok(self.take(1)?[0])
    }

    /// A Bool: one byte, non-zero is true.
    pub(crate) fn bool(&mut self) -> Step<bool> {
        Ok(self.u8()? != 0)
    }

    /// A signed big-endian Int32.
    pub(crate) fn i32(&mut self) -> Step<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned big-endian 32-bit integer.
    pub(crate) fn u32(&mut self) -> Step<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Exactly `N` raw bytes (a nonce, a MAC).
    pub(crate) fn array_of<const N: usize>(&mut self) -> Step<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// An unsigned big-endian 64-bit integer.
    pub(crate) fn u64(&mut self) -> Step<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// An Int32 length or count, checked to be non-negative and at most `max`.
    pub(crate) fn length(&mut self, what: &'static str, max: usize) -> Step<usize> {
        let len = self.i32()?;
        if len < 0 {
            return Err(DecodeError::NegativeLength { what, len }.into());
        }
        let len = len as usize;
        if len > max {
            return Err(DecodeError::TooLong { what, len, max }.into());
        }
        Ok(len)
    }

    /// A Buffer's body as a borrowed slice (length checked before anything else).
    pub(crate) fn buffer_slice(&mut self, what: &'static str) -> Step<&'a [u8]> {
        let len = self.length(what, self.limits.max_field_len)?;
        self.take(len)
    }

    /// A Buffer: Int32 length, then that many bytes.
    pub(crate) fn buffer(&mut self, what: &'static str) -> Step<Bytes> {
        Ok(Bytes::copy_from_slice(self.buffer_slice(what)?))
    }

    /// A String: Int32 length, then that many UTF-8 bytes.
    pub(crate) fn string(&mut self, what: &'static str) -> Step<String> {
        let b = self.buffer_slice(what)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::BadUtf8 { what }.into()),
        }
    }

    /// An Array: Int32 count, then the items, each read by `item`.
    ///
    /// The vector grows only as items actually arrive, so a large declared count costs
    /// nothing until the bytes are there.
    pub(crate) fn array<T>(
        &mut self,
        what: &'static str,
        mut item: impl FnMut(&mut Self) -> Step<T>,
    ) -> Step<Vec<T>> {
        let count = self.length(what, self.limits.max_array_len)?;
        let mut items = Vec::new();
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }

    /// Checks that a bounded body has been read to its end.
    pub(crate) fn expect_end(&self) -> Step<()> {
        let left = self.buf.len() - self.pos;
        if left != 0 {
            return Err(DecodeError::TrailingBytes(left).into());
        }
        Ok(())
    }
}

/// Writes an Int32 length. Panics if `len` exceeds `i32::MAX`, which no field within the
/// decoders' limits can reach.
pub(crate) fn put_len(out: &mut BytesMut, len: usize) {
    let len = i32::try_from(len).expect("field longer than i32::MAX bytes");
    out.put_i32(len);
}

/// Writes a Buffer: Int32 length, then the bytes.
pub(crate) fn put_buffer(out: &mut BytesMut, b: &[u8]) {
    put_len(out, b.len());
    out.put_slice(b);
}

/// Writes a String: Int32 length, then the UTF-8 bytes.
pub(crate) fn put_string(out: &mut BytesMut, s: &str) {
    put_buffer(out, s.as_bytes());
}

/// Writes a Bool as 1 or 0.
pub(crate) fn put_bool(out: &mut BytesMut, b: bool) {
    out.put_u8(u8::from(b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_reader_reports_incomplete_and_bounded_reports_truncated() {
        let limits = Limits::DEFAULT;
        let bytes = [0, 0, 0, 5, b'a'];
        let mut r = Reader::streaming(&bytes, &limits);
        assert_eq!(r.buffer("x"), Err(Stop::Incomplete));
        let mut r = Reader::bounded(&bytes, &limits, "body");
        assert_eq!(
            r.buffer("x"),
            Err(Stop::Malformed(DecodeError::Truncated { what: "body" }))
        );
    }

    #[test]
    fn lengths_are_checked_before_waiting_for_the_body() {
        let limits = Limits {
            max_field_len: 4,
            max_array_len: 2,
        };
        let mut r = Reader::streaming(&[0, 0, 0, 5], &limits);
        assert_eq!(
            r.buffer("key"),
            Err(Stop::Malformed(DecodeError::TooLong {
                what: "key",
                len: 5,
                max: 4
            }))
        );
        let mut r = Reader::streaming(&[0xff, 0xff, 0xff, 0xff], &limits);
        assert_eq!(
            r.buffer("key"),
            Err(Stop::Malformed(DecodeError::NegativeLength {
                what: "key",
                len: -1
            }))
        );
        let mut r = Reader::streaming(&[0, 0, 0, 3], &limits);
        assert!(matches!(
            r.array("list", |r| r.u8()),
            Err(Stop::Malformed(DecodeError::TooLong { len: 3, max: 2, .. }))
        ));
    }
}
