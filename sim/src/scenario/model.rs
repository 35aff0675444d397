//! The scenario as the runner uses it: plain data, already validated.
//!
//! A scenario file (TOML) is parsed into these types by [`super::parse()`]; the runner reads
//! nothing else, so printing a `Scenario` back as TOML ([`Scenario::to_toml`]) gives a file
//! that replays the same run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One scenario: the cluster, the clients, the timeline, random faults and checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports and snapshot file names.
    pub name: String,
    /// What behaviour the scenario pins down.
    #[serde(default)]
    pub description: String,
    /// Simulated time the workload and timeline run for; checks run after it.
    #[serde(with = "crate::scenario::duration")]
    pub duration: Duration,
    /// Seeds `sim run` uses when none are given; the first is the snapshot's seed.
    pub seeds: Vec<u64>,
    /// The cluster at the start.
    #[serde(default)]
    pub cluster: Cluster,
    /// The clients and what they do.
    #[serde(default)]
    pub workload: Workload,
    /// Scripted events, in time order.
    #[serde(default)]
    pub timeline: Vec<TimedEvent>,
    /// Random faults drawn from the seed.
    #[serde(default)]
    pub faults: Faults,
    /// Storage faults: torn writes, I/O errors, corrupted reads. None by default.
    #[serde(default, skip_serializing_if = "Storage::is_off")]
    pub storage: Storage,
    /// Which checks judge the run.
    #[serde(default)]
    pub checks: Checks,
    /// How the trace is rendered in snapshots.
    #[serde(default)]
    pub trace: TraceOptions,
    /// The simulated network's timing.
    #[serde(default)]
    pub network: NetworkOptions,
}

/// The simulated network's timing.
///
/// turmoil advances every host and link one `tick` at a time; a message is delivered at
/// the first tick after its latency (drawn from `[min_latency, max_latency]`) has passed.
/// A coarser tick simulates faster (the cost of a run is mostly per tick and per host);
/// a latency range wider than one tick lets messages overtake each other across ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkOptions {
    /// Simulation step.
    #[serde(with = "crate::scenario::duration")]
    pub tick: Duration,
    /// Shortest one-way message latency.
    #[serde(with = "crate::scenario::duration")]
    pub min_latency: Duration,
    /// Longest one-way message latency.
    #[serde(with = "crate::scenario::duration")]
    pub max_latency: Duration,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            tick: Duration::from_millis(10),
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(20),
        }
    }
}

/// The cluster at the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cluster {
    /// Groups that join at time zero, in order (they register together and the ECS
    /// admits them one at a time).
    pub groups: u32,
    /// Nodes per group, for the groups at the start and every group that joins: 1, 3 or
    /// 5 (see [`GROUP_SIZES`](super::names::GROUP_SIZES)).
    pub group_size: u32,
    /// Longest `ecs_put` line a node sends, in bytes.
    pub part_size: usize,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            groups: 1,
            group_size: 1,
            part_size: 64 * 1024,
        }
    }
}

/// The clients and what they do. Each client owns its own keys (`c<i>-k<j>`), writes
/// them all once, then runs random operations on its own keys and on the shared keys
/// (`s<j>`, which every client reads and writes) until `stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Workload {
    /// Number of client hosts.
    pub clients: u32,
    /// Keys per client (each has one writer: the client's lane that owns it).
    pub keys: u32,
    /// Keys every client reads, writes, deletes and compare-and-sets concurrently.
    pub shared_keys: u32,
    /// Operations a client keeps in flight at once: each on its own connection, as its
    /// own session (a Jepsen "process").
    pub concurrency: u32,
    /// Operations per second per client (after the initial writes), split over its lanes.
    pub rate: f64,
    /// Relative weights of the operations.
    pub mix: Mix,
    /// When the clients start.
    #[serde(with = "crate::scenario::duration")]
    pub start: Duration,
    /// When the clients stop issuing operations (default: the scenario's duration).
    #[serde(default, with = "crate::scenario::duration::option")]
    pub stop: Option<Duration>,
    /// Bytes per value written.
    pub value_size: usize,
    /// How long one operation may take, retries included, before the client gives up.
    #[serde(with = "crate::scenario::duration")]
    pub op_deadline: Duration,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            clients: 0,
            keys: 0,
            shared_keys: 4,
            concurrency: 2,
            rate: 10.0,
            mix: Mix::default(),
            start: Duration::ZERO,
            stop: None,
            value_size: 16,
            op_deadline: Duration::from_secs(5),
        }
    }
}

