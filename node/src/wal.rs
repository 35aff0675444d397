//! A write-ahead log of checksummed records on a [`Disk`].
//!
//! A power loss can cut the last write short: only a prefix of it reaches the disk, and a
//! file system may fill the rest of the file's new length with zeros. So the file may end
//! in one partial record, or in zeros. That torn tail is cut off on open, so new records
//! follow good ones. Any other damage is corruption of data that was synced: `open`
//! refuses it with [`io::ErrorKind::InvalidData`] rather than drop the synced records
//! after it, or hand back a record that is not what was written.
//!
//! # Format
//!
//! A file starts with the 8-byte [`MAGIC`], then records, each
//! `u32 length | u32 CRC32 of the length | payload | u32 CRC32 of the payload | 0xE5`,
//! big-endian. The checked length tells a record cut short (header whole, payload
//! missing) from a damaged length (which could otherwise point past the end of the file
//! and pass for a torn tail, silently dropping every synced record after it). The
//! non-zero end byte tells a record that reached the disk whole but reads back damaged
//! (corruption) from one whose end never reached it (a torn write): under the prefix
//! model, a record whose end byte is there was written whole.
//!
//! A record is judged, in order: zeros to the end of the file, or less than a header
//! left, are a torn tail. A header whose length fails its CRC is torn if only zeros
//! follow it, else corrupted. A length past [`MAX_RECORD_BYTES`] is corrupted. A payload
//! that ends past the end of the file is torn. A payload that matches its CRC is kept,
//! whatever its end byte: if the end byte is missing, or zero with only zeros after it,
//! the power failed just before it and it is written again; any other wrong end byte is
//! corrupted. A payload that fails its CRC is corrupted if its end byte is there, and
//! torn if it is missing or zero with only zeros after it. So any single damaged byte in
//! a file of whole records is reported, or (a zeroed end byte of the last record) harms
//! no record; and no prefix of the last write, zero-filled or not, is reported.
//!
//! Files of the first format (no magic; records `u32 length | u32 CRC32 | payload`) are
//! still read, with its weaker rules, and appended to in that format until the next
//! [`Wal::replace`] rewrites them in the current one.

use std::io;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};

use crate::io::{Disk, LogFile};

/// Largest record accepted on read-back; a header claiming more is corrupted.
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

/// The first bytes of a log file in the current format. Its leading 0xFF cannot start a
/// file of the first format, whose first byte is the top byte of a length (at most 0x10).
pub const MAGIC: [u8; 8] = *b"\xffKV-WAL2";

/// Length and its CRC.
const HEADER_BYTES: usize = 8;
/// What ends every record of the current format; not zero, so a zero-filled tail never
/// looks like a record's end.
const END: u8 = 0xE5;
/// The first format's header: length and payload CRC.
const FIRST_HEADER_BYTES: usize = 8;

/// How a log file frames its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// No magic; `u32 length | u32 CRC32 | payload`. Read and appended to, never created.
    First,
    /// [`MAGIC`], then checked records (see the module's documentation).
    Checked,
}

/// An open log.
pub struct Wal<D: Disk> {
    log: D::Log,
    path: PathBuf,
    format: Format,
    len_bytes: u64,
    pending: BytesMut,
    /// The records' share of `pending`, counted as [`Wal::len_bytes`] counts them.
    pending_len: u64,
    /// The file changed (a truncation) since the last sync, with or without `pending`.
    unsynced: bool,
}

/// What [`Wal::open`] found on disk.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The intact records, oldest first.
    pub records: Vec<Bytes>,
    /// Bytes cut off the end because they did not form a whole record.
    pub torn_bytes: u64,
}

/// Where and how a log is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Damage {
    at: usize,
    what: &'static str,
}

