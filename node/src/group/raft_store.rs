//! Durable storage of a Raft member: its hard state and log in the write-ahead log, and
//! the last snapshot (its log base plus the group state it stands for) in its own file.
//!
//! Log records: `H` term + vote, `E` index + term + data, `X` "drop entries after index",
//! `B` index + term of the snapshot the log was written after. Reading them back in order
//! rebuilds the log, truncations included. Compaction writes a new snapshot, then replaces
//! the log with its base, the hard state and the entries after it.
//!
//! Those are two renames, and power can fail between them: then the new snapshot sits
//! beside the log of the old one, whose entries after the new base may be a suffix the
//! group has since overwritten. `open` keeps them only as Raft keeps a log suffix when it
//! installs a snapshot: if the log holds the snapshot's last entry (same index and term).
//!
//! [`RaftStore::persist`] and [`RaftStore::compact`] carry a Raft core's output into the
//! store. The replica and the Raft test harness both call them, so what the harness
//! checks under crashes is what a node writes.

use std::io;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use protocol::peer::{Entry, LogIndex, PeerId, Term};

use super::GroupError;
use crate::codec::{put_bytes, Corrupt, Cursor};
use crate::io::{Disk, Rng};
use crate::raft::{HardState, Raft, RaftConfig, Ready, Recovered, SnapshotMeta};
use crate::wal::Wal;

mod tag {
    pub const HARD_STATE: u8 = b'H';
    pub const ENTRY: u8 = b'E';
    pub const TRUNCATE: u8 = b'X';
    pub const BASE: u8 = b'B';
}

/// A Raft member's files.
pub struct RaftStore<D: Disk> {
    disk: D,
    wal: Wal<D>,
    wal_path: PathBuf,
    snapshot_path: PathBuf,
    hard_state: HardState,
    /// The index of the stored snapshot (0 without one).
    base: LogIndex,
    /// The index of the last stored entry (the snapshot's if there is none after it).
    last_index: LogIndex,
    /// Log size after the last compaction, to decide when to compact again.
    compacted_wal_bytes: u64,
    /// The marker of a member catching up on a replaced disk (see [`CATCHING_UP`]).
    catching_up_path: PathBuf,
}

/// The contents of `raft-catching-up` while a member started on a replaced disk has not
/// caught up (`RaftConfig::replaced_disk`). Written before its core starts and emptied
/// once it has caught up, so a member that loses power again meanwhile restarts still
/// catching up, not voting on the partial log it had fetched so far.
const CATCHING_UP: &[u8] = b"catching up on a replaced disk\n";

/// The name, in the data directory, of the file that records whether a member on a
/// replaced disk is still catching up (non-empty while it is). The simulator watches it
/// to know which members hold a full copy of their group's log.
pub const CATCHING_UP_FILE: &str = "raft-catching-up";

/// A started member: its store, its Raft core, and the snapshot its log starts after
/// (with the group state it stands for).
pub type Started<D> = (RaftStore<D>, Raft, Option<(SnapshotMeta, Bytes)>);

/// What was on disk at start.
pub struct Opened<D: Disk> {
    /// The store, ready for appends.
    pub store: RaftStore<D>,
    /// The Raft state to start from.
    pub recovered: Recovered,
    /// The group state of the snapshot, if there is one.
    pub snapshot_state: Option<Bytes>,
}

/// The first bytes of a snapshot file of the current format: this magic, a CRC32 of the
/// rest, then `u64 index | u64 term | group state`. Files of the first format have no
/// magic and no CRC; their first byte is the top byte of the index, 0 in practice, never
/// the magic's 0xFF.
const SNAPSHOT_MAGIC: [u8; 4] = [0xff, b'S', b'N', b'2'];

