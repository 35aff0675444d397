//! Binary encoding of what the node keeps on disk (log records, snapshots).
//!
//! These bytes never cross the network, so the format is private to the node: big-endian
//! integers, `u32` length-prefixed byte strings. A record that does not decode is reported
//! as [`Corrupt`]; the log's CRC makes that a sign of a bug rather than of a torn write.

use bytes::{BufMut, Bytes, BytesMut};
use protocol::ecs::HostPort;
use thiserror::Error;

/// A stored record does not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("corrupt stored record: {0}")]
pub struct Corrupt(pub String);

/// Reads fields from a stored record.
pub struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Corrupt> {
        if self.buf.len() < n {
            return Err(Corrupt(format!("{what} runs past the end")));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// One byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, Corrupt> {
        Ok(self.take(1, what)?[0])
    }

    /// A big-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32, Corrupt> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64, Corrupt> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A u32-length-prefixed byte string.
    pub fn bytes(&mut self, what: &str) -> Result<Bytes, Corrupt> {
        let len = self.u32(what)? as usize;
        Ok(Bytes::copy_from_slice(self.take(len, what)?))
    }

    /// A u32-length-prefixed UTF-8 string.
    pub fn string(&mut self, what: &str) -> Result<String, Corrupt> {
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| Corrupt(format!("{what} is not UTF-8")))
    }

    /// A `host:port` address.
    pub fn host_port(&mut self, what: &str) -> Result<HostPort, Corrupt> {
        let s = self.string(what)?;
        s.parse()
            .map_err(|_| Corrupt(format!("{what} {s:?} is not host:port")))
    }

    /// The bytes not yet read.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self, what: &str) -> Result<(), Corrupt> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Corrupt(format!(
                "{} bytes left after {what}",
                self.buf.len()
            )))
        }
    }
}

/// Writes a u32-length-prefixed byte string.
pub fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_u32(b.len() as u32);
    out.put_slice(b);
}

/// Writes a `host:port` address.
pub fn put_host_port(out: &mut BytesMut, a: &HostPort) {
    put_bytes(out, a.to_string().as_bytes());
}
