//! A write-ahead log of checksummed records on a [`Disk`].
//!
//! Each record is `u32 length | u32 CRC32 of the payload | payload`, big-endian. On open,
//! records are read back in order. A power loss can cut the last write short: only a
//! prefix of it reaches the disk, so the file ends in at most one partial record (its
//! header says it is longer than what is left, or what is left is shorter than a header,
//! or it is the last record and fails its checksum), or in zeros a file system extended
//! the file with (so a trailing empty record is indistinguishable from them; the Raft
//! store never writes one). That torn tail is cut off so new
//! records follow good ones. A record that fails its checksum, or has an impossible
//! length, with more bytes after it is not a torn write but corruption of data that was
//! synced: `open` refuses it with [`io::ErrorKind::InvalidData`] instead of dropping the
//! synced records after it.

use std::io;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};

use crate::io::{Disk, LogFile};

/// Largest record accepted on read-back; a header claiming more is corrupted.
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

const HEADER_BYTES: usize = 8;

/// An open log.
pub struct Wal<D: Disk> {
    log: D::Log,
    path: PathBuf,
    len_bytes: u64,
    pending: BytesMut,
}

/// What [`Wal::open`] found on disk.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The intact records, oldest first.
    pub records: Vec<Bytes>,
    /// Bytes cut off the end because they did not form a whole record.
    pub torn_bytes: u64,
}

impl<D: Disk> Wal<D> {
    /// Opens the log at `path` (creating it if needed) and reads back its records.
    pub fn open(disk: &D, path: &Path) -> io::Result<(Self, Recovered)> {
        let contents = disk.read(path)?.unwrap_or_default();
        let (records, good) = parse_records(&contents).map_err(|at| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: the record at byte {at} is corrupted and {} bytes follow it; only \
                     the last record can be torn by a power loss, so data that was synced is \
                     damaged: refusing to read this log",
                    path.display(),
                    contents.len() - at
                ),
            )
        })?;
        let mut log = disk.open_log(path)?;
        let torn_bytes = (contents.len() - good) as u64;
        if torn_bytes > 0 {
            log.truncate(good as u64)?;
        }
        let wal = Wal {
            log,
            path: path.to_path_buf(),
            len_bytes: good as u64,
            pending: BytesMut::new(),
        };
        Ok((
            wal,
            Recovered {
                records,
                torn_bytes,
            },
        ))
    }

    /// Replaces the log at `path` with exactly `records`, atomically and durably, and
    /// opens it for appending.
    pub fn replace<'a>(
        disk: &D,
        path: &Path,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> io::Result<Self> {
        let mut bytes = BytesMut::new();
        for payload in records {
            frame(&mut bytes, payload);
        }
        disk.replace(path, &bytes)?;
        let log = disk.open_log(path)?;
        Ok(Wal {
            log,
            path: path.to_path_buf(),
            len_bytes: bytes.len() as u64,
            pending: BytesMut::new(),
        })
    }

    /// Queues a record; it is written by the next [`Wal::sync`].
    pub fn append(&mut self, payload: &[u8]) {
        frame(&mut self.pending, payload);
    }

    /// Writes every queued record and makes it durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.log.append(&self.pending)?;
            self.len_bytes += self.pending.len() as u64;
            self.pending.clear();
        }
        self.log.sync()
    }

    /// Empties the log durably (after its contents were captured in a snapshot).
    pub fn reset(&mut self) -> io::Result<()> {
        self.pending.clear();
        self.log.truncate(0)?;
        self.len_bytes = 0;
        Ok(())
    }

    /// Size of the durable part of the log.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Appends one framed record to `out`.
fn frame(out: &mut BytesMut, payload: &[u8]) {
    out.put_u32(payload.len() as u32);
    out.put_u32(crc32fast::hash(payload));
    out.put_slice(payload);
}