/// The checked body of a snapshot file (`u64 index | u64 term | state`), or what is wrong
/// with it.
fn snapshot_body(bytes: &[u8]) -> Result<&[u8], &'static str> {
    let alike = bytes
        .iter()
        .zip(SNAPSHOT_MAGIC)
        .filter(|(a, b)| *a == b)
        .count();
    if alike == SNAPSHOT_MAGIC.len() {
        let Some(crc) = bytes.get(4..8) else {
            return Err("the file ends inside its header");
        };
        let body = &bytes[8..];
        if crc32fast::hash(body).to_be_bytes() != crc {
            return Err("its checksum does not match");
        }
        Ok(body)
    } else if alike + 1 >= SNAPSHOT_MAGIC.len() {
        Err("its magic number is damaged")
    } else if bytes.first() == Some(&0) {
        // The first format: unchecked.
        Ok(bytes)
    } else {
        Err("it starts with neither the magic number nor a snapshot index")
    }
}

fn encode_base(out: &mut BytesMut, meta: SnapshotMeta) {
    out.put_u8(tag::BASE);
    out.put_u64(meta.index.0);
    out.put_u64(meta.term.0);
}

fn encode_hard_state(out: &mut BytesMut, hs: &HardState) {
    out.put_u8(tag::HARD_STATE);
    out.put_u64(hs.term.0);
    match hs.voted_for {
        Some(p) => {
            out.put_u8(1);
            out.put_u32(p.0);
        }
        None => out.put_u8(0),
    }
}

fn encode_entry(out: &mut BytesMut, index: LogIndex, entry: &Entry) {
    out.put_u8(tag::ENTRY);
    out.put_u64(index.0);
    out.put_u64(entry.term.0);
    put_bytes(out, &entry.data);
}

