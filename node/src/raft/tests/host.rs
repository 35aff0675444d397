//! The harness's host side: what each member's disk (the node's own [`RaftStore`] over a
//! [`MemDisk`]) and application ([`App`]) hold, how a `Ready` is carried out into them
//! ([`Cluster::drive`]), and the safety facts gathered over a run ([`History`]).
//!
//! `drive` follows the handling order documented on `Ready` (persist, send, apply, serve
//! reads), persisting with [`RaftStore::persist`], the code the replica runs, and checks
//! on every call:
//!
//! - at most one leader per term, over the whole run (crashes included);
//! - state machine safety: an index, once applied anywhere, is always applied with the
//!   same entry (so every member's applied sequence is a prefix of the longest one);
//! - the storage contract: appended entries continue the stored log (the store refuses
//!   any that do not), after persisting the stored log ends where the core's does and
//!   holds its hard state, applied entries continue the applied ones, the term never goes
//!   back; and a member that crashed between `Ready`s restarts with exactly the hard
//!   state, snapshot and log its core had;
//! - read safety: a confirmed read's index is at least every commit index seen anywhere
//!   before the read was registered.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use protocol::peer::{Entry, LogIndex, PeerId, Term};

use super::harness::Cluster;
use crate::group::RaftStore;
use crate::io::mem::MemDisk;
use crate::raft::{Raft, Ready, Recovered, Role};

/// Where each member keeps its Raft files on its own disk.
pub const DIR: &str = "/raft";

/// The application: the sequence of entries applied (no-ops included, to check them too).
#[derive(Debug, Clone, Default)]
pub struct App {
    pub applied: Vec<(LogIndex, Entry)>,
}

impl App {
    pub fn last(&self) -> u64 {
        self.applied.last().map_or(0, |(i, _)| i.0)
    }

    /// The commands applied, no-ops skipped.
    pub fn commands(&self) -> Vec<Bytes> {
        self.applied
            .iter()
            .filter(|(_, e)| !e.data.is_empty())
            .map(|(_, e)| e.data.clone())
            .collect()
    }

    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        for (i, e) in &self.applied {
            b.put_u64(i.0);
            b.put_u64(e.term.0);
            b.put_u32(e.data.len() as u32);
            b.put_slice(&e.data);
        }
        b.freeze()
    }

    pub fn decode(mut b: Bytes) -> App {
        let mut applied = Vec::new();
        while b.has_remaining() {
            let i = b.get_u64();
            let term = b.get_u64();
            let len = b.get_u32() as usize;
            let data = b.split_to(len);
            applied.push((
                LogIndex(i),
                Entry {
                    term: Term(term),
                    data,
                },
            ));
        }
        App { applied }
    }
}

/// One member: its core and store (absent while crashed), disk and application.
pub struct Node {
    pub raft: Option<Raft>,
    /// The member's disk: what survives its crashes.
    pub disk: MemDisk,
    pub store: Option<RaftStore<MemDisk>>,
    pub app: App,
    pub boots: u64,
    /// Crash while handling the next `Ready`, after persisting and before sending.
    pub crash_in_ready: bool,
    /// What the next restart must recover: the core's durable state at a crash between
    /// `Ready`s (none after a power loss in the middle of a write, which keeps a prefix).
    pub expect_on_restart: Option<(Recovered, Option<Bytes>)>,
    /// A power loss waiting for the store's next write of the given kind.
    pub power_loss: Option<PowerLoss>,
    /// Crashes caused by a power loss in the middle of persisting or compacting.
    pub power_losses: usize,
    pub reads: Vec<(u64, LogIndex)>,
    pub lost_reads: Vec<u64>,
    pub truncations: usize,
    /// Started as on a replaced disk since its last wipe (`RaftConfig::replaced_disk`).
    pub replaced_disk: bool,
}

/// Where an armed power loss strikes: after a number of disk calls into the store's next
/// write of some kind. Power losses anywhere else would mostly land on the sync of a
/// `Ready` with nothing to persist, and rarely inside a snapshot's two renames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerLoss {
    /// The next `Ready` that persists something, or the next compaction.
    InWrite(u64),
    /// The next installed snapshot or compaction.
    InSnapshot(u64),
}

impl Node {
    /// Arms the disk if a power loss waits for a write of this kind.
    pub fn arm_power_loss(&mut self, snapshot: bool) {
        match self.power_loss {
            Some(PowerLoss::InWrite(calls)) => self.disk.lose_power_after(calls),
            Some(PowerLoss::InSnapshot(calls)) if snapshot => self.disk.lose_power_after(calls),
            _ => return,
        }
        self.power_loss = None;
    }

    /// What the core holds durably: its hard state, the snapshot its log starts after
    /// (with the state it stands for) and the entries after it.
    pub fn durable_core(raft: &Raft) -> (Recovered, Option<Bytes>) {
        let snapshot = raft.snapshot().cloned();
        let base = raft.log_base().index;
        let recovered = Recovered {
            hard_state: raft.hard_state(),
            snapshot: snapshot.as_ref().map(|(meta, _)| *meta),
            entries: raft
                .entries_after(base)
                .into_iter()
                .map(|(_, e)| e)
                .collect(),
        };
        (recovered, snapshot.map(|(_, state)| state))
    }
}

/// Facts gathered over a whole run, for the invariants.
#[derive(Debug, Default)]
pub struct History {
    pub leaders: BTreeMap<Term, PeerId>,
    pub applied: BTreeMap<LogIndex, Entry>,
    pub max_commit: LogIndex,
    /// read id -> the highest commit index seen anywhere when it was registered.
    pub read_floor: BTreeMap<u64, LogIndex>,
    /// Messages delivered, by marker.
    pub delivered: BTreeMap<char, usize>,
}

