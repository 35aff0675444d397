//! Storage faults on the running simulation: the scenario's `[storage]` settings and its
//! `fail_disk` and `corrupt` actions, carried out through each node's
//! [`FaultyDisk`](crate::runtime::FaultyDisk), and the node's reaction judged.
//!
//! - A torn write: a crash chosen to tear (`torn_writes`) becomes a power loss during the
//!   node's next write, within [`TEAR_WINDOW`]; a prefix of that write reaches the disk.
//!   The node is counted down from the crash event; it is crashed when its disk loses
//!   power (or when the window ends with nothing written), and restarts as a crash does.
//! - An I/O error: one of the node's next writes fails. The node must stop within
//!   [`REACTION`] (it cannot know what the failed write left on disk); the runner then
//!   crashes it, so what it had not synced is lost, and restarts it after
//!   `faults.downtime`.
//! - A corrupted read: at a restart, the node reads its Raft log or snapshot back with one
//!   byte changed. It must refuse to start within [`REACTION`]; it then stays down for the
//!   rest of the run (repair from its peers is not modelled): its host boots again without
//!   the node program, so connections to it are refused at once, as to a machine whose
//!   process has exited. At most `max_corrupt_per_group` members of a group, a minority,
//!   are corrupted.
//!
//! A node that stops with an error leaves its host idle (see `hosts::add_node`) until the
//! runner, after the step, crashes it: nothing of the node runs past that step.
//!
//! A node that stops with a storage error after a fault was injected into it in the same
//! boot is doing its job; any other stop of a node is a `no_panic` failure, as before. A
//! node that keeps running after a failed write, or starts on a corrupted file, is a
//! `storage_faults` failure.
//!
//! Every random choice here comes from streams derived from the run seed for storage
//! faults alone, drawn only when a storage fault is configured: a scenario without them
//! runs exactly as it did.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use node::io::Rng;
use node::server::NodeError;

use super::schedule::exponential;
use super::{fault, faults, schedule, seeds, World};
use crate::checks::Failure;
use crate::runtime::{DiskFaults, Injected};
use crate::scenario::{Event, Scenario};

/// How long after a crash chosen to tear the node's next write may come.
pub(crate) const TEAR_WINDOW: Duration = Duration::from_millis(500);
/// How long a node has to stop after a failed write or a corrupted read.
pub(crate) const REACTION: Duration = Duration::from_secs(1);

/// How a node's software ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// Its storage could not be opened.
    Open,
    /// A write or sync failed while it ran.
    Running,
    /// Anything else.
    Other,
}

/// A node whose software returned an error.
#[derive(Debug, Clone)]
pub(crate) struct NodeExit {
    host: String,
    kind: ExitKind,
    error: String,
}

impl NodeExit {
    /// `host` stopped with `error`.
    pub(crate) fn new(host: &str, error: &NodeError) -> Self {
        let kind = match error {
            NodeError::Storage { .. } => ExitKind::Open,
            NodeError::StorageFailed { .. } => ExitKind::Running,
            _ => ExitKind::Other,
        };
        NodeExit {
            host: host.to_owned(),
            kind,
            error: error.to_string(),
        }
    }
}

/// Something a node must do by a deadline: stop.
struct Watch {
    node: String,
    deadline: Duration,
    failure: String,
}

/// The storage faults of one run.
pub(crate) struct StorageFaults {
    seed: u64,
    /// Each node's disk faults, shared with its host.
    disks: BTreeMap<String, Rc<RefCell<DiskFaults>>>,
    /// Nodes that stopped with an error, pushed by their hosts.
    exits: Rc<RefCell<Vec<NodeExit>>>,
    /// Choices at crashes and restarts: tear or not, corrupt or not.
    rng: Rng,
    torn_writes: f64,
    corrupt_on_restart: f64,
    max_corrupt_per_group: u32,
    /// `[storage] fsync_latency`, given to every disk.
    fsync_latency: Option<Duration>,
    /// Nodes whose power fails at their next write, with the end of their window.
    tearing: BTreeMap<String, Duration>,
    /// Nodes that refused to start on corrupted storage: down for good.
    dead: BTreeSet<String>,
    /// Corrupted reads armed so far, by group (from 1).
    corrupted: BTreeMap<usize, u32>,
    /// Events of their own, by time: random I/O errors, restarts after a stop.
    queue: BTreeMap<(Duration, u64), Event>,
    queued: u64,
    watches: Vec<Watch>,
    failures: Vec<Failure>,
}