impl<D: Disk> RaftStore<D> {
    /// Opens (or creates) the store in `dir` and reads back everything durable.
    pub fn open(disk: D, dir: &Path) -> Result<Opened<D>, GroupError> {
        disk.create_dir_all(dir)?;
        let snapshot_path = dir.join("raft-snapshot");
        let wal_path = dir.join("raft-log");
        let (snapshot, snapshot_state) = match disk.read(&snapshot_path)? {
            Some(bytes) => {
                let body = snapshot_body(&bytes).map_err(|what| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: {what}: the snapshot was damaged after it was written; \
                             refusing to read it",
                            snapshot_path.display()
                        ),
                    )
                })?;
                let mut c = Cursor::new(body);
                let meta = SnapshotMeta {
                    index: LogIndex(c.u64("snapshot index")?),
                    term: Term(c.u64("snapshot term")?),
                };
                (Some(meta), Some(Bytes::copy_from_slice(c.rest())))
            }
            None => (None, None),
        };
        let base = snapshot.as_ref().map_or(0, |m| m.index.0);
        let (mut wal, recovered) = Wal::open(&disk, &wal_path)?;
        if recovered.records.is_empty() && snapshot.is_none() {
            // A new log says it starts from nothing, so that a later snapshot written
            // beside it (and a power loss before the log is replaced) is recognised.
            let mut r = BytesMut::new();
            encode_base(&mut r, SnapshotMeta::default());
            wal.append(&r);
            wal.sync()?;
        }
        if recovered.torn_bytes > 0 {
            tracing::warn!(
                bytes = recovered.torn_bytes,
                "cut a torn tail off the Raft log"
            );
        }
        let mut hard_state = HardState {
            term: Term(0),
            voted_for: None,
        };
        let mut entries: Vec<Entry> = Vec::new();
        // The snapshot this log was written after (none in logs of an older format), and
        // the term of the log's entry at the snapshot's index, if it has one.
        let mut wal_base: Option<SnapshotMeta> = None;
        let mut term_at_base: Option<Term> = None;
        for record in &recovered.records {
            let mut c = Cursor::new(record);
            match c.u8("record tag")? {
                tag::HARD_STATE => {
                    let term = Term(c.u64("term")?);
                    let voted_for = match c.u8("vote flag")? {
                        0 => None,
                        _ => Some(PeerId(c.u32("vote")?)),
                    };
                    hard_state = HardState { term, voted_for };
                }
                tag::ENTRY => {
                    let index = c.u64("entry index")?;
                    let term = Term(c.u64("entry term")?);
                    let data = c.bytes("entry data")?;
                    if index == base {
                        term_at_base = Some(term);
                    }
                    if index <= base {
                        continue;
                    }
                    let pos = (index - base - 1) as usize;
                    if pos > entries.len() {
                        return Err(Corrupt(format!("log entry {index} leaves a gap")).into());
                    }
                    entries.truncate(pos);
                    entries.push(Entry { term, data });
                }
                tag::TRUNCATE => {
                    let after = c.u64("truncate index")?;
                    entries.truncate(after.saturating_sub(base) as usize);
                    if after < base {
                        term_at_base = None;
                    }
                }
                tag::BASE => {
                    wal_base = Some(SnapshotMeta {
                        index: LogIndex(c.u64("base index")?),
                        term: Term(c.u64("base term")?),
                    });
                }
                other => return Err(Corrupt(format!("unknown log record {other:#04x}")).into()),
            }
            c.finish("log record")?;
        }
        if let (Some(snap), Some(written_after)) = (snapshot, wal_base) {
            let follows = written_after == snap || term_at_base == Some(snap.term);
            if !follows && !entries.is_empty() {
                tracing::warn!(
                    dropped = entries.len(),
                    snapshot = %snap.index,
                    "the log belongs to an older snapshot and does not hold this one's last \
                     entry: dropping its entries after the snapshot"
                );
                entries.clear();
            }
        }
        let compacted_wal_bytes = wal.len_bytes();
        Ok(Opened {
            store: RaftStore {
                catching_up_path: dir.join(CATCHING_UP_FILE),
                disk,
                wal,
                wal_path,
                snapshot_path,
                hard_state,
                base: LogIndex(base),
                last_index: LogIndex(base + entries.len() as u64),
                compacted_wal_bytes,
            },
            recovered: Recovered {
                hard_state,
                snapshot,
                entries,
            },
            snapshot_state,
        })
    }

    /// Appends a `Ready`'s durable part and syncs it. `entries` must continue the stored
    /// log (after `truncate_after`), as a `Ready`'s do; otherwise nothing is written and
    /// the error is `InvalidInput`: a gap makes a log `open` refuses, and an overlap means
    /// the caller lost track of what is stored.
    pub fn save(
        &mut self,
        hard_state: Option<&HardState>,
        truncate_after: Option<LogIndex>,
        entries: &[(LogIndex, Entry)],
    ) -> io::Result<()> {
        let last = self.stage(hard_state, truncate_after, entries)?;
        self.wal.sync()?;
        self.last_index = last;
        Ok(())
    }

    /// [`save`](RaftStore::save) with the sync through [`Wal::sync_async`].
    pub async fn save_async(
        &mut self,
        hard_state: Option<&HardState>,
        truncate_after: Option<LogIndex>,
        entries: &[(LogIndex, Entry)],
    ) -> io::Result<()> {
        let last = self.stage(hard_state, truncate_after, entries)?;
        self.wal.sync_async().await?;
        self.last_index = last;
        Ok(())
    }

    /// Queues the records of a `save` in the log (not yet written or synced); the last
    /// index the log will hold once they are synced.
    fn stage(
        &mut self,
        hard_state: Option<&HardState>,
        truncate_after: Option<LogIndex>,
        entries: &[(LogIndex, Entry)],
    ) -> io::Result<LogIndex> {
        let mut last = self.last_index;
        if let Some(after) = truncate_after {
            // As `open` replays it: never below the snapshot.
            last = last.min(after).max(self.base);
        }
        let last = continued(last, entries)?;
        let mut record = BytesMut::new();
        if let Some(hs) = hard_state {
            encode_hard_state(&mut record, hs);
            self.wal.append(&record);
            self.hard_state = *hs;
        }
        if let Some(after) = truncate_after {
            record.clear();
            record.put_u8(tag::TRUNCATE);
            record.put_u64(after.0);
            self.wal.append(&record);
        }
        for (index, entry) in entries {
            record.clear();
            encode_entry(&mut record, *index, entry);
            self.wal.append(&record);
        }
        Ok(last)
    }

    /// Carries out step 1 of a `Ready` from `raft` (persist, then sync; see
    /// [`Ready`]): the snapshot, if any, with the entries the core kept after it, then the
    /// hard state, truncation and new entries. `raft` must not have been called since it
    /// produced `ready`.
    pub fn persist(&mut self, raft: &Raft, ready: &Ready) -> io::Result<()> {
        self.persist_snapshot(raft, ready)?;
        self.save(
            ready.hard_state.as_ref(),
            ready.truncate_after,
            &ready.entries,
        )?;
        self.note_caught_up(ready)
    }

    /// Forgets, durably, that this member was catching up on a replaced disk, once a
    /// `Ready` says it has caught up.
    fn note_caught_up(&mut self, ready: &Ready) -> io::Result<()> {
        if ready.caught_up {
            self.disk.replace(&self.catching_up_path, b"")?;
        }
        Ok(())
    }

    /// [`persist`](RaftStore::persist) with the log's sync through [`Wal::sync_async`]
    /// (a snapshot, rare, is still written in line).
    pub async fn persist_async(&mut self, raft: &Raft, ready: &Ready) -> io::Result<()> {
        self.persist_snapshot(raft, ready)?;
        self.save_async(
            ready.hard_state.as_ref(),
            ready.truncate_after,
            &ready.entries,
        )
        .await?;
        self.note_caught_up(ready)
    }

    /// The snapshot part of a `Ready`'s persistence, if it has one.
    fn persist_snapshot(&mut self, raft: &Raft, ready: &Ready) -> io::Result<()> {
        if let Some((meta, state)) = &ready.snapshot {
            // A snapshot whose last entry the log holds keeps the entries after it (they
            // matched the leader's). The rewritten log must keep the stored ones, or a
            // restart loses entries this member acknowledged, some perhaps committed, or
            // finds a gap before the `Ready`'s own entries, which follow them.
            let unstable = ready.entries.first().map(|(index, _)| *index);
            let mut kept = raft.entries_after(meta.index);
            kept.retain(|(index, _)| unstable.is_none_or(|u| *index < u));
            self.save_snapshot(*meta, state, &kept)?;
        }
        Ok(())
    }

    /// Snapshots the log up to `index`, whose group state `state` encodes: writes the
    /// snapshot, rewrites the log with the entries after it, then compacts `raft`'s log
    /// (which keeps the state to send to followers). Does nothing (and never calls
    /// `state`) unless `index` is applied and past the log's current base; returns whether
    /// it compacted.
    pub fn compact(
        &mut self,
        raft: &mut Raft,
        index: LogIndex,
        state: impl FnOnce() -> Bytes,
    ) -> io::Result<bool> {
        let Some(meta) = compaction_point(raft, index) else {
            return Ok(false);
        };
        let state = state();
        let remaining = raft.entries_after(index);
        self.save_snapshot(meta, &state, &remaining)?;
        raft.compact(index, state);
        Ok(true)
    }

    /// [`compact`](RaftStore::compact) with the snapshot file written through
    /// [`Disk::replace_async`], so a large state does not stop the runtime's thread.
    pub async fn compact_async(
        &mut self,
        raft: &mut Raft,
        index: LogIndex,
        state: impl FnOnce() -> Bytes,
    ) -> io::Result<bool> {
        let Some(meta) = compaction_point(raft, index) else {
            return Ok(false);
        };
        let state = state();
        let remaining = raft.entries_after(index);
        self.save_snapshot_async(meta, &state, &remaining).await?;
        raft.compact(index, state);
        Ok(true)
    }

    /// The hard state last saved.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// The index of the last stored entry (the snapshot's if none follows it).
    pub fn last_index(&self) -> LogIndex {
        self.last_index
    }

    /// Whether the log has grown enough since the last compaction to compact again.
    pub fn wants_compaction(&self, min_bytes: u64) -> bool {
        self.wal.len_bytes() >= min_bytes.max(2 * self.compacted_wal_bytes)
    }

    /// Writes a snapshot (`state` as of `meta`), then replaces the log with the hard state
    /// and `remaining`, the entries after the snapshot.
    pub fn save_snapshot(
        &mut self,
        meta: SnapshotMeta,
        state: &[u8],
        remaining: &[(LogIndex, Entry)],
    ) -> io::Result<()> {
        let last = continued(meta.index, remaining)?;
        self.disk
            .replace(&self.snapshot_path, &snapshot_file(meta, state))?;
        self.rewrite_log_after(meta, remaining, last)
    }

    /// [`save_snapshot`](RaftStore::save_snapshot) with the snapshot file written through
    /// [`Disk::replace_async`].
    pub async fn save_snapshot_async(
        &mut self,
        meta: SnapshotMeta,
        state: &[u8],
        remaining: &[(LogIndex, Entry)],
    ) -> io::Result<()> {
        let last = continued(meta.index, remaining)?;
        let file = snapshot_file(meta, state);
        self.disk.replace_async(&self.snapshot_path, &file).await?;
        self.rewrite_log_after(meta, remaining, last)
    }

    /// The second half of saving a snapshot: the log rewritten to start after it.
    fn rewrite_log_after(
        &mut self,
        meta: SnapshotMeta,
        remaining: &[(LogIndex, Entry)],
        last: LogIndex,
    ) -> io::Result<()> {
        let mut records: Vec<BytesMut> = Vec::new();
        let mut r = BytesMut::new();
        encode_base(&mut r, meta);
        records.push(r);
        let mut r = BytesMut::new();
        encode_hard_state(&mut r, &self.hard_state);
        records.push(r);
        for (index, entry) in remaining {
            let mut r = BytesMut::new();
            encode_entry(&mut r, *index, entry);
            records.push(r);
        }
        self.wal = Wal::replace(&self.disk, &self.wal_path, records.iter().map(|r| &r[..]))?;
        self.compacted_wal_bytes = self.wal.len_bytes();
        self.base = meta.index;
        self.last_index = last;
        Ok(())
    }
}

