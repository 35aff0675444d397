//! The rules a well-formed scenario must also meet: what serde's types cannot say.
//!
//! [`check`] looks at a typed [`Scenario`] and lists every broken rule with the path of the
//! field to blame; `parse` turns the path into a line and reports the earliest. It does
//! not read the file and does not change the scenario.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::scenario::duration::format_duration;
use crate::scenario::model::{Event, RogueKind, Scenario};
use crate::scenario::names::{group_members, member_name, parse_host, HostName, GROUP_SIZES};
use crate::trace::MESSAGE_KINDS;

/// The smallest `ecs_put` part size, in bytes.
pub const MIN_PART_SIZE: usize = 128;
/// The largest value a client writes, in bytes.
pub const MAX_VALUE_SIZE: usize = 64 * 1024;
/// The most operations one client keeps in flight (each is a connection and a session).
pub const MAX_CONCURRENCY: u32 = 64;

/// A broken rule; the error's line and field say where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    /// A duration that must be positive is zero.
    #[error("must be more than 0s")]
    ZeroDuration,
    /// `name` is empty.
    #[error("the name is empty")]
    EmptyName,
    /// `name` has a character outside `[a-z0-9-_]`.
    #[error("{0:?} may use only a-z, 0-9, '-' and '_'")]
    BadName(String),
    /// `seeds` is empty.
    #[error("give at least one seed")]
    NoSeeds,
    /// `cluster.group_size` is not 1, 3 or 5.
    #[error(
        "group_size must be 1, 3 or 5, not {0}: a group needs a majority of its nodes to \
         elect a leader and commit, so an even size tolerates no more failures than the odd \
         size below it (2 nodes survive none, 4 survive one) and only adds a copy of every write"
    )]
    GroupSize(u32),
    /// A part size below [`MIN_PART_SIZE`].
    #[error("{0} bytes is below the smallest part size, {MIN_PART_SIZE} bytes")]
    PartSizeTooSmall(usize),
    /// No group at the start and none joins.
    #[error("the cluster never has a group: groups is 0 and the timeline joins none")]
    NoGroups,
    /// Clients but no keys.
    #[error("{0} clients need a key: give keys or shared_keys at least 1")]
    NoKeys(u32),
    /// `workload.concurrency` of 0 or above [`MAX_CONCURRENCY`].
    #[error("concurrency must be from 1 to {MAX_CONCURRENCY}, not {0}")]
    BadConcurrency(u32),
    /// `workload.rate` is not a finite positive number.
    #[error("the rate must be a finite number above 0, not {0}")]
    BadRate(f64),
    /// Every operation weight is zero.
    #[error("the operation weights sum to 0; give at least one a weight")]
    EmptyMix,
    /// `network.max_latency` is below `network.min_latency`.
    #[error("max_latency ({}) is below min_latency ({})", d(.max), d(.min))]
    LatencyRange {
        /// The minimum.
        min: Duration,
        /// The maximum.
        max: Duration,
    },
    /// A window that ends before it starts.
    #[error("start ({}) must be before {end_name} ({})", d(.start), d(.end))]
    EmptyWindow {
        /// Its start.
        start: Duration,
        /// Its end.
        end: Duration,
        /// What the end is called in the file.
        end_name: &'static str,
    },
    /// A time after the end of the scenario.
    #[error("{} is after the end of the scenario (duration = {})", d(.at), d(.duration))]
    AfterEnd {
        /// The time.
        at: Duration,
        /// The scenario's duration.
        duration: Duration,
    },
    /// `workload.value_size` above [`MAX_VALUE_SIZE`].
    #[error("{0} bytes is above the largest value size, {MAX_VALUE_SIZE} bytes (64 KiB)")]
    ValueTooLarge(usize),
    /// A timeline event earlier than the one before it.
    #[error(
        "{} is before the previous event ({}); list the timeline in time order",
        d(.at),
        d(.previous)
    )]
    OutOfOrder {
        /// This event's time.
        at: Duration,
        /// The previous event's time.
        previous: Duration,
    },
    /// `join` with `count = 0`.
    #[error("a join must start at least one group")]
    ZeroJoin,
    /// Not `ecs`, a node name or `c<i>`.
    #[error(
        "{0:?} is not a host name; hosts are ecs, n<k> (the node of group k, in groups of \
         one), n<k>a, n<k>b, ... (the members of group k, in groups of three or five) and \
         c<i> (client i)"
    )]
    BadHostName(String),
    /// A node name of the wrong shape for `cluster.group_size`: `n2` when groups have three
    /// nodes, `n2a` when they have one, `n2d` when they have three.
    #[error("{name:?} names no node: {}", node_names(*.group_size))]
    WrongNodeName {
        /// The name given.
        name: String,
        /// `cluster.group_size`.
        group_size: u32,
    },
    /// `crash`/`restart` of a host that is not a node.
    #[error(
        "{action} takes a node (n<k>, or n<k>a, n<k>b, ... in groups of more than one), \
         not {name:?} (the ECS has crash_ecs and restart_ecs)"
    )]
    NotANode {
        /// The host given.
        name: String,
        /// The action.
        action: &'static str,
    },
    /// A rogue aimed at a host that has no admin port.
    #[error("a rogue sends to nodes and to ecs, not {0:?}")]
    RogueTarget(String),
    /// A forged line that is empty or would be more than one line.
    #[error("a forged line must be one non-empty line without \\n or \\r, not {0:?}")]
    RogueLine(String),
    /// A `forge`-only field given to a replay, or more than one replay target.
    #[error("{0}")]
    RogueReplay(&'static str),
    /// A node whose group does not exist yet.
    #[error(
        "no node {name} exists at {} (nodes by then: {})",
        d(.at),
        node_span(*.groups, *.group_size)
    )]
    NoSuchNode {
        /// The node.
        name: String,
        /// The event's time.
        at: Duration,
        /// Groups that exist by then.
        groups: u64,
        /// `cluster.group_size`.
        group_size: u32,
    },
    /// A client beyond `workload.clients`.
    #[error("no client {name} (clients: {})", span("c", u64::from(*.clients)))]
    NoSuchClient {
        /// The client.
        name: String,
        /// `workload.clients`.
        clients: u32,
    },
    /// `crash_leader`, `isolate_leader`, `crash_group` or `restart_group` of a group that
    /// does not exist yet.
    #[error("no group {group} exists at {} (groups by then: {})", d(.at), span("", *.groups))]
    NoSuchGroup {
        /// The group.
        group: u32,
        /// The event's time.
        at: Duration,
        /// Groups that exist by then.
        groups: u64,
    },
    /// An empty side of a partition or heal.
    #[error("each side needs at least one host")]
    EmptySide,
    /// A host on both sides of a partition or heal.
    #[error("{0} is on both sides")]
    BothSides(String),
    /// `hold`/`release` with `a == b`.
    #[error("a link needs two different hosts, but both ends are {0}")]
    SameHost(String),
    /// A `when` trigger with neither or both of `sends` and `receives`.
    #[error("a trigger matches either `sends` or `receives` (one of them, not both)")]
    TriggerDirection,
    /// A `when` trigger on a message kind no host ever sends.
    #[error("{kind:?} is not a message kind; kinds are {}", MESSAGE_KINDS.join(", "), kind = .0)]
    UnknownMessageKind(String),
    /// A trigger with `nth = 0`.
    #[error("nth counts matches from 1")]
    ZeroNth,
    /// `node.election_ticks` empty, zero or not above the heartbeat.
    #[error(
        "election_ticks [{low}, {high}] must be a range (min <= max) whose min is above \
         heartbeat_ticks ({heartbeat}), or followers start elections under a healthy leader"
    )]
    ElectionTicks {
        /// The minimum.
        low: u32,
        /// The maximum.
        high: u32,
        /// `node.heartbeat_ticks`.
        heartbeat: u32,
    },
    /// `node.heartbeat_ticks = 0`.
    #[error("must be at least 1 tick")]
    ZeroTicks,
    /// `node.compact_log_bytes = 0`.
    #[error("must be at least 1 byte")]
    ZeroCompaction,
    /// `node.max_append_entries = 0`.
    #[error("must be at least 1 entry")]
    ZeroAppendEntries,
    /// A probability outside `[0, 1]`.
    #[error("must be a probability from 0 to 1, not {0}")]
    Probability(f64),
    /// Corrupting more than a minority of a group.
    #[error(
        "{max} corrupted members of a group of {group_size} can lose what the group \
         committed (a corrupted member refuses to start and stays down, and a write is \
         committed on a bare majority): at most {} in groups of {group_size}",
        (.group_size.max(&1) - 1) / 2
    )]
    CorruptMajority {
        /// `storage.max_corrupt_per_group`.
        max: u32,
        /// `cluster.group_size`.
        group_size: u32,
    },
    /// More `corrupt` actions for one group than `storage.max_corrupt_per_group`.
    #[error(
        "this is corrupt action {count} for group {group}, but storage.max_corrupt_per_group \
         is {max}"
    )]
    TooManyCorrupt {
        /// The group.
        group: u64,
        /// How many `corrupt` actions name its members by then.
        count: u32,
        /// `storage.max_corrupt_per_group`.
        max: u32,
    },
    /// A crash of a node that is already down.
    #[error("{node} is already down: it crashed at {} and has not restarted since", d(.since))]
    AlreadyCrashed {
        /// The node.
        node: String,
        /// When it crashed.
        since: Duration,
    },
}