/// Whether a draw from `rng` falls under probability `p`; draws nothing for 0.
fn chance(rng: &mut Rng, p: f64) -> bool {
    p > 0.0 && ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
}

impl StorageFaults {
    /// The storage faults of `scenario` run with `seed`; the random I/O errors are drawn
    /// now.
    pub(crate) fn new(scenario: &Scenario, seed: u64) -> Self {
        let st = &scenario.storage;
        let mut out = StorageFaults {
            seed,
            disks: BTreeMap::new(),
            exits: Rc::new(RefCell::new(Vec::new())),
            rng: Rng::from_seed(seeds::derive(seed, "faults/storage", 0)),
            torn_writes: st.torn_writes,
            corrupt_on_restart: st.corrupt_on_restart,
            max_corrupt_per_group: st.max_corrupt_per_group,
            fsync_latency: st.fsync_latency,
            tearing: BTreeMap::new(),
            dead: BTreeSet::new(),
            corrupted: BTreeMap::new(),
            queue: BTreeMap::new(),
            queued: 0,
            watches: Vec::new(),
            failures: Vec::new(),
        };
        if let Some(mean) = st.io_error_every {
            let mut rng = Rng::from_seed(seeds::derive(seed, "faults/storage/io", 0));
            let until = scenario.faults_until();
            let mut t = scenario.faults.start + exponential(&mut rng, mean);
            while t < until {
                let nodes = schedule::nodes_at(scenario, t);
                if !nodes.is_empty() {
                    let node = nodes[rng.range(0, nodes.len() as u64) as usize].clone();
                    out.push(t, Event::FailDisk { node });
                }
                t += exponential(&mut rng, mean);
            }
        }
        out
    }

    fn push(&mut self, at: Duration, event: Event) {
        self.queue.insert((at, self.queued), event);
        self.queued += 1;
    }

    /// `host`'s disk faults, made on first use.
    pub(crate) fn disk(&mut self, host: &str) -> Rc<RefCell<DiskFaults>> {
        let seed = self.seed;
        let fsync_latency = self.fsync_latency;
        self.disks
            .entry(host.to_owned())
            .or_insert_with(|| {
                let mut disk = DiskFaults::new(seed, host);
                disk.set_fsync_latency(fsync_latency);
                Rc::new(RefCell::new(disk))
            })
            .clone()
    }

    /// Where hosts report a node that stopped with an error.
    pub(crate) fn exits(&self) -> Rc<RefCell<Vec<NodeExit>>> {
        self.exits.clone()
    }

    /// The violations found, once the run is over.
    pub(crate) fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }
}

/// The group (from 1) `node` belongs to.
fn group_of(world: &World, node: &str) -> Option<usize> {
    world
        .groups
        .iter()
        .position(|g| g.iter().any(|m| m == node))
        .map(|i| i + 1)
}

/// Why losing `node`'s data now would leave its group without a majority of members
/// holding a full copy of its log, if it would: the other members down for good
/// (refused to start on corrupted storage, or about to) or catching up on a replaced
/// disk, counted against the group's minority.
fn takes_a_majority(world: &mut World, node: &str) -> Option<String> {
    let group = group_of(world, node)?;
    let others = other_members(world, group, node);
    let minority = others.len() / 2;
    let impaired: Vec<String> = others
        .into_iter()
        .filter(|m| down_for_good(world, m) || world.storage.disk(m).borrow().catching_up())
        .collect();
    (impaired.len() + 1 > minority).then(|| {
        if impaired.is_empty() {
            format!("group {group} has no member to spare")
        } else {
            format!(
                "group {group} would keep fewer than a majority of full copies ({} without one)",
                impaired.join(" ")
            )
        }
    })
}

