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
    /// The nodes' and the ECS's timing knobs.
    #[serde(default)]
    pub node: NodeOptions,
}

/// The timing knobs of the node and ECS programs, as the simulator sets them (the real
/// binaries have their own defaults; see each field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeOptions {
    /// Length of one Raft tick.
    #[serde(with = "crate::scenario::duration")]
    pub raft_tick: Duration,
    /// Election timeout range, in ticks: `[min, max]`, drawn per election.
    pub election_ticks: [u32; 2],
    /// Heartbeat interval, in ticks.
    pub heartbeat_ticks: u32,
    /// Log size (bytes) that triggers a snapshot and compaction. Small by default, so
    /// every run exercises snapshots and snapshot installs.
    pub compact_log_bytes: u64,
    /// At most this many entries in one `AppendEntries` (a leader sends a follower that
    /// lags a long suffix in many small batches: the window in which only part of it
    /// arrived grows with the number of batches).
    pub max_append_entries: usize,
    /// How long one request to another host (ECS to a group, sender to receiver, `done`
    /// to the ECS) may take before it is tried again.
    #[serde(with = "crate::scenario::duration")]
    pub attempt_timeout: Duration,
    /// Pause between two attempts.
    #[serde(with = "crate::scenario::duration")]
    pub retry_pause: Duration,
    /// How long the ECS waits for `done` before sending `transfer_range` again.
    #[serde(with = "crate::scenario::duration")]
    pub transfer_timeout: Duration,
    /// How long a join may take before the ECS abandons it.
    #[serde(with = "crate::scenario::duration")]
    pub join_deadline: Duration,
    /// How often a group not yet on the ring registers again (an abandoned join's
    /// newcomer gets another try this way).
    #[serde(with = "crate::scenario::duration")]
    pub register_every: Duration,
    /// Whether a member stretches its election timeout, lease and check-quorum when its
    /// disk's syncs are long beside them (the node's default). Off reproduces a node with
    /// fixed timeouts, whose group on a slow enough disk may never elect again.
    pub stretch_election_on_slow_disk: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            raft_tick: Duration::from_millis(10),
            election_ticks: [50, 100],
            heartbeat_ticks: 10,
            compact_log_bytes: 32 * 1024,
            max_append_entries: node::raft::DEFAULT_MAX_APPEND_ENTRIES,
            attempt_timeout: Duration::from_secs(1),
            retry_pause: Duration::from_millis(100),
            transfer_timeout: Duration::from_secs(10),
            // Short enough that a scenario sees an abandoned join, longer than any join
            // of the shipped scenarios takes.
            join_deadline: Duration::from_secs(15),
            // Longer than a join of the shipped scenarios takes, so only groups left out
            // ask twice.
            register_every: Duration::from_secs(20),
            stretch_election_on_slow_disk: true,
        }
    }
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
    /// When it happens, in simulated time from the start; with `when`, the time from which
    /// the trigger counts matching messages (`0s` if not written).
    #[serde(with = "crate::scenario::duration")]
    pub at: Duration,
    /// Fire on a protocol step instead of at `at`: once the trace shows the `nth` matching
    /// message (counted from `at`), plus `delay`. A trigger that never matches never fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Trigger>,
    /// What happens.
    #[serde(flatten)]
    pub event: Event,
}

/// A protocol step that fires a timeline event: `when = { host = "n1a", receives =
/// "ecs_put", nth = 3 }` fires when `n1a` reads its third `ecs_put`; `when = { sends =
/// "done", delay = "20ms" }` 20 ms after any host writes its first `done`.
///
/// Message kinds are those of [`crate::trace::Message::kind`]: ECS-protocol keywords
/// (`write_lock`, `next_addr`, `transfer_range`, `ecs_put`, `done`, `broadcast_node`,
/// `cluster_view`, `release_lock`, `register`, ...) and replies (`ok`, `error`,
/// `not_leader`), client commands (`get`, `put`, `delete`, `cas`, `response`) and peer
/// frames (`append_entries`, `request_vote`, `install_snapshot`, their `_reply`s, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The host that sends (with `sends`) or reads (with `receives`) the message; any host
    /// if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The host at the other end of the connection; any if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Match messages written by `host`, of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sends: Option<String>,
    /// Match messages read by `host`, of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receives: Option<String>,
    /// Which match fires the event, from 1.
    #[serde(default = "one")]
    pub nth: u32,
    /// How long after the match the event happens.
    #[serde(default, with = "crate::scenario::duration")]
    pub delay: Duration,
}