/// Relative weights of the four operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    /// Weight of get.
    pub get: u32,
    /// Weight of put.
    pub put: u32,
    /// Weight of delete.
    pub delete: u32,
    /// Weight of compare-and-set.
    pub cas: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            get: 50,
            put: 40,
            delete: 5,
            cas: 5,
        }
    }
}

/// One scripted event.
///
/// Written flat: `at`, `action` and the action's fields side by side in one table. It is
/// read through `parse::RawEvent` rather than `flatten` + an internally tagged
/// enum, which would buffer the entry, lose every field's position for error messages,
/// and let unit actions (`pause_ecs`) accept stray fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "crate::scenario::parse::RawEvent")]
pub struct TimedEvent {
    /// When it happens, in simulated time from the start.
    #[serde(with = "crate::scenario::duration")]
    pub at: Duration,
    /// What happens.
    #[serde(flatten)]
    pub event: Event,
}

/// What a timeline entry does. Hosts are named `ecs`, `n<k>` (the node of group k in
/// groups of one, counting from 1 in join order), `n<k>a`, `n<k>b`, ... (the members of
/// group k in groups of three or five) and `c<i>` (client i, from 1); see
/// [`names`](super::names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// Start `count` new groups; they register with the ECS at once.
    Join {
        /// How many groups.
        #[serde(default = "one")]
        count: u32,
    },
    /// Power loss: the node stops and loses what it had not synced.
    Crash {
        /// The node.
        node: String,
    },
    /// Start a crashed node again on what its disk kept (or restart a running one).
    Restart {
        /// The node.
        node: String,
    },
    /// Crash whichever node leads group `group` (1-based) now, as the trace shows it: the
    /// member that sent `AppendEntries` in the highest term seen (member `a` if none has).
    CrashLeader {
        /// The group.
        group: u32,
    },
    /// Cut the current leader of group `group` off from every other host (the ECS, every
    /// other node, every client); see [`Event::CrashLeader`] for how it is found.
    IsolateLeader {
        /// The group.
        group: u32,
    },
    /// Power loss of every member of group `group` at once.
    CrashGroup {
        /// The group.
        group: u32,
    },
    /// Start every member of group `group` that is down again on what its disk kept
    /// (after `crash_group`, all of them; after `crash_leader`, the old leader). Running
    /// members are left alone.
    RestartGroup {
        /// The group.
        group: u32,
    },
    /// Repair every cut link and release every held one, between all hosts.
    HealAll,
    /// Power loss of the ECS.
    CrashEcs,
    /// Start the ECS again on what its disk kept.
    RestartEcs,
    /// Hold every message to and from the ECS.
    PauseEcs,
    /// Deliver held ECS messages and resume.
    ResumeEcs,
    /// Cut the links between two sets of hosts.
    Partition {
        /// One side.
        a: Vec<String>,
        /// The other side.
        b: Vec<String>,
    },
    /// Restore the links between two sets of hosts.
    Heal {
        /// One side.
        a: Vec<String>,
        /// The other side.
        b: Vec<String>,
    },
    /// Hold messages on the link between two hosts.
    Hold {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// Deliver the held messages between two hosts.
    Release {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// Change the longest `ecs_put` line nodes send from now on.
    SetPartSize {
        /// Bytes.
        bytes: usize,
    },
    /// One of the node's next few writes or syncs fails with an I/O error; the node must
    /// stop, and is restarted after `faults.downtime`.
    FailDisk {
        /// The node.
        node: String,
    },
    /// The next time the node starts, its Raft log or snapshot reads back with one byte
    /// changed; the node must refuse to start, and stays down.
    Corrupt {
        /// The node.
        node: String,
    },
}

fn one() -> u32 {
    1
}

/// Random faults drawn from the seed during `[start, until)`; none by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Mean time between node crashes (exponential); none if absent.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub crash_every: Option<Duration>,
    /// How long a crashed node stays down.
    #[serde(with = "crate::scenario::duration")]
    pub downtime: Duration,
    /// Mean time between partitions of one random node from the rest.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub partition_every: Option<Duration>,
    /// How long a partition lasts.
    #[serde(with = "crate::scenario::duration")]
    pub partition_length: Duration,
    /// Faults start here.
    #[serde(with = "crate::scenario::duration")]
    pub start: Duration,
    /// Faults stop here (default: the scenario's duration); the cluster then must recover.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub until: Option<Duration>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            crash_every: None,
            downtime: Duration::from_secs(1),
            partition_every: None,
            partition_length: Duration::from_secs(1),
            start: Duration::ZERO,
            until: None,
        }
    }
}