/// Whether `node` is catching up on a replaced disk while another member of its group is
/// down for good: it cannot learn the group's term (it asks every other member), so it
/// rightly holds nothing of the group's state however long it waits.
pub(super) fn stranded_on_a_replaced_disk(world: &mut World, node: &str) -> bool {
    let Some(group) = group_of(world, node) else {
        return false;
    };
    if !world.storage.disk(node).borrow().catching_up() {
        return false;
    }
    other_members(world, group, node)
        .iter()
        .any(|m| down_for_good(world, m))
}

/// The members of group `group` (from 1) other than `node`.
fn other_members(world: &World, group: usize, node: &str) -> Vec<String> {
    world.groups[group - 1]
        .iter()
        .filter(|m| m.as_str() != node)
        .cloned()
        .collect()
}

/// Whether `node` is down for good or about to be: it refused to start on corrupted
/// storage, or a corrupted read is armed for this boot or the next.
fn down_for_good(world: &mut World, node: &str) -> bool {
    world.storage.dead.contains(node) || world.storage.disk(node).borrow().lost_for_good()
}

/// At a crash of `node` (up, a node): whether it becomes a power loss during its next
/// write instead; if so, arms it and counts the node down. `why` is the crash's reason.
pub(super) fn tear_instead(world: &mut World, node: &str, now: Duration, why: &str) -> bool {
    let s = &mut world.storage;
    if !chance(&mut s.rng, s.torn_writes) {
        return false;
    }
    s.disk(node).borrow_mut().arm_tear();
    s.tearing.insert(node.to_owned(), now + TEAR_WINDOW);
    world.down.insert(node.to_owned());
    let why = if why.is_empty() {
        String::new()
    } else {
        format!("{why}, ")
    };
    fault(
        &world.trace,
        now,
        format!(
            "crash {node} ({why}power loss during its next write, within {}ms)",
            TEAR_WINDOW.as_millis()
        ),
    );
    true
}

/// Crashes `node`, whose power was to fail at its next write, now (before a restart, or
/// when its window ends with nothing written).
fn lose_power(sim: &mut turmoil::Sim<'_>, world: &mut World, node: &str, now: Duration) {
    if world.storage.tearing.remove(node).is_some() {
        world.storage.disk(node).borrow_mut().disarm_tear();
        sim.crash(node);
        fault(
            &world.trace,
            now,
            format!("{node} loses power (it wrote nothing to tear)"),
        );
    }
}

/// Boots `node` again, after a power loss if it is running. A bare bounce of a running
/// node left its unsynced writes pending in turmoil's file system, which then counted them
/// into the file later renamed over that path: a log replaced after the restart read back
/// with the old bytes' length and garbage where they had been, and the node rightly
/// refused it (explore 0..2000, review-flow-lagging-catchup seed 448).
pub(super) fn power_cycle(sim: &mut turmoil::Sim<'_>, world: &mut World, node: &str) {
    if !world.down.remove(node) {
        sim.crash(node);
    }
    sim.bounce(node);
}

/// `node`'s machine is replaced: power loss (if up), its disk erased, and it boots again
/// at once on the empty disk, a node that refused to start on corrupted storage too.
///
/// Not done if it would leave fewer than a majority of the group holding a full copy of
/// its log (the others down for good or still catching up on a replaced disk): the group
/// could then never again tell which entries were committed, so it rightly stops, and no
/// scenario or exploration is meant to take more than a minority of a group's data.
pub(super) fn wipe(sim: &mut turmoil::Sim<'_>, world: &mut World, node: &str, now: Duration) {
    if let Some(why) = takes_a_majority(world, node) {
        fault(&world.trace, now, format!("wipe {node}: not done, {why}"));
        return;
    }
    world.storage.dead.remove(node);
    world.storage.disk(node).borrow_mut().arm_wipe();
    // Cancels a power loss armed for its next write, like any boot.
    may_boot(sim, world, node, now, false);
    power_cycle(sim, world, node);
    fault(
        &world.trace,
        now,
        format!("wipe {node}: power loss, disk erased, starts again empty"),
    );
}

/// Before `node` (down) boots again: whether it may (a node that refused to start on
/// corrupted storage stays down), and, if `may_corrupt`, whether this boot reads a
/// corrupted byte.
pub(super) fn may_boot(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    node: &str,
    now: Duration,
    may_corrupt: bool,
) -> bool {
    if world.storage.dead.contains(node) {
        fault(
            &world.trace,
            now,
            format!("{node} stays down: it refused to start on corrupted storage"),
        );
        return false;
    }
    lose_power(sim, world, node, now);
    let p = world.storage.corrupt_on_restart;
    if may_corrupt && !world.faults_over && p > 0.0 && chance(&mut world.storage.rng, p) {
        arm_corruption(world, node, now, false);
    }
    true
}