/// A duration as written in scenario files.
fn d(duration: &Duration) -> String {
    format_duration(*duration)
}

/// `n1..n3`, `n1`, or `none`.
fn span(prefix: &str, count: u64) -> String {
    match count {
        0 => "none".to_owned(),
        1 => format!("{prefix}1"),
        n => format!("{prefix}1..{prefix}{n}"),
    }
}

/// The nodes of `groups` groups of `group_size`: `n1..n3`, `n1a..n3c`, `none`.
fn node_span(groups: u64, group_size: u32) -> String {
    let name = |group: u64, member: u32| {
        let group = u32::try_from(group).unwrap_or(u32::MAX);
        member_name(group, member, group_size)
    };
    match groups {
        0 => "none".to_owned(),
        _ if groups == 1 && group_size <= 1 => name(1, 0),
        _ => format!("{}..{}", name(1, 0), name(groups, group_size.max(1) - 1)),
    }
}

/// How nodes are named with this group size, for [`Invalid::WrongNodeName`].
fn node_names(group_size: u32) -> String {
    match group_size {
        0 | 1 => "groups have one node each, named n<k> (n1, n2, ...)".to_owned(),
        size => format!(
            "groups have {size} nodes each, named n<k>a..{} (group 1 is {})",
            member_name(0, size - 1, size).replace('0', "<k>"),
            group_members(1, size).join(", ")
        ),
    }
}