/// Where `raft`'s log may be compacted up to `index`: only if `index` is applied and past
/// the log's current base.
fn compaction_point(raft: &Raft, index: LogIndex) -> Option<SnapshotMeta> {
    if index <= raft.log_base().index || index > raft.applied_index() {
        return None;
    }
    let term = raft.term_at(index)?;
    Some(SnapshotMeta { index, term })
}

/// The bytes of a snapshot file: magic, checksum, index, term, state.
fn snapshot_file(meta: SnapshotMeta, state: &[u8]) -> BytesMut {
    let mut body = BytesMut::with_capacity(16 + state.len());
    body.put_u64(meta.index.0);
    body.put_u64(meta.term.0);
    body.put_slice(state);
    let mut file = BytesMut::with_capacity(8 + body.len());
    file.put_slice(&SNAPSHOT_MAGIC);
    file.put_u32(crc32fast::hash(&body));
    file.put_slice(&body);
    file
}

/// The last index once `entries` follow a log ending at `last`, if each continues it.
fn continued(mut last: LogIndex, entries: &[(LogIndex, Entry)]) -> io::Result<LogIndex> {
    for (index, _) in entries {
        if index.0 != last.0 + 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("log entry {index} does not continue the stored log, which ends at {last}"),
            ));
        }
        last = *index;
    }
    Ok(last)
}