/// Arms a corrupted read at `node`'s next boot, if its group's budget allows; `say`
/// notes either outcome in the trace.
fn arm_corruption(world: &mut World, node: &str, now: Duration, say: bool) {
    let Some(group) = group_of(world, node) else {
        return;
    };
    let majority_lost = takes_a_majority(world, node);
    let s = &mut world.storage;
    let used = s.corrupted.entry(group).or_default();
    let text = if let Some(why) = majority_lost {
        format!("corrupt {node}: not done, {why}")
    } else if *used < s.max_corrupt_per_group {
        *used += 1;
        s.disk(node).borrow_mut().arm_corruption();
        format!("corrupt {node}: its next start reads a damaged byte")
    } else {
        format!(
            "corrupt {node}: not done, group {group} has had {used} corrupted member(s) \
             (max_corrupt_per_group)"
        )
    };
    if say {
        fault(&world.trace, now, text);
    }
}

/// At the heal before the final reads: the I/O errors armed and not yet hit are
/// dropped. One armed just before the heal hit a node that wrote rarely seconds later,
/// and its restart drew a corrupted read: the node stayed down for good in a cluster
/// nothing would heal again, and the view audit blamed it for not answering (found by
/// `sim explore`, seed 1890 of ring-ownership-release-sent-a-term-later-1937).
pub(super) fn disarm_io_errors(world: &mut World) {
    for disk in world.storage.disks.values() {
        disk.borrow_mut().disarm_io_error();
    }
}

/// The `fail_disk` action (and random I/O errors).
pub(super) fn fail_disk(world: &mut World, node: &str, now: Duration) {
    if !world.is_node(node) {
        return;
    }
    let text = if world.faults_over {
        format!("fail disk of {node}: not done, the faults have ended")
    } else if world.down.contains(node) {
        format!("fail disk of {node}: not done, it is down")
    } else {
        world.storage.disk(node).borrow_mut().arm_io_error();
        format!("fail disk of {node}: one of its next writes fails")
    };
    fault(&world.trace, now, text);
}

/// The `corrupt` action.
pub(super) fn corrupt(world: &mut World, node: &str, now: Duration) {
    if world.is_node(node) && !world.faults_over {
        arm_corruption(world, node, now, true);
    }
}

/// Carries out this module's own events due by `now`.
pub(super) fn apply_due(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    now: Duration,
    plan: &mut super::plan::Plan,
) {
    while let Some(entry) = world.storage.queue.first_entry() {
        if entry.key().0 > now {
            break;
        }
        let event = entry.remove();
        if let Event::Restart { node } = &event {
            // Restarted already (by the timeline, or before the final reads).
            if !world.down.contains(node) {
                continue;
            }
        }
        faults::apply(sim, world, &event, now, plan);
    }
}

/// After a simulation step ending at `now`: traces what the disks did, crashes nodes
/// whose power failed, judges every node that stopped, and checks deadlines. Returns why
/// the run must stop, if a node stopped unexpectedly.
pub(super) fn after_step(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    now: Duration,
) -> Option<String> {
    let news: Vec<(String, Vec<Injected>)> = world
        .storage
        .disks
        .iter()
        .map(|(host, d)| (host.clone(), d.borrow_mut().take_news()))
        .filter(|(_, n)| !n.is_empty())
        .collect();
    for (node, injected) in news {
        for i in injected {
            injected_now(sim, world, &node, i, now);
        }
    }
    let expired: Vec<String> = world
        .storage
        .tearing
        .iter()
        .filter(|(_, deadline)| **deadline <= now)
        .map(|(n, _)| n.clone())
        .collect();
    for node in expired {
        lose_power(sim, world, &node, now);
    }
    let exits: Vec<NodeExit> = std::mem::take(&mut *world.storage.exits.borrow_mut());
    for exit in exits {
        if let Some(why) = judge_exit(sim, world, exit, now) {
            return Some(why);
        }
    }
    let (due, pending): (Vec<Watch>, Vec<Watch>) = std::mem::take(&mut world.storage.watches)
        .into_iter()
        .partition(|w| w.deadline <= now);
    world.storage.watches = pending;
    for w in due {
        world
            .storage
            .failures
            .push(Failure::new("storage_faults", w.failure));
    }
    None
}