/// Whether a node name's member letter (or its absence) suits the group size: `n<k>` in
/// groups of one, a letter for a member that exists in bigger groups.
fn member_fits(member: Option<u32>, group_size: u32) -> bool {
    match member {
        None => group_size <= 1,
        Some(id) => group_size > 1 && id < group_size,
    }
}

/// Every broken rule, each with the path of the field to blame.
pub(super) fn check(s: &Scenario) -> Vec<(String, Invalid)> {
    let mut out = Rules(Vec::new());
    out.rule(s.name.is_empty(), "name", || Invalid::EmptyName);
    let name_ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let bad_name = !s.name.chars().all(name_ok);
    out.rule(bad_name, "name", || Invalid::BadName(s.name.clone()));
    out.positive(s.duration, "duration");
    out.rule(s.seeds.is_empty(), "seeds", || Invalid::NoSeeds);

    let c = &s.cluster;
    let gs = c.group_size;
    let bad_size = !GROUP_SIZES.contains(&gs);
    out.rule(bad_size, "cluster.group_size", || Invalid::GroupSize(gs));
    out.part_size(c.part_size, "cluster.part_size");
    let joins = |e: &Event| match e {
        Event::Join { count } => u64::from(*count),
        _ => 0,
    };
    let joined: u64 = s.timeline.iter().map(|t| joins(&t.event)).sum();
    let no_groups = u64::from(c.groups) + joined == 0;
    out.rule(no_groups, "cluster.groups", || Invalid::NoGroups);

    let w = &s.workload;
    let no_keys = w.clients > 0 && w.keys == 0 && w.shared_keys == 0;
    out.rule(no_keys, "workload.keys", || Invalid::NoKeys(w.clients));
    let bad_concurrency = !(1..=MAX_CONCURRENCY).contains(&w.concurrency);
    out.rule(bad_concurrency, "workload.concurrency", || {
        Invalid::BadConcurrency(w.concurrency)
    });
    let bad_rate = !(w.rate.is_finite() && w.rate > 0.0);
    out.rule(bad_rate, "workload.rate", || Invalid::BadRate(w.rate));
    let weights = [w.mix.get, w.mix.put, w.mix.delete, w.mix.cas];
    let empty_mix = weights.iter().all(|&weight| weight == 0);
    out.rule(empty_mix, "workload.mix", || Invalid::EmptyMix);
    out.window(s, w.start, w.stop, "workload", "stop");
    let big = w.value_size > MAX_VALUE_SIZE;
    out.rule(big, "workload.value_size", || {
        Invalid::ValueTooLarge(w.value_size)
    });
    out.positive(w.op_deadline, "workload.op_deadline");

    timeline(s, &mut out);

    let f = &s.faults;
    for (every, field) in [
        (f.crash_every, "crash_every"),
        (f.partition_every, "partition_every"),
    ] {
        if let Some(every) = every {
            out.positive(every, &format!("faults.{field}"));
        }
    }
    out.positive(f.downtime, "faults.downtime");
    out.positive(f.partition_length, "faults.partition_length");
    out.window(s, f.start, f.until, "faults", "until");
    storage(s, &mut out);
    out.positive(s.checks.recovery_deadline, "checks.recovery_deadline");
    let k = &s.node;
    out.positive(k.raft_tick, "node.raft_tick");
    let [low, high] = k.election_ticks;
    // Raft needs the election timeout well above the heartbeat, or followers time out
    // between two heartbeats of a healthy leader.
    let bad_election = low == 0 || high < low || low <= k.heartbeat_ticks;
    out.rule(bad_election, "node.election_ticks", || {
        Invalid::ElectionTicks {
            low,
            high,
            heartbeat: k.heartbeat_ticks,
        }
    });
    out.rule(k.heartbeat_ticks == 0, "node.heartbeat_ticks", || {
        Invalid::ZeroTicks
    });
    out.rule(k.compact_log_bytes == 0, "node.compact_log_bytes", || {
        Invalid::ZeroCompaction
    });
    out.rule(k.max_append_entries == 0, "node.max_append_entries", || {
        Invalid::ZeroAppendEntries
    });
    for (d, field) in [
        (k.attempt_timeout, "attempt_timeout"),
        (k.retry_pause, "retry_pause"),
        (k.transfer_timeout, "transfer_timeout"),
        (k.join_deadline, "join_deadline"),
        (k.register_every, "register_every"),
    ] {
        out.positive(d, &format!("node.{field}"));
    }
    let n = &s.network;
    out.positive(n.tick, "network.tick");
    out.rule(n.max_latency < n.min_latency, "network.max_latency", || {
        Invalid::LatencyRange {
            min: n.min_latency,
            max: n.max_latency,
        }
    });
    out.0
}

