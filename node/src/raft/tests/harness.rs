//! An in-memory cluster for the Raft core: N members, a network queue whose delivery order,
//! losses and delays come from one seeded RNG, partitions, crashes and restarts.
//!
//! The harness plays host for every member: after each input it drains the member's
//! `Ready` and carries it out (`host.rs`), which also checks the safety invariants on every
//! step and panics with the seed on a violation. Each member persists through the node's
//! own `RaftStore` on its own in-memory disk. A crash drops the core, the store and the
//! application state and keeps only what the disk synced; the member restarts from what
//! `RaftStore::open` reads back. A member can also be set to crash in the middle of its
//! next `Ready`, after persisting and before sending, or to lose power after a number of
//! disk calls (in the middle of persisting, say).
//!
//! Beside it, builders for tests that drive one bare core by hand and read its `Ready`s:
//! [`member_with_log`], [`entry`], [`append`], [`sent`], [`replies_to_1`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;
use protocol::peer::{
    AppendEntries, AppendEntriesReply, Entry, LogIndex, PeerId, PeerMessage, Term,
};

use super::host::{App, History, Node, DIR};
use crate::group::RaftStore;
use crate::io::mem::MemDisk;
use crate::io::Rng;
use crate::raft::{HardState, Raft, RaftConfig, Ready, Recovered, Role};

/// Network behaviour.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    /// Chance of losing a message, per mille.
    pub drop_per_mille: u64,
    /// Delay in ticks, drawn from `[lo, hi]`.
    pub delay_ticks: (u64, u64),
}

impl Net {
    pub const RELIABLE: Net = Net {
        drop_per_mille: 0,
        delay_ticks: (0, 0),
    };
}

#[derive(Debug)]
struct InFlight {
    at: u64,
    from: PeerId,
    to: PeerId,
    msg: PeerMessage,
}

/// The cluster.
pub struct Cluster {
    pub seed: u64,
    pub nodes: BTreeMap<PeerId, Node>,
    pub net: Net,
    pub history: History,
    pub now: u64,
    config: RaftConfig,
    rng: Rng,
    queue: Vec<InFlight>,
    /// Directed links that lose every message.
    cut: BTreeSet<(PeerId, PeerId)>,
}

pub fn ids(n: u32) -> Vec<PeerId> {
    (0..n).map(PeerId).collect()
}

/// Every message of `ready`, in the order a host sends them: those that may leave before
/// the sync, then the rest.
pub fn sent(mut ready: Ready) -> Vec<(PeerId, PeerMessage)> {
    let mut sent = ready.take_early_messages();
    sent.append(&mut ready.messages);
    sent
}

/// An entry of `term` holding `data`, for logs built by hand.
pub fn entry(term: u64, data: &str) -> Entry {
    Entry {
        term: Term(term),
        data: Bytes::copy_from_slice(data.as_bytes()),
    }
}

/// A bare core: member `id` of `0..n`, recovered at `term` without a vote, with a log of
/// one entry per item of `terms` (that entry's term).
pub fn member_with_log(id: u32, n: u32, terms: &[u64], term: u64, seed: u64) -> Raft {
    let recovered = Recovered {
        hard_state: HardState {
            term: Term(term),
            voted_for: None,
        },
        snapshot: None,
        entries: terms.iter().map(|t| entry(*t, "e")).collect(),
    };
    Raft::new(
        RaftConfig::new(PeerId(id), ids(n)),
        recovered,
        Rng::from_seed(seed),
    )
}

/// The read round `append` tags its messages with.
pub const ROUND: u64 = 7;

/// An `AppendEntries` from member 1 as leader of `term`.
pub fn append(
    term: u64,
    prev: u64,
    prev_term: u64,
    commit: u64,
    entries: Vec<Entry>,
) -> PeerMessage {
    PeerMessage::AppendEntries(AppendEntries {
        term: Term(term),
        leader: PeerId(1),
        prev_log_index: LogIndex(prev),
        prev_log_term: Term(prev_term),
        leader_commit: LogIndex(commit),
        entries,
        round: ROUND,
    })
}

/// The `AppendEntriesReply`s to member 1 among `messages`, in order.
pub fn replies_to_1(messages: &[(PeerId, PeerMessage)]) -> Vec<AppendEntriesReply> {
    messages
        .iter()
        .filter_map(|(to, m)| match m {
            PeerMessage::AppendEntriesReply(r) if *to == PeerId(1) => Some(*r),
            _ => None,
        })
        .collect()
}

impl Cluster {
    /// `n` members with default timings over a reliable, instant network.
    pub fn new(n: u32, seed: u64) -> Cluster {
        Cluster::with_config(n, seed, |_| {})
    }