/// Storage faults (see `sim::runtime::FaultyDisk`): none by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// Probability that a node crash (`crash`, `crash_leader`, a random crash) is a power
    /// loss during the node's next write, which it tears: a random prefix of the write
    /// reaches the disk.
    pub torn_writes: f64,
    /// Mean time between I/O errors injected into a random node's writes (exponential),
    /// during the `[faults]` window; none if absent.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub io_error_every: Option<Duration>,
    /// Probability that a node restarted by `restart`, `restart_group`, a random crash's
    /// restart or an I/O error's reads its Raft log or snapshot back with one byte changed.
    pub corrupt_on_restart: f64,
    /// Most members of one group given a corrupted read over a run (each refuses to
    /// start and stays down): at most a minority of a group.
    pub max_corrupt_per_group: u32,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            torn_writes: 0.0,
            io_error_every: None,
            corrupt_on_restart: 0.0,
            max_corrupt_per_group: 1,
        }
    }
}

impl Storage {
    /// Whether no storage fault is asked for (the section is left out).
    pub fn is_off(&self) -> bool {
        *self == Storage::default()
    }
}

/// Which checks run. All are on unless turned off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Checks {
    /// Every key reads back as its last acknowledged write (or a later unacknowledged one).
    pub no_lost_writes: bool,
    /// Every group that registered was admitted and announced to every node.
    pub joins_complete: bool,
    /// No group is left write-locked.
    pub locks_released: bool,
    /// At most one member of a group leads any one term: the members that sent
    /// `AppendEntries` (or `InstallSnapshot`) in a term are at most one.
    pub one_leader_per_term: bool,
    /// Raft's state machine safety, from the wire: no leader contradicts an entry known
    /// committed, and no two entries share an index and a term with different bytes.
    pub committed_entries_stable: bool,
    /// Only a key's owner (in the ring it has accepted) acknowledges writes to it, and the
    /// ring the groups end on gives every key exactly one owner.
    pub ring_ownership: bool,
    /// Every key's history (the clients' operations and the final read) is linearizable.
    pub linearizable: bool,
    /// The linearizability search's budget per key, in steps; a key not decided within
    /// it is reported undecided (not failed).
    pub linearizable_steps: u64,
    /// Longest a group may hold a write lock (from its `ok` to `write_lock` until its `ok`
    /// to `release_lock`, or the end of the run).
    #[serde(with = "crate::scenario::duration")]
    pub max_lock_hold: Duration,
    /// After faults stop, every key can be read again within this long.
    #[serde(with = "crate::scenario::duration")]
    pub recovery_deadline: Duration,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            no_lost_writes: true,
            joins_complete: true,
            locks_released: true,
            one_leader_per_term: true,
            committed_entries_stable: true,
            ring_ownership: true,
            linearizable: true,
            linearizable_steps: 2_000_000,
            max_lock_hold: Duration::from_secs(20),
            recovery_deadline: Duration::from_secs(30),
        }
    }
}

/// How client and peer (Raft) traffic appear in the rendered trace. Either way the trace
/// hash covers every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceOptions {
    /// `full`: every client packet; `summary`: one line per simulated second with counts.
    pub clients: ClientTrace,
    /// `full`: every peer frame; `summary`: one line per simulated second with counts.
    pub peers: PeerTrace,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            clients: ClientTrace::Summary,
            peers: PeerTrace::Summary,
        }
    }
}

/// See [`TraceOptions::peers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerTrace {
    /// Every peer frame (heartbeats included: many).
    Full,
    /// Counts per simulated second.
    Summary,
}

/// See [`TraceOptions::clients`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTrace {
    /// Every client packet.
    Full,
    /// Counts per simulated second.
    Summary,
}

impl Scenario {
    /// When clients stop issuing operations.
    pub fn workload_stop(&self) -> Duration {
        self.workload.stop.unwrap_or(self.duration)
    }

    /// When random faults stop.
    pub fn faults_until(&self) -> Duration {
        self.faults.until.unwrap_or(self.duration)
    }

    /// The scenario as a TOML file that replays it.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# could not render scenario: {e}\n"))
    }
}