/// The `[storage]` section's rules.
fn storage(s: &Scenario, out: &mut Rules) {
    let st = &s.storage;
    for (p, field) in [
        (st.torn_writes, "torn_writes"),
        (st.corrupt_on_restart, "corrupt_on_restart"),
    ] {
        let bad = !(0.0..=1.0).contains(&p);
        out.rule(bad, &format!("storage.{field}"), || Invalid::Probability(p));
    }
    if let Some(every) = st.io_error_every {
        out.positive(every, "storage.io_error_every");
    }
    let corrupts = st.corrupt_on_restart > 0.0
        || s.timeline
            .iter()
            .any(|t| matches!(t.event, Event::Corrupt { .. }));
    let group_size = s.cluster.group_size;
    let minority = (group_size.max(1) - 1) / 2;
    let max = st.max_corrupt_per_group;
    out.rule(
        corrupts && max > minority,
        "storage.max_corrupt_per_group",
        || Invalid::CorruptMajority { max, group_size },
    );
}

/// The timeline's rules: order, times, host names, crash state.
fn timeline(s: &Scenario, out: &mut Rules) {
    let groups_at = |at: Duration| {
        let joined = s
            .timeline
            .iter()
            .filter(|t| t.at <= at)
            .map(|t| match t.event {
                Event::Join { count } => u64::from(count),
                _ => 0,
            });
        u64::from(s.cluster.groups) + joined.sum::<u64>()
    };
    let mut previous = Duration::ZERO;
    let group_size = s.cluster.group_size;
    let mut crashed: BTreeMap<String, Duration> = BTreeMap::new();
    let mut corrupts: BTreeMap<u64, u32> = BTreeMap::new();
    for (i, t) in s.timeline.iter().enumerate() {
        let at = t.at;
        let field = |name: &str| format!("timeline[{i}].{name}");
        // A triggered event may fire any time after `at`, or never: it may stand anywhere
        // in the list, may name any host of the run, and does not take part in the
        // crash-state rule.
        let triggered = t.when.is_some();
        if !triggered {
            let late = at < previous;
            out.rule(late, &field("at"), || Invalid::OutOfOrder { at, previous });
            previous = previous.max(at);
        }
        let duration = s.duration;
        let after = at > duration;
        out.rule(after, &field("at"), || Invalid::AfterEnd { at, duration });
        let groups = if triggered {
            groups_at(duration)
        } else {
            groups_at(at)
        };
        let host_ok = |out: &mut Rules, name: &str, path: String| match parse_host(name) {
            None => out.push(path, Invalid::BadHostName(name.to_owned())),
            Some(HostName::Node { member, .. }) if !member_fits(member, group_size) => {
                let name = name.to_owned();
                out.push(path, Invalid::WrongNodeName { name, group_size });
            }
            Some(HostName::Node { group: k, .. }) if k == 0 || k > groups => {
                let name = name.to_owned();
                let bad = Invalid::NoSuchNode {
                    name,
                    at,
                    groups,
                    group_size,
                };
                out.push(path, bad);
            }
            Some(HostName::Client(c)) if c == 0 || c > u64::from(s.workload.clients) => {
                let (name, clients) = (name.to_owned(), s.workload.clients);
                out.push(path, Invalid::NoSuchClient { name, clients });
            }
            Some(_) => {}
        };
        if let Some(when) = &t.when {
            let path = |name: &str| format!("timeline[{i}].when.{name}");
            let both = when.sends.is_some() == when.receives.is_some();
            out.rule(both, &path("sends"), || Invalid::TriggerDirection);
            let (kind, sends) = when.kind();
            let known = MESSAGE_KINDS.contains(&kind);
            let kind_field = if sends { "sends" } else { "receives" };
            out.rule(!both && !known, &path(kind_field), || {
                Invalid::UnknownMessageKind(kind.to_owned())
            });
            out.rule(when.nth == 0, &path("nth"), || Invalid::ZeroNth);
            for (name, host) in [("host", &when.host), ("peer", &when.peer)] {
                if let Some(host) = host {
                    host_ok(out, host, path(name));
                }
            }
        }
        if let Some(length) = t.event.length() {
            out.positive(length, &field("for"));
        }
        match &t.event {
            Event::Join { count } => out.rule(*count == 0, &field("count"), || Invalid::ZeroJoin),
            Event::Crash { node } | Event::Restart { node } => {
                let crash = matches!(t.event, Event::Crash { .. });
                let action = if crash { "crash" } else { "restart" };
                if !matches!(parse_host(node), Some(HostName::Node { .. })) {
                    let name = node.clone();
                    out.push(field("node"), Invalid::NotANode { name, action });
                    continue;
                }
                host_ok(out, node, field("node"));
                if triggered {
                    continue;
                }
                if !crash {
                    crashed.remove(node.as_str());
                } else if let Some(&since) = crashed.get(node.as_str()) {
                    let node = node.clone();
                    out.push(field("node"), Invalid::AlreadyCrashed { node, since });
                } else {
                    crashed.insert(node.clone(), at);
                }
            }
            Event::Wipe { node } => {
                if !matches!(parse_host(node), Some(HostName::Node { .. })) {
                    let name = node.clone();
                    out.push(
                        field("node"),
                        Invalid::NotANode {
                            name,
                            action: "wipe",
                        },
                    );
                    continue;
                }
                host_ok(out, node, field("node"));
                // It starts again at once, on an empty disk.
                if !triggered {
                    crashed.remove(node.as_str());
                }
            }
            Event::FailDisk { node } | Event::Corrupt { node } => {
                let corrupt = matches!(t.event, Event::Corrupt { .. });
                let action = if corrupt { "corrupt" } else { "fail_disk" };
                let Some(HostName::Node { group, .. }) = parse_host(node) else {
                    let name = node.clone();
                    out.push(field("node"), Invalid::NotANode { name, action });
                    continue;
                };
                host_ok(out, node, field("node"));
                if corrupt {
                    let count = corrupts.entry(group).or_default();
                    *count += 1;
                    let (count, max) = (*count, s.storage.max_corrupt_per_group);
                    out.rule(count > max, &field("node"), || Invalid::TooManyCorrupt {
                        group,
                        count,
                        max,
                    });
                }
            }
            Event::CrashLeader { group }
            | Event::IsolateLeader { group, .. }
            | Event::CrashGroup { group }
            | Event::RestartGroup { group }
            | Event::CrashFollower { group }
            | Event::IsolateLeaderFromFollowers { group, .. }
            | Event::HoldGroupLinks { group, .. }
            | Event::Remove { group } => {
                let bad = *group == 0 || u64::from(*group) > groups;
                let group = *group;
                out.rule(bad, &field("group"), || Invalid::NoSuchGroup {
                    group,
                    at,
                    groups,
                });
                // A whole group down or up again, for the crash-state rule. A member that
                // is already down stays down: crash_group crashes the others.
                if !bad && !triggered {
                    let members = group_members(group, group_size);
                    if matches!(t.event, Event::CrashGroup { .. }) {
                        for m in members {
                            crashed.entry(m).or_insert(at);
                        }
                    } else if matches!(t.event, Event::RestartGroup { .. }) {
                        for m in members {
                            crashed.remove(&m);
                        }
                    }
                }
            }
            Event::Partition { a, b }
            | Event::Heal { a, b }
            | Event::PartitionOneway { a, b, .. } => {
                out.rule(a.is_empty(), &field("a"), || Invalid::EmptySide);
                out.rule(b.is_empty(), &field("b"), || Invalid::EmptySide);
                for (side, hosts) in [("a", a), ("b", b)] {
                    for (j, name) in hosts.iter().enumerate() {
                        host_ok(out, name, field(&format!("{side}[{j}]")));
                    }
                }
                for (j, name) in b.iter().enumerate() {
                    let both = a.contains(name);
                    let path = field(&format!("b[{j}]"));
                    out.rule(both, &path, || Invalid::BothSides(name.clone()));
                }
            }
            Event::Hold { a, b, .. } | Event::Release { a, b } => {
                host_ok(out, a, field("a"));
                host_ok(out, b, field("b"));
                out.rule(a == b, &field("b"), || Invalid::SameHost(b.clone()));
            }
            Event::SetPartSize { bytes } => out.part_size(*bytes, &field("bytes")),
            Event::Rogue {
                kind,
                to,
                auth,
                lines,
            } => {
                for (j, name) in to.iter().enumerate() {
                    let path = field(&format!("to[{j}]"));
                    match parse_host(name) {
                        Some(HostName::Node { .. }) => host_ok(out, name, path),
                        Some(HostName::Ecs) if *kind == RogueKind::Forge => {}
                        _ => out.push(path, Invalid::RogueTarget(name.clone())),
                    }
                }
                for (j, line) in lines.iter().enumerate() {
                    let bad = line.trim().is_empty() || line.contains(['\n', '\r']);
                    out.rule(bad, &field(&format!("lines[{j}]")), || {
                        Invalid::RogueLine(line.clone())
                    });
                }
                if kind.is_peer() {
                    out.rule(!lines.is_empty(), &field("lines"), || {
                        Invalid::RogueReplay(
                            "`lines` is for kind = \"forge\": a peer rogue sends Raft frames",
                        )
                    });
                }
                if kind.is_replay() {
                    out.rule(to.len() > 1, &field("to"), || {
                        Invalid::RogueReplay("a replay goes to one node")
                    });
                    out.rule(!auth.is_none(), &field("auth"), || {
                        Invalid::RogueReplay(
                            "`auth` is for kind = \"forge\" or \"forge_peer\": a replay sends what it captured",
                        )
                    });
                    out.rule(
                        !lines.is_empty() && !kind.is_peer(),
                        &field("lines"),
                        || {
                            Invalid::RogueReplay(
                                "`lines` is for kind = \"forge\": a replay sends what it captured",
                            )
                        },
                    );
                }
            }
            Event::CrashEcs
            | Event::RestartEcs
            | Event::PauseEcs
            | Event::ResumeEcs
            | Event::HealAll => {}
        }
    }
}