/// A log file read back.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    /// `None`: nothing but a torn first write (or nothing at all): start afresh.
    format: Option<Format>,
    records: Vec<Bytes>,
    /// Length of the intact prefix; the rest is a torn tail.
    good: usize,
    /// The last record is whole but its end byte never reached the disk: write it again.
    repair_end: bool,
}

impl<D: Disk> Wal<D> {
    /// Opens the log at `path` (creating it if needed) and reads back its records.
    pub fn open(disk: &D, path: &Path) -> io::Result<(Self, Recovered)> {
        let contents = disk.read(path)?.unwrap_or_default();
        let parsed = parse(&contents).map_err(|d| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: the record at byte {} is corrupted ({}) and {} bytes follow it; only \
                     the last write can be torn by a power loss, so data that was synced is \
                     damaged: refusing to read this log",
                    path.display(),
                    d.at,
                    d.what,
                    contents.len() - d.at
                ),
            )
        })?;
        let mut log = disk.open_log(path)?;
        let torn_bytes = (contents.len() - parsed.good) as u64;
        if torn_bytes > 0 {
            log.truncate(parsed.good as u64)?;
        }
        let mut pending = BytesMut::new();
        let format = match parsed.format {
            Some(format) => format,
            None => {
                // New records go after the magic, written with the first of them.
                pending.put_slice(&MAGIC);
                Format::Checked
            }
        };
        if parsed.repair_end {
            pending.put_u8(END);
        }
        let len_bytes = parsed.records.iter().map(|r| counted(r)).sum();
        let wal = Wal {
            log,
            path: path.to_path_buf(),
            format,
            len_bytes,
            pending,
            pending_len: 0,
            // A cut torn tail is made durable with the first sync.
            unsynced: torn_bytes > 0,
        };
        Ok((
            wal,
            Recovered {
                records: parsed.records,
                torn_bytes,
            },
        ))
    }

    /// Replaces the log at `path` with exactly `records`, atomically and durably, and
    /// opens it for appending (in the current format, whatever the old file's was).
    pub fn replace<'a>(
        disk: &D,
        path: &Path,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> io::Result<Self> {
        let mut bytes = BytesMut::new();
        bytes.put_slice(&MAGIC);
        let mut len_bytes = 0;
        for payload in records {
            frame(&mut bytes, payload, Format::Checked);
            len_bytes += counted(payload);
        }
        disk.replace(path, &bytes)?;
        let log = disk.open_log(path)?;
        Ok(Wal {
            log,
            path: path.to_path_buf(),
            format: Format::Checked,
            len_bytes,
            pending: BytesMut::new(),
            pending_len: 0,
            unsynced: false,
        })
    }

    /// Queues a record; it is written by the next [`Wal::sync`].
    pub fn append(&mut self, payload: &[u8]) {
        frame(&mut self.pending, payload, self.format);
        self.pending_len += counted(payload);
    }

    /// Writes every queued record and makes it durable. With nothing queued it does
    /// nothing: every earlier write was synced by the call that wrote it (a failed sync
    /// stops the node), so an fsync would only cost time — one per heartbeat and per read
    /// otherwise.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.write_pending()? {
            self.log.sync()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// [`sync`](Wal::sync) through [`LogFile::sync_async`]: the fsync does not hold up
    /// the runtime's thread.
    pub async fn sync_async(&mut self) -> io::Result<()> {
        if self.write_pending()? {
            self.log.sync_async().await?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Writes the queued records to the file; whether a sync is due (something was
    /// written or truncated since the last one).
    fn write_pending(&mut self) -> io::Result<bool> {
        if self.pending.is_empty() && !self.unsynced {
            return Ok(false);
        }
        if !self.pending.is_empty() {
            self.log.append(&self.pending)?;
            self.len_bytes += self.pending_len;
            self.pending.clear();
            self.pending_len = 0;
        }
        Ok(true)
    }

    /// Empties the log durably (after its contents were captured in a snapshot).
    pub fn reset(&mut self) -> io::Result<()> {
        self.pending.clear();
        self.pending_len = 0;
        self.unsynced = true;
        self.log.truncate(0)?;
        if self.format == Format::Checked {
            self.pending.put_slice(&MAGIC);
        }
        self.len_bytes = 0;
        Ok(())
    }

    /// Size of the durable records, each counted as 8 header bytes plus its payload (its
    /// size in the first format), so that compaction points, which depend on it, do not
    /// move with the frame format.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A record's size as [`Wal::len_bytes`] counts it.
fn counted(payload: &[u8]) -> u64 {
    (FIRST_HEADER_BYTES + payload.len()) as u64
}

/// Appends one framed record to `out`.
fn frame(out: &mut BytesMut, payload: &[u8], format: Format) {
    let len = (payload.len() as u32).to_be_bytes();
    out.put_slice(&len);
    match format {
        Format::First => {
            out.put_u32(crc32fast::hash(payload));
            out.put_slice(payload);
        }
        Format::Checked => {
            out.put_u32(crc32fast::hash(&len));
            out.put_slice(payload);
            out.put_u32(crc32fast::hash(payload));
            out.put_u8(END);
        }
    }
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"))
}

/// Reads a whole log file: which format, its intact records and where its torn tail
/// starts, or where it is damaged.
fn parse(bytes: &[u8]) -> Result<Parsed, Damage> {
    let common = bytes.iter().zip(MAGIC).take_while(|(a, b)| *a == b).count();
    if common < MAGIC.len() && all_zero(&bytes[common..]) {
        // Empty, or a first write torn before its first record.
        return Ok(Parsed::default());
    }
    if common == MAGIC.len() {
        return parse_checked(bytes);
    }
    let alike = bytes.iter().zip(MAGIC).filter(|(a, b)| *a == b).count();
    if alike > MAGIC.len() / 2 {
        // Too close to the magic for chance: a damaged one.
        return Err(Damage {
            at: 0,
            what: "the file's magic number is damaged",
        });
    }
    if bytes[0] > (MAX_RECORD_BYTES >> 24) as u8 {
        return Err(Damage {
            at: 0,
            what: "the file starts with neither the magic number nor a record length",
        });
    }
    let (records, good) = parse_first(bytes).map_err(|at| Damage {
        at,
        what: "it fails its checksum or claims an impossible length, and is not the last",
    })?;
    Ok(Parsed {
        format: Some(Format::First),
        records,
        good,
        repair_end: false,
    })
}

/// Reads the records of a file of the current format (see the module's documentation for
/// the rules).
fn parse_checked(bytes: &[u8]) -> Result<Parsed, Damage> {
    let mut parsed = Parsed {
        format: Some(Format::Checked),
        ..Parsed::default()
    };
    let mut at = MAGIC.len();
    loop {
        let rest = &bytes[at..];
        if rest.len() < HEADER_BYTES || all_zero(rest) {
            break;
        }
        let damage = |what| Err(Damage { at, what });
        if crc32fast::hash(&rest[..4]) != be32(&rest[4..]) {
            if all_zero(&rest[HEADER_BYTES..]) {
                break;
            }
            return damage("its length fails its checksum");
        }
        let len = be32(rest) as usize;
        if len > MAX_RECORD_BYTES {
            return damage("its length is beyond the largest record");
        }
        let crc_at = HEADER_BYTES + len;
        let end_at = crc_at + 4;
        if rest.len() < end_at {
            // The payload or its CRC was cut short.
            break;
        }
        let payload = &rest[HEADER_BYTES..crc_at];
        let whole = crc32fast::hash(payload) == be32(&rest[crc_at..]);
        let end_lost = match rest.get(end_at) {
            None => true,
            Some(0) => all_zero(&rest[end_at + 1..]),
            Some(_) => false,
        };
        match (whole, rest.get(end_at)) {
            (true, Some(&END)) => {
                parsed.records.push(Bytes::copy_from_slice(payload));
                at += end_at + 1;
            }
            (true, _) if end_lost => {
                // The power failed just before the end byte: the record is whole.
                parsed.records.push(Bytes::copy_from_slice(payload));
                parsed.repair_end = true;
                at += end_at;
                break;
            }
            (true, _) => return damage("its end byte is damaged"),
            (false, _) if end_lost => break,
            (false, _) => return damage("its payload fails its checksum"),
        }
    }
    parsed.good = at;
    Ok(parsed)
}

/// Splits a file of the first format into intact records; returns them and the length
/// of the intact prefix (the rest is a torn tail), or `Err(offset)` of a corrupted record
/// that is not the last.
fn parse_first(bytes: &[u8]) -> Result<(Vec<Bytes>, usize), usize> {
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= FIRST_HEADER_BYTES {
        if all_zero(&bytes[at..]) {
            // A file system may extend a file with zeros that a power loss left
            // unwritten; as a record header they would read as empty records (the CRC32
            // of nothing is 0). Zeros to the end of the file are a torn tail.
            break;
        }
        let len = be32(&bytes[at..]) as usize;
        let crc = be32(&bytes[at + 4..]);
        let left = bytes.len() - at - FIRST_HEADER_BYTES;
        if len > MAX_RECORD_BYTES {
            return Err(at);
        }
        if left < len {
            // The last write was cut short (or, undetectably in this format, a damaged
            // length points past the end).
            break;
        }
        let payload = &bytes[at + FIRST_HEADER_BYTES..at + FIRST_HEADER_BYTES + len];
        if crc32fast::hash(payload) != crc {
            if left > len {
                return Err(at);
            }
            // The last record, whole in length but not in content: torn.
            break;
        }
        records.push(Bytes::copy_from_slice(payload));
        at += FIRST_HEADER_BYTES + len;
    }
    Ok((records, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::mem::MemDisk;
    use crate::io::StdDisk;

    /// An fsync costs milliseconds on a real disk: a sync with nothing written must not
    /// issue one (heartbeats and reads used to, every time), and one with records or
    /// after a truncation must.
    #[test]
    fn sync_fsyncs_only_what_changed() {
        let disk = MemDisk::new();
        let path = Path::new("wal");
        let (mut wal, _) = Wal::open(&disk, path).unwrap();
        wal.sync().unwrap();
        let after_magic = disk.log_syncs();
        assert!(
            after_magic >= 1,
            "the new file's header is written and synced"
        );
        wal.sync().unwrap();
        wal.sync().unwrap();
        assert_eq!(
            disk.log_syncs(),
            after_magic,
            "nothing written, nothing synced"
        );
        wal.append(b"record");
        wal.sync().unwrap();
        assert_eq!(disk.log_syncs(), after_magic + 1);
        wal.reset().unwrap();
        wal.sync().unwrap();
        assert_eq!(disk.log_syncs(), after_magic + 2, "a truncation is synced");
        wal.sync().unwrap();
        assert_eq!(disk.log_syncs(), after_magic + 2);
    }

    fn checked_file(payloads: &[&[u8]]) -> BytesMut {
        let mut bytes = BytesMut::new();
        bytes.put_slice(&MAGIC);
        for p in payloads {
            frame(&mut bytes, p, Format::Checked);
        }
        bytes
    }

    fn records(parsed: &Parsed) -> Vec<&[u8]> {
        parsed.records.iter().map(|r| &r[..]).collect()
    }

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
        assert_eq!(wal.len_bytes(), 3 * 8 + 8);
        drop(wal);

        // A power loss mid-append leaves half a record.
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(&MAGIC));
        let good = bytes.len();
        let mut next = BytesMut::new();
        frame(&mut next, b"four and more", Format::Checked);
        bytes.extend_from_slice(&next[..11]);
        std::fs::write(&path, &bytes).unwrap();

        let (mut wal, rec) = Wal::open(&disk, &path).unwrap();
        assert_eq!(rec.records, vec![&b"one"[..], b"", b"three"]);
        assert_eq!(rec.torn_bytes, 11);
        assert_eq!(wal.len_bytes(), 3 * 8 + 8);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good as u64);
        wal.append(b"four");
        wal.sync().unwrap();
        drop(wal);
        let (_, rec) = Wal::open(&disk, &path).unwrap();
        assert_eq!(rec.records.len(), 4);
    }

    /// Every prefix of the last write, alone or zero-filled to the write's full length,
    /// keeps every earlier record and is never taken for corruption.
    #[test]
    fn every_torn_last_write_is_a_torn_tail() {
        let synced = checked_file(&[b"alpha", b"", b"gamma\0\0"]);
        let mut last = BytesMut::new();
        for p in [&b"delta"[..], b"\0", b"epsilon-epsilon"] {
            frame(&mut last, p, Format::Checked);
        }
        let all: Vec<&[u8]> = vec![
            b"alpha",
            b"",
            b"gamma\0\0",
            b"delta",
            b"\0",
            b"epsilon-epsilon",
        ];
        for cut in 0..=last.len() {
            for fill in [false, true] {
                let mut bytes = synced.to_vec();
                bytes.extend_from_slice(&last[..cut]);
                if fill {
                    bytes.resize(synced.len() + last.len(), 0);
                }
                let parsed = parse(&bytes).unwrap_or_else(|d| panic!("cut {cut} {fill}: {d:?}"));
                let got = records(&parsed);
                assert!(got.len() >= 3, "cut {cut} fill {fill}: lost synced records");
                assert_eq!(got, all[..got.len()], "cut {cut} fill {fill}");
                assert!(parsed.good <= bytes.len());
            }
        }
        // The same for the first write of a new file, magic included.
        let first = checked_file(&[b"alpha"]);
        for cut in 0..=first.len() {
            let mut bytes = first[..cut].to_vec();
            bytes.resize(first.len(), 0);
            let parsed = parse(&bytes).unwrap_or_else(|d| panic!("cut {cut}: {d:?}"));
            assert!(records(&parsed).len() <= 1);
        }
    }

    /// Any one damaged byte in a file of whole records is reported, or harms no record.
    #[test]
    fn every_damaged_byte_is_reported_or_harmless() {
        let file = checked_file(&[b"alpha", b"", b"\0\0\0\0\0\0\0\0\0", b"omega"]);
        let want: Vec<&[u8]> = vec![b"alpha", b"", b"\0\0\0\0\0\0\0\0\0", b"omega"];
        let mut unreported = Vec::new();
        for at in 0..file.len() {
            for xor in [0x01, 0x80, 0xff, file[at]] {
                if xor == 0 {
                    continue;
                }
                let mut bytes = file.to_vec();
                bytes[at] ^= xor;
                if let Ok(parsed) = parse(&bytes) {
                    assert_eq!(
                        records(&parsed),
                        want,
                        "byte {at} ^ {xor:#04x} went unreported and lost records"
                    );
                    unreported.push((at, bytes[at]));
                }
            }
        }
        // Only the last record's end byte, zeroed: a power loss just before it looks the
        // same, and the record is whole either way.
        assert_eq!(unreported, [(file.len() - 1, 0)]);
    }

    #[test]
    fn a_whole_last_record_missing_its_end_byte_is_kept_and_completed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut bytes = checked_file(&[b"a", b"b"]).to_vec();
        bytes.pop();
        bytes.extend_from_slice(&[0, 0, 0]);
        std::fs::write(&path, &bytes).unwrap();
        let (mut wal, rec) = Wal::open(&StdDisk, &path).unwrap();
        assert_eq!(rec.records, vec![&b"a"[..], b"b"]);
        assert_eq!(rec.torn_bytes, 3);
        wal.append(b"c");
        wal.sync().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            &checked_file(&[b"a", b"b", b"c"])[..]
        );
    }

    #[test]
    fn a_corrupted_record_is_an_error_and_nothing_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let mut bytes = checked_file(&[b"a", b"b", b"c"]);
        // The second record's length claims more than the file holds: in the first
        // format this passed for a torn tail and dropped two synced records.
        bytes[MAGIC.len() + 14 + 2] = 0x7f;
        std::fs::write(&path, &bytes).unwrap();
        let e = Wal::open(&StdDisk, &path)
            .err()
            .expect("corruption is refused");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(
            e.to_string()
                .contains("at byte 22 is corrupted (its length fails"),
            "{e}"
        );
        // Nothing was cut: the evidence stays on disk.
        assert_eq!(std::fs::read(&path).unwrap(), &bytes[..]);
    }

    fn first_format(payloads: &[&[u8]]) -> BytesMut {
        let mut bytes = BytesMut::new();
        for p in payloads {
            frame(&mut bytes, p, Format::First);
        }
        bytes
    }

    #[test]
    fn a_first_format_log_is_read_appended_to_in_its_format_and_upgraded_by_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        std::fs::write(&path, first_format(&[b"one", b"two"])).unwrap();
        let (mut wal, rec) = Wal::open(&StdDisk, &path).unwrap();
        assert_eq!(rec.records, vec![&b"one"[..], b"two"]);
        assert_eq!(wal.len_bytes(), 2 * 8 + 6);
        wal.append(b"three");
        wal.sync().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            &first_format(&[b"one", b"two", b"three"])[..]
        );
        let wal = Wal::replace(&StdDisk, &path, [&b"two"[..], b"three"]).unwrap();
        assert_eq!(wal.len_bytes(), 2 * 8 + 8);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            &checked_file(&[b"two", b"three"])[..]
        );
    }

    #[test]
    fn a_damaged_magic_number_is_an_error() {
        for at in 0..MAGIC.len() {
            let mut bytes = checked_file(&[b"a"]).to_vec();
            bytes[at] ^= 0xff;
            assert_eq!(parse(&bytes).map(|_| ()).unwrap_err().at, 0, "byte {at}");
        }
    }

    #[test]
    fn first_format_corruption_before_the_last_record_is_an_error() {
        let mut bytes = first_format(&[b"a", b"b", b"c"]);
        bytes[9 + FIRST_HEADER_BYTES] ^= 0xff; // payload of the second record
        assert_eq!(parse_first(&bytes), Err(9));
        let mut bytes = first_format(&[b"a", b"b", b"c"]);
        bytes[9] = 0xff; // an impossible length in the second record's header
        assert_eq!(parse_first(&bytes), Err(9));
        let mut bytes = first_format(&[b"a", b"b", b"c"]);
        bytes[FIRST_HEADER_BYTES] ^= 0x01;
        let d = parse(&bytes).unwrap_err();
        assert_eq!(d.at, 0);
    }

    #[test]
    fn first_format_zeros_and_a_bad_last_record_are_a_torn_tail() {
        let mut bytes = first_format(&[b"a", b"b", b"c"]);
        bytes.extend_from_slice(&[0; 64]);
        assert_eq!(
            parse_first(&bytes).map(|(r, good)| (r.len(), good)),
            Ok((3, 27))
        );
        let mut bytes = first_format(&[b"a", b"b", b"c"]);
        bytes[18 + FIRST_HEADER_BYTES] ^= 0xff; // payload of the last record
        let (records, good) = parse_first(&bytes).unwrap();
        assert_eq!(records, vec![&b"a"[..], b"b"]);
        assert_eq!(good, 18);
        // A header claiming more than is left: the last write was cut short.
        let mut bytes = first_format(&[b"a", b"b", b"c"]);
        bytes[21] = 9;
        assert_eq!(parse_first(&bytes).map(|(_, good)| good), Ok(18));
    }
}