/// Splits `bytes` into intact records; returns them and the length of the intact prefix
/// (the rest is a torn tail), or `Err(offset)` of a corrupted record that is not the last.
fn parse_records(bytes: &[u8]) -> Result<(Vec<Bytes>, usize), usize> {
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEADER_BYTES {
        if bytes[at..].iter().all(|&b| b == 0) {
            // A file system may extend a file with zeros that a power loss left
            // unwritten; as a record header they would read as empty records (the CRC32
            // of nothing is 0). Zeros to the end of the file are a torn tail.
            break;
        }
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let left = bytes.len() - at - HEADER_BYTES;
        if len > MAX_RECORD_BYTES {
            return Err(at);
        }
        if left < len {
            // The last write was cut short.
            break;
        }
        let payload = &bytes[at + HEADER_BYTES..at + HEADER_BYTES + len];
        if crc32fast::hash(payload) != crc {
            if left > len {
                return Err(at);
            }
            // The last record, whole in length but not in content: torn.
            break;
        }
        records.push(Bytes::copy_from_slice(payload));
        at += HEADER_BYTES + len;
    }
    Ok((records, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::StdDisk;

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let disk = StdDisk;
        let (mut wal, rec) = Wal::open(&disk, &path).unwrap();
        assert!(rec.records.is_empty());
        wal.append(b"one");
        wal.append(b"");
        wal.append(b"three");
        wal.sync().unwrap();
        drop(wal);

        // A power loss mid-append leaves half a record.
        let mut bytes = std::fs::read(&path).unwrap();
        let good = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 9, 1, 2, 3, 4, b'x']);
        std::fs::write(&path, &bytes).unwrap();

        let (mut wal, rec) = Wal::open(&disk, &path).unwrap();
        assert_eq!(rec.records, vec![&b"one"[..], b"", b"three"]);
        assert_eq!(rec.torn_bytes, 9);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good as u64);
        wal.append(b"four");
        wal.sync().unwrap();
        drop(wal);
        let (_, rec) = Wal::open(&disk, &path).unwrap();
        assert_eq!(rec.records.len(), 4);
    }

    fn three_records() -> BytesMut {
        let mut bytes = BytesMut::new();
        for p in [&b"a"[..], b"b", b"c"] {
            bytes.put_u32(1);
            bytes.put_u32(crc32fast::hash(p));
            bytes.put_slice(p);
        }
        bytes
    }

    #[test]
    fn a_corrupted_record_before_the_last_is_an_error_not_a_torn_tail() {
        let mut bytes = three_records();
        bytes[9 + HEADER_BYTES] ^= 0xff; // payload of the second record
        assert_eq!(parse_records(&bytes), Err(9));
        let mut bytes = three_records();
        bytes[9] = 0xff; // an impossible length in the second record's header
        assert_eq!(parse_records(&bytes), Err(9));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut bytes = three_records();
        bytes[HEADER_BYTES] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let e = Wal::open(&StdDisk, &path)
            .err()
            .expect("corruption is refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("at byte 0 is corrupted"), "{e}");
        // Nothing was cut: the evidence stays on disk.
        assert_eq!(std::fs::read(&path).unwrap(), &bytes[..]);
    }

    #[test]
    fn zeros_to_the_end_of_the_file_are_a_torn_tail() {
        let mut bytes = three_records();
        bytes.extend_from_slice(&[0; 64]);
        assert_eq!(
            parse_records(&bytes).map(|(r, good)| (r.len(), good)),
            Ok((3, 27))
        );
    }

    #[test]
    fn a_bad_last_record_is_a_torn_tail() {
        let mut bytes = three_records();
        bytes[18 + HEADER_BYTES] ^= 0xff; // payload of the last record
        let (records, good) = parse_records(&bytes).unwrap();
        assert_eq!(records, vec![&b"a"[..], b"b"]);
        assert_eq!(good, 18);
        // A header claiming more than is left: the last write was cut short.
        let mut bytes = three_records();
        bytes[21] = 9;
        assert_eq!(parse_records(&bytes).map(|(_, good)| good), Ok(18));
    }
}