    /// `n` members whose configuration `tweak` adjusts.
    pub fn with_config(n: u32, seed: u64, tweak: impl FnOnce(&mut RaftConfig)) -> Cluster {
        let mut config = RaftConfig::new(PeerId(0), ids(n));
        tweak(&mut config);
        let mut c = Cluster {
            seed,
            nodes: BTreeMap::new(),
            net: Net::RELIABLE,
            history: History::default(),
            now: 0,
            config,
            rng: Rng::from_seed(seed),
            queue: Vec::new(),
            cut: BTreeSet::new(),
        };
        for id in ids(n) {
            c.nodes.insert(
                id,
                Node {
                    raft: None,
                    disk: MemDisk::new(),
                    store: None,
                    app: App::default(),
                    boots: 0,
                    crash_in_ready: false,
                    expect_on_restart: None,
                    power_loss: None,
                    power_losses: 0,
                    reads: Vec::new(),
                    lost_reads: Vec::new(),
                    truncations: 0,
                    replaced_disk: false,
                },
            );
            c.restart(id);
        }
        c
    }

    pub fn raft(&self, id: PeerId) -> &Raft {
        self.nodes[&id].raft.as_ref().expect("member is up")
    }

    pub fn raft_mut(&mut self, id: PeerId) -> &mut Raft {
        self.nodes
            .get_mut(&id)
            .and_then(|n| n.raft.as_mut())
            .expect("member is up")
    }

    pub fn is_up(&self, id: PeerId) -> bool {
        self.nodes[&id].raft.is_some()
    }

    pub fn up(&self) -> Vec<PeerId> {
        self.nodes
            .keys()
            .copied()
            .filter(|id| self.is_up(*id))
            .collect()
    }

    /// Live members that believe they lead.
    pub fn leaders(&self) -> Vec<PeerId> {
        self.up()
            .into_iter()
            .filter(|id| self.raft(*id).role() == Role::Leader)
            .collect()
    }

    /// The live leader of the highest term, if any.
    pub fn leader(&self) -> Option<PeerId> {
        self.leaders()
            .into_iter()
            .max_by_key(|id| self.raft(*id).term())
    }

    /// Power loss: the core, the application's state and queued reads are gone, and the
    /// disk keeps only what it synced. Expects every `Ready` so far drained (the harness
    /// drives after every input).
    pub fn crash(&mut self, id: PeerId) {
        let node = self.nodes.get_mut(&id).expect("member");
        // Between `Ready`s everything the core holds was persisted and synced; in the
        // middle of a write, some prefix of it was.
        node.expect_on_restart = match &node.raft {
            Some(raft) if !node.disk.power_lost() => Some(Node::durable_core(raft)),
            _ => None,
        };
        node.raft = None;
        node.store = None;
        node.disk.crash();
        node.app = App::default();
        node.crash_in_ready = false;
        node.power_loss = None;
    }

    /// Replaces `id`'s machine: a crash, then a start on an empty disk, told so
    /// (`replaced_disk`) as an operator would tell it.
    pub fn wipe(&mut self, id: PeerId) {
        self.crash(id);
        let node = self.nodes.get_mut(&id).expect("member");
        node.disk = MemDisk::new();
        node.expect_on_restart = None;
        node.replaced_disk = true;
        self.restart(id);
    }

    /// Starts a member from what its store reads back from its disk, as the node does.
    pub fn restart(&mut self, id: PeerId) {
        let seed = self.seed;
        let mut config = self.config.clone();
        config.id = id;
        let node = self.nodes.get_mut(&id).expect("member");
        config.replaced_disk = node.replaced_disk;
        assert!(node.raft.is_none(), "restart of a live member");
        let opened = RaftStore::open(node.disk.clone(), Path::new(DIR))
            .unwrap_or_else(|e| panic!("seed {seed}: {id} cannot restart: {e}"));
        if let Some((recovered, state)) = node.expect_on_restart.take() {
            assert_eq!(
                (&opened.recovered, &opened.snapshot_state),
                (&recovered, &state),
                "seed {seed}: {id} restarts with something else than its core had persisted"
            );
        }
        let rng = Rng::from_seed(seed ^ (u64::from(id.0) << 32) ^ (node.boots << 48));
        node.boots += 1;
        let (store, raft, snapshot) = opened
            .start_raft(config, rng)
            .unwrap_or_else(|e| panic!("seed {seed}: {id} cannot start: {e}"));
        node.app = snapshot.map_or_else(App::default, |(_, state)| App::decode(state));
        node.raft = Some(raft);
        node.store = Some(store);
        self.drive(id);
    }

    /// What `id` would recover if it crashed now, read back by its store from a copy of
    /// its disk.
    pub fn stored(&self, id: PeerId) -> Recovered {
        let disk = self.nodes[&id].disk.after_crash();
        let opened = RaftStore::open(disk, Path::new(DIR)).expect("stored state reads back");
        opened.recovered
    }