impl Trigger {
    /// The message kind matched, and whether it is matched on the sending side.
    pub fn kind(&self) -> (&str, bool) {
        match (&self.sends, &self.receives) {
            (Some(kind), _) => (kind, true),
            (None, Some(kind)) => (kind, false),
            (None, None) => ("", false),
        }
    }
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
    /// An operator (host `operator<k>`, a new one per event) asks the ECS to take group
    /// `group` (1-based) off the ring: `remove_group <its ring address>` over an
    /// authenticated control connection, as `kv remove` sends it, retried until the ECS
    /// answers (`ok`, or an `error` refusal that ends it).
    Remove {
        /// The group.
        group: u32,
    },
    /// Power loss: the node stops and loses what it had not synced.
    Crash {
        /// The node.
        node: String,
    },
    /// Start a crashed node again on what its disk kept (a running one loses power first).
    Restart {
        /// The node.
        node: String,
    },
    /// The node's machine is replaced: power loss, its disk erased, and it starts again
    /// at once on the empty disk with the same name and addresses (a node that refused
    /// to start on corrupted storage starts again too).
    Wipe {
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
        /// Heal exactly the links cut after this long; until `heal_all` if absent.
        #[serde(
            rename = "for",
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::scenario::duration::option"
        )]
        length: Option<Duration>,
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
    /// Cut the links from every host in `a` to every host in `b`, one way only: `b` still
    /// reaches `a` (an asymmetric partition).
    PartitionOneway {
        /// The hosts whose messages are lost.
        a: Vec<String>,
        /// The hosts that no longer hear them.
        b: Vec<String>,
        /// Heal those links (both ways) after this long; until `heal`/`heal_all` if absent.
        #[serde(
            rename = "for",
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::scenario::duration::option"
        )]
        length: Option<Duration>,
    },
    /// Restore the links between two sets of hosts.
    Heal {
        /// One side.
        a: Vec<String>,
        /// The other side.
        b: Vec<String>,
    },
    /// Hold messages on the link between two hosts (a long delay: nothing is lost).
    Hold {
        /// One end.
        a: String,
        /// The other end.
        b: String,
        /// Release them after this long; held until `release` or `heal_all` if absent.
        #[serde(
            rename = "for",
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::scenario::duration::option"
        )]
        length: Option<Duration>,
    },
    /// Deliver the held messages between two hosts.
    Release {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// Crash a member of group `group` that does not lead it now (the first one up after
    /// the leader, in member order; see [`Event::CrashLeader`] for how the leader is found).
    CrashFollower {
        /// The group.
        group: u32,
    },
    /// Cut the current leader of group `group` off from the other members only: it still
    /// reaches the ECS and the clients.
    IsolateLeaderFromFollowers {
        /// The group.
        group: u32,
        /// Heal exactly the links cut after this long; until `heal_all` if absent.
        #[serde(
            rename = "for",
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::scenario::duration::option"
        )]
        length: Option<Duration>,
    },
    /// Hold one kind of link of group `group` for a while, then release it.
    HoldGroupLinks {
        /// The group.
        group: u32,
        /// Which links.
        links: GroupLinks,
        /// How long.
        #[serde(rename = "for", with = "crate::scenario::duration")]
        length: Duration,
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
    /// A host outside the cluster (`rogue<k>`) sends control lines to the admin ports:
    /// forged ones, or a replay of an earlier authenticated conversation.
    Rogue {
        /// What it sends.
        kind: RogueKind,
        /// `forge`: the hosts it sends to, nodes or `ecs` (every node that exists and the
        /// ECS if empty). `forge_peer`: nodes (every member of a group of more than one if
        /// empty). `replay`: at most one node (the node of the ECS's first authenticated
        /// conversation if empty). `replay_peer`: at most one node (the acceptor of the
        /// first captured peer connection if empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        to: Vec<String>,
        /// `forge`, `forge_peer`: how it opens each connection.
        #[serde(default, skip_serializing_if = "RogueAuth::is_none")]
        auth: RogueAuth,
        /// `forge`: the lines, each sent on a connection of its own to each host (the
        /// issue's destructive lines if empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lines: Vec<String>,
    },
}

/// What a rogue sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RogueKind {
    /// Control lines it made up, without the secret.
    Forge,
    /// The bytes the ECS wrote on an earlier authenticated connection to a node, again, on
    /// a new connection to that node.
    Replay,
    /// Raft frames it made up, to the peer ports: a hello as another member of the
    /// target's group, then (without the dialler's proof, or with one made with a wrong
    /// secret) an AppendEntries of a far-ahead term that would append puts of values
    /// nobody wrote after the last entry the target's leader sent it, and commit them.
    ForgePeer,
    /// The bytes a member wrote on an earlier connection it dialled to another member
    /// (its hello, its proof, its requests), again, on a new connection to that member.
    ReplayPeer,
}

impl RogueKind {
    /// Whether it speaks the peer protocol (to peer ports) rather than control lines.
    pub fn is_peer(self) -> bool {
        matches!(self, RogueKind::ForgePeer | RogueKind::ReplayPeer)
    }

    /// Whether it replays captured bytes rather than making its own.
    pub fn is_replay(self) -> bool {
        matches!(self, RogueKind::Replay | RogueKind::ReplayPeer)
    }
}

/// How a forging rogue opens each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RogueAuth {
    /// It ignores the challenge and sends its line at once.
    #[default]
    None,
    /// It answers the challenge with an `auth` proof signed with a wrong secret, then sends
    /// its line.
    Wrong,
}

impl RogueAuth {
    /// Whether this is the default, [`RogueAuth::None`].
    pub fn is_none(&self) -> bool {
        *self == RogueAuth::None
    }