/// Traces one thing a disk did, and acts on it.
fn injected_now(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    node: &str,
    injected: Injected,
    now: Duration,
) {
    let name = |p: &std::path::Path| {
        p.file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
    };
    match injected {
        Injected::IoError { call, path } => {
            fault(
                &world.trace,
                now,
                format!("{node}: {call} of {} fails (injected EIO)", name(&path)),
            );
            world.storage.watches.push(Watch {
                node: node.to_owned(),
                deadline: now + REACTION,
                failure: format!(
                    "{node} kept running for {REACTION:?} after its {call} of {} failed at \
                     {now:?}: it cannot know what that write left on disk",
                    path.display()
                ),
            });
        }
        Injected::Torn {
            path,
            offset,
            kept,
            of,
            zero_filled,
        } => {
            world.storage.tearing.remove(node);
            sim.crash(node);
            let fill = if zero_filled {
                ", the rest zero-filled"
            } else {
                ""
            };
            fault(
                &world.trace,
                now,
                format!(
                    "{node} loses power writing {}: {kept} of {of} B at byte {offset} reach \
                     the disk{fill}",
                    name(&path)
                ),
            );
        }
        Injected::PowerLost { call } => {
            world.storage.tearing.remove(node);
            sim.crash(node);
            fault(
                &world.trace,
                now,
                format!("{node} loses power at a {call} (nothing to tear)"),
            );
        }
        Injected::Flipped {
            path,
            at,
            len,
            was,
            now: read,
        } => {
            fault(
                &world.trace,
                now,
                format!(
                    "{node} reads {} with byte {at} of {len} damaged ({was:#04x} -> {read:#04x})",
                    name(&path)
                ),
            );
            world.storage.watches.push(Watch {
                node: node.to_owned(),
                deadline: now + REACTION,
                failure: format!(
                    "{node} started on {} with byte {at} of {len} damaged ({was:#04x} -> \
                     {read:#04x}) and did not notice",
                    path.display()
                ),
            });
        }
    }
}

/// Judges a node that stopped; returns why the run must stop if it was unexpected.
fn judge_exit(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    exit: NodeExit,
    now: Duration,
) -> Option<String> {
    let node = exit.host.as_str();
    world.storage.watches.retain(|w| w.node != node);
    let injected: Vec<Injected> = world
        .storage
        .disks
        .get(node)
        .map(|d| d.borrow().this_boot().to_vec())
        .unwrap_or_default();
    let storage_error = exit.kind != ExitKind::Other;
    let power_lost = injected
        .iter()
        .any(|i| matches!(i, Injected::Torn { .. } | Injected::PowerLost { .. }));
    let flipped = injected
        .iter()
        .any(|i| matches!(i, Injected::Flipped { .. }));
    let failed = injected
        .iter()
        .any(|i| matches!(i, Injected::IoError { .. }));
    if storage_error && power_lost {
        // Crashed already: a dying node's last words.
        return None;
    }
    if storage_error && flipped && exit.kind == ExitKind::Open {
        world.storage.dead.insert(node.to_owned());
        world.storage.disk(node).borrow_mut().retire();
        world.down.insert(node.to_owned());
        // The process is gone, the machine is not: connections are refused at once.
        sim.crash(node);
        sim.bounce(node);
        fault(
            &world.trace,
            now,
            format!("{node} refuses to start: {}", exit.error),
        );
        return None;
    }
    if storage_error && failed {
        sim.crash(node);
        world.down.insert(node.to_owned());
        fault(&world.trace, now, format!("{node} stops: {}", exit.error));
        let downtime = world.scenario.faults.downtime;
        world.storage.push(
            now + downtime,
            Event::Restart {
                node: node.to_owned(),
            },
        );
        return None;
    }
    Some(format!("{node} stopped with an error: {}", exit.error))
}