/// The broken rules found so far.
struct Rules(Vec<(String, Invalid)>);

impl Rules {
    fn push(&mut self, path: String, invalid: Invalid) {
        self.0.push((path, invalid));
    }

    fn rule(&mut self, broken: bool, path: &str, invalid: impl FnOnce() -> Invalid) {
        if broken {
            self.push(path.to_owned(), invalid());
        }
    }

    fn positive(&mut self, d: Duration, path: &str) {
        self.rule(d.is_zero(), path, || Invalid::ZeroDuration);
    }

    fn part_size(&mut self, bytes: usize, path: &str) {
        let small = bytes < MIN_PART_SIZE;
        self.rule(small, path, || Invalid::PartSizeTooSmall(bytes));
    }

    /// `start < end <= duration`, where `end` defaults to the duration. An explicit end
    /// takes the blame; without one, `start` does.
    fn window(
        &mut self,
        s: &Scenario,
        start: Duration,
        end: Option<Duration>,
        section: &str,
        end_name: &'static str,
    ) {
        let duration = s.duration;
        let (end, end_field, end_name) = match end {
            Some(end) => (end, format!("{section}.{end_name}"), end_name),
            None => (
                duration,
                format!("{section}.start"),
                "the end of the scenario",
            ),
        };
        if end > duration {
            self.push(end_field, Invalid::AfterEnd { at: end, duration });
        } else if start >= end {
            self.push(
                end_field,
                Invalid::EmptyWindow {
                    start,
                    end,
                    end_name,
                },
            );
        }
    }
}