    /// Cuts both directions between every member of `a` and every member of `b`.
    pub fn partition(&mut self, a: &[PeerId], b: &[PeerId]) {
        for x in a {
            for y in b {
                self.cut.insert((*x, *y));
                self.cut.insert((*y, *x));
            }
        }
    }

    /// Cuts `id` off from everyone.
    pub fn isolate(&mut self, id: PeerId) {
        let others: Vec<PeerId> = self.nodes.keys().copied().filter(|p| *p != id).collect();
        self.partition(&[id], &others);
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Proposes `data` on `id` if it leads.
    pub fn propose(&mut self, id: PeerId, data: &str) -> Option<(LogIndex, Term)> {
        let raft = self.nodes.get_mut(&id)?.raft.as_mut()?;
        let res = raft.propose(Bytes::copy_from_slice(data.as_bytes())).ok();
        self.drive(id);
        res
    }

    /// Registers a read on `id`; false if it is not the leader.
    pub fn read(&mut self, id: PeerId, read_id: u64) -> bool {
        let floor = self.history.max_commit;
        let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else {
            return false;
        };
        let ok = raft.read_index(read_id).is_ok();
        if ok {
            self.history.read_floor.insert(read_id, floor);
        }
        self.drive(id);
        ok
    }

    /// The application on `id` snapshots its state and compacts the log up to it, through
    /// the store as the replica does.
    pub fn compact(&mut self, id: PeerId) {
        let seed = self.seed;
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        let index = LogIndex(node.app.last());
        let base = raft.log_base().index;
        if index > base {
            node.arm_power_loss(true);
        }
        let (Some(raft), Some(store)) = (node.raft.as_mut(), node.store.as_mut()) else {
            return;
        };
        match store.compact(raft, index, || node.app.encode()) {
            Ok(done) => {
                assert_eq!(done, index > base, "seed {seed}: compaction at {index}");
                assert_eq!(raft.log_base().index, index.max(base), "seed {seed}");
                assert_eq!(store.last_index(), raft.last_index(), "seed {seed}");
            }
            Err(e) => {
                assert!(
                    node.disk.power_lost(),
                    "seed {seed}: {id} failed to compact: {e}"
                );
                node.power_losses += 1;
                self.crash(id);
            }
        }
    }

    /// One tick: every live member ticks, then the network delivers what is due.
    pub fn tick(&mut self) {
        self.now += 1;
        for id in self.up() {
            self.raft_mut(id).tick();
            self.drive(id);
        }
        self.deliver();
    }

    pub fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick();
        }
    }

    /// Ticks until `done` holds (checked before each tick); false if it never did.
    pub fn run_until(&mut self, max_ticks: u64, mut done: impl FnMut(&Cluster) -> bool) -> bool {
        for _ in 0..max_ticks {
            if done(self) {
                return true;
            }
            self.tick();
        }
        done(self)
    }

    /// Runs until exactly one live leader exists and every live member follows it.
    pub fn elect(&mut self, max_ticks: u64) -> PeerId {
        let ok = self.run_until(max_ticks, |c| {
            let leaders = c.leaders();
            leaders.len() == 1
                && c.up()
                    .iter()
                    .all(|id| c.raft(*id).leader() == Some(leaders[0]))
        });
        assert!(
            ok,
            "seed {}: no stable leader within {max_ticks} ticks",
            self.seed
        );
        self.leaders()[0]
    }

    pub(super) fn send(&mut self, from: PeerId, to: PeerId, msg: PeerMessage) {
        if self.cut.contains(&(from, to)) {
            return;
        }
        if self.net.drop_per_mille > 0 && self.rng.range(0, 1000) < self.net.drop_per_mille {
            return;
        }
        let (lo, hi) = self.net.delay_ticks;
        let at = self.now + self.rng.range(lo, hi + 1);
        self.queue.push(InFlight { at, from, to, msg });
    }

    /// Delivers every due message, in an order drawn from the RNG, including the ones the
    /// deliveries cause if they are due too.
    fn deliver(&mut self) {
        for _ in 0..1_000_000 {
            let due: Vec<usize> = (0..self.queue.len())
                .filter(|i| self.queue[*i].at <= self.now)
                .collect();
            if due.is_empty() {
                return;
            }
            let pick = due[self.rng.range(0, due.len() as u64) as usize];
            let m = self.queue.swap_remove(pick);
            if self.cut.contains(&(m.from, m.to)) || !self.is_up(m.to) {
                continue;
            }
            let marker = char::from(m.msg.marker());
            *self.history.delivered.entry(marker).or_default() += 1;
            self.raft_mut(m.to).step(m.from, m.msg);
            self.drive(m.to);
        }
        panic!("seed {}: the network never went quiet", self.seed);
    }
}