    /// The name as written in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            RogueAuth::None => "none",
            RogueAuth::Wrong => "wrong",
        }
    }
}

impl Event {
    /// The `for` of an action that has one: how long its fault lasts.
    pub fn length(&self) -> Option<Duration> {
        match self {
            Event::Hold { length, .. }
            | Event::IsolateLeader { length, .. }
            | Event::IsolateLeaderFromFollowers { length, .. }
            | Event::PartitionOneway { length, .. } => *length,
            Event::HoldGroupLinks { length, .. } => Some(*length),
            _ => None,
        }
    }

    /// The `for` of an action that has one, to change it.
    pub fn length_mut(&mut self) -> Option<&mut Duration> {
        match self {
            Event::Hold { length, .. }
            | Event::IsolateLeader { length, .. }
            | Event::IsolateLeaderFromFollowers { length, .. }
            | Event::PartitionOneway { length, .. } => length.as_mut(),
            Event::HoldGroupLinks { length, .. } => Some(length),
            _ => None,
        }
    }

    /// The action's name, as written in a scenario.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Join { .. } => "join",
            Event::Remove { .. } => "remove",
            Event::Crash { .. } => "crash",
            Event::Restart { .. } => "restart",
            Event::Wipe { .. } => "wipe",
            Event::CrashLeader { .. } => "crash_leader",
            Event::IsolateLeader { .. } => "isolate_leader",
            Event::CrashGroup { .. } => "crash_group",
            Event::RestartGroup { .. } => "restart_group",
            Event::HealAll => "heal_all",
            Event::CrashEcs => "crash_ecs",
            Event::RestartEcs => "restart_ecs",
            Event::PauseEcs => "pause_ecs",
            Event::ResumeEcs => "resume_ecs",
            Event::Partition { .. } => "partition",
            Event::Heal { .. } => "heal",
            Event::PartitionOneway { .. } => "partition_oneway",
            Event::Hold { .. } => "hold",
            Event::Release { .. } => "release",
            Event::CrashFollower { .. } => "crash_follower",
            Event::IsolateLeaderFromFollowers { .. } => "isolate_leader_from_followers",
            Event::HoldGroupLinks { .. } => "hold_group_links",
            Event::SetPartSize { .. } => "set_part_size",
            Event::FailDisk { .. } => "fail_disk",
            Event::Corrupt { .. } => "corrupt",
            Event::Rogue { .. } => "rogue",
        }
    }
}

/// The links [`Event::HoldGroupLinks`] holds, found when the event happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLinks {
    /// The ECS and the group's current leader.
    EcsLeader,
    /// The ECS and every member.
    Ecs,
    /// The current leader and each other member.
    LeaderFollowers,
    /// Every client (and the verifier) and every member.
    Clients,
}

impl GroupLinks {
    /// The name as written in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            GroupLinks::EcsLeader => "ecs_leader",
            GroupLinks::Ecs => "ecs",
            GroupLinks::LeaderFollowers => "leader_followers",
            GroupLinks::Clients => "clients",
        }
    }
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
    /// Mean time a node's log sync (one per Raft `Ready`) takes, in simulated time; each
    /// draw is uniform between half and one and a half times it, from the host's seeded
    /// stream. Inputs arriving meanwhile are batched into the next sync, as on a real
    /// disk. None (instant syncs) if absent.
    #[serde(default, with = "crate::scenario::duration::option")]
    pub fsync_latency: Option<Duration>,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            torn_writes: 0.0,
            io_error_every: None,
            corrupt_on_restart: 0.0,
            max_corrupt_per_group: 1,
            fsync_latency: None,
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
    /// committed, and no two entries share an index and a term with different bytes;
    /// and no member answers a Raft request from a host outside its group (a frame from
    /// outside reached Raft).
    pub committed_entries_stable: bool,
    /// Only a key's owner (in the ring it has accepted) acknowledges writes to it, and the
    /// ring the groups end on gives every key exactly one owner.
    pub ring_ownership: bool,
    /// Every key's history (the clients' operations and the final read) is linearizable.
    pub linearizable: bool,
    /// No leader sends a follower an entry it already sent it in the same term unless the
    /// follower refused an `AppendEntries` in between (replication's flow control).
    pub appends_not_resent: bool,
    /// No leader sends a follower the snapshot chunk in flight again more than about once
    /// per heartbeat interval (a snapshot transfer's flow control).
    pub snapshot_chunks_paced: bool,
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
    /// Texts the trace must contain, each in some event's one-line rendering (as `sim
    /// replay --lines-only` prints it), judged for the scenario's listed `seeds` only. A
    /// scenario written for a narrow window (a held line reaching a leader after its join
    /// ended) says here what shows the window was reached, so a change of timing that
    /// makes it miss fails instead of passing without testing anything. `sim explore`
    /// drops it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reaches: Vec<String>,
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
            appends_not_resent: true,
            snapshot_chunks_paced: true,
            linearizable_steps: 2_000_000,
            max_lock_hold: Duration::from_secs(20),
            recovery_deadline: Duration::from_secs(30),
            reaches: Vec::new(),
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