impl History {
    fn check_leader(&mut self, seed: u64, id: PeerId, raft: &Raft) {
        self.max_commit = self.max_commit.max(raft.commit_index());
        if raft.role() == Role::Leader {
            let term = raft.term();
            let first = *self.leaders.entry(term).or_insert(id);
            assert_eq!(first, id, "seed {seed}: two leaders in term {term}");
        }
    }

    fn check_applied(&mut self, seed: u64, id: PeerId, index: LogIndex, entry: &Entry) {
        let first = self.applied.entry(index).or_insert_with(|| entry.clone());
        assert_eq!(
            first, entry,
            "seed {seed}: {id} applied a different entry at {index}"
        );
    }

    fn check_read(&self, seed: u64, read_id: u64, index: LogIndex) {
        if let Some(floor) = self.read_floor.get(&read_id) {
            assert!(
                index >= *floor,
                "seed {seed}: read {read_id} at {index} misses commit {floor}"
            );
        }
    }
}

impl Cluster {
    /// Drains `id`'s `Ready` and carries it out in the documented order, checking the
    /// invariants. With `RAFT_TRACE` set, prints a line per non-empty `Ready`.
    pub fn drive(&mut self, id: PeerId) {
        let seed = self.seed;
        let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else {
            return;
        };
        let mut ready = raft.ready();
        if std::env::var_os("RAFT_TRACE").is_some() && !ready.is_empty() {
            trace(self.now, id, raft, &ready);
        }
        self.history.check_leader(seed, id, raft);
        // 0. Requests (the leader's replication, vote requests) and early replies may leave
        // before the sender's own sync (as the replica sends them), so a power loss below
        // crashes a leader whose entries, a candidate whose vote requests, or a follower
        // whose answers to heartbeats are already out.
        for (to, msg) in ready.take_early_messages() {
            self.send(id, to, msg);
        }
        // 1. Persist.
        let node = self.nodes.get_mut(&id).expect("member");
        if ready.persists() {
            node.arm_power_loss(ready.snapshot.is_some());
        }
        let raft = node.raft.as_ref().expect("member is up");
        let store = node.store.as_mut().expect("member is up");
        if let Some(hs) = ready.hard_state {
            assert!(
                hs.term >= store.hard_state().term,
                "seed {seed}: {id}'s term went back"
            );
        }
        if let Err(e) = store.persist(raft, &ready) {
            assert!(
                node.disk.power_lost(),
                "seed {seed}: {id} failed to persist: {e}"
            );
            node.power_losses += 1;
            self.crash(id);
            return;
        }
        assert_eq!(
            store.last_index(),
            raft.last_index(),
            "seed {seed}: {id}'s stored log does not end where its core's does"
        );
        assert_eq!(
            store.hard_state(),
            raft.hard_state(),
            "seed {seed}: {id}'s stored hard state"
        );
        node.truncations += usize::from(ready.truncate_after.is_some());
        if node.crash_in_ready {
            self.crash(id);
            return;
        }
        // 2. Send.
        for (to, msg) in std::mem::take(&mut ready.messages) {
            self.send(id, to, msg);
        }
        // 3. Apply.
        let node = self.nodes.get_mut(&id).expect("member");
        if let Some((meta, data)) = ready.snapshot {
            node.app = App::decode(data);
            assert_eq!(
                node.app.last(),
                meta.index.0,
                "seed {seed}: snapshot contents"
            );
            for (i, e) in &node.app.applied {
                self.history.check_applied(seed, id, *i, e);
            }
        }
        for (index, entry) in ready.committed {
            assert_eq!(
                index.0,
                node.app.last() + 1,
                "seed {seed}: {id} applies out of order"
            );
            self.history.check_applied(seed, id, index, &entry);
            node.app.applied.push((index, entry));
        }
        // 4. Serve reads.
        for (read_id, index) in &ready.reads {
            self.history.check_read(seed, *read_id, *index);
        }
        node.reads.extend(ready.reads);
        node.lost_reads.extend(ready.lost_reads);
    }

    /// Asserts that every member's applied sequence is a prefix of the longest.
    pub fn assert_prefixes(&self) {
        let longest = self
            .nodes
            .values()
            .map(|n| &n.app.applied)
            .max_by_key(|a| a.len())
            .cloned()
            .unwrap_or_default();
        for (id, node) in &self.nodes {
            let a = &node.app.applied;
            assert_eq!(
                a[..],
                longest[..a.len()],
                "seed {}: {id}'s applied log is not a prefix",
                self.seed
            );
        }
    }
}

fn trace(now: u64, id: PeerId, raft: &Raft, ready: &Ready) {
    let msgs: Vec<String> = ready
        .messages
        .iter()
        .map(|(to, m)| {
            format!(
                "{}>{to}@{}",
                char::from(m.marker()),
                m.term().map_or(0, |t| t.0)
            )
        })
        .collect();
    eprintln!(
        "t={now} {id}: {:?} term {} leader {:?} last {} commit {} | hs {:?} snap {:?} trunc {:?} +{} entries, {} committed | {}",
        raft.role(),
        raft.term(),
        raft.leader(),
        raft.last_index(),
        raft.commit_index(),
        ready.hard_state,
        ready.snapshot.as_ref().map(|s| s.0.index),
        ready.truncate_after,
        ready.entries.len(),
        ready.committed.len(),
        msgs.join(" "),
    );
}