impl<D: Disk> Opened<D> {
    /// Starts a Raft core (`config`, `rng`) from what was recovered. Returns it with the
    /// store to persist its output in and the snapshot its log starts after (with the
    /// group state it stands for), which the core also holds to send to followers.
    ///
    /// With `config.replaced_disk`, the member catches up before it votes only if the
    /// store is empty (the disk really was replaced; a later start with the flag left on
    /// changes nothing), or if the store records that it was catching up when it
    /// stopped; that record is written here, before the core starts.
    pub fn start_raft(self, mut config: RaftConfig, rng: Rng) -> io::Result<Started<D>> {
        let marked = self
            .store
            .disk
            .read(&self.store.catching_up_path)?
            .is_some_and(|b| b == CATCHING_UP);
        let empty = self.recovered.hard_state == HardState::default()
            && self.recovered.snapshot.is_none()
            && self.recovered.entries.is_empty();
        config.replaced_disk = marked || (config.replaced_disk && empty);
        if config.replaced_disk && !marked {
            self.store
                .disk
                .replace(&self.store.catching_up_path, CATCHING_UP)?;
        }
        let snapshot = self.recovered.snapshot.zip(self.snapshot_state);
        let mut raft = Raft::new(config, self.recovered, rng);
        if let Some((meta, state)) = &snapshot {
            raft.compact(meta.index, state.clone());
        }
        Ok((self.store, raft, snapshot))
    }
}
