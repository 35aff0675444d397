//! One run: a whole cluster built from one scenario and one seed, driven step by step,
//! then judged by the checks.
//!
//! Hosts: `ecs`, the nodes (`n<k>` in groups of one, `n<k>a`, `n<k>b`, ... in bigger
//! groups; see [`names`](crate::scenario::names)), `c<i>` (workload clients) and `verify`
//! (reads every key once the run is over). Each host's RNG is derived from (seed, host
//! name, boot count); turmoil's network RNG is seeded with the run seed; the epoch is fixed.
//!
//! Faults aimed at a group's leader (`crash_leader`, `isolate_leader`) find it in the
//! trace recorded so far ([`crate::trace::leaders::current_leader`]), so the choice is as
//! deterministic as the rest of the run, and the trace says which host was chosen.
//!
//! Inside: `hosts` builds the hosts (a group's members and their configuration),
//! `schedule` merges the timeline with the random faults, `faults` carries events out,
//! `storage_faults` injects storage faults and judges the nodes' reactions, `panics`
//! catches panics inside simulated hosts.

mod faults;
mod flood;
mod hosts;
mod operator;
mod panics;
mod plan;
pub mod rogue;
mod schedule;
pub mod seeds;
mod settle;
mod storage_faults;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use crate::checks::{self, Failure};
use crate::runtime;
use crate::scenario::Scenario;
use crate::trace::{Trace, TraceHandle, What};
use crate::workload::{self, History, HistoryHandle};

pub(crate) use hosts::AUDITOR;
pub(crate) use schedule::exponential;
pub use schedule::{build as timeline_with_faults, groups_at, nodes_at};

/// Everything a run produced.
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The message trace.
    pub trace: Trace,
    /// Host names in diagram order.
    pub hosts: Vec<String>,
    /// The clients' operations and the final reads.
    pub history: History,
    /// The violated checks; empty if the run passed.
    pub failures: Vec<Failure>,
    /// Keys whose linearizability the checker could not decide within its step budget,
    /// with the steps taken (not failures; reported beside the verdict).
    pub undecided: Vec<(String, u64)>,
    /// Simulated time the run covered.
    pub simulated: Duration,
}

impl RunReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What the runner tracks about the hosts while it drives the simulation.
pub(crate) struct World {
    pub(crate) scenario: Rc<Scenario>,
    pub(crate) seed: u64,
    pub(crate) trace: TraceHandle,
    pub(crate) history: HistoryHandle,
    pub(crate) part_size: Rc<Cell<usize>>,
    /// Groups started so far, in join order: each one's members, in member order.
    pub(crate) groups: Vec<Vec<String>>,
    /// Nodes that are crashed now.
    pub(crate) down: BTreeSet<String>,
    pub(crate) ecs_down: bool,
    pub(crate) verifier_done: Rc<Cell<bool>>,
    /// Set once the view audit after the final reads is over (`hosts::add_auditor`).
    pub(crate) audit_done: Rc<Cell<bool>>,
    /// When the verifier last finished reading a key.
    pub(crate) verifier_progress: Rc<Cell<Duration>>,
    /// Host errors reported by turmoil, by host.
    pub(crate) host_errors: BTreeMap<String, String>,
    /// Whether any fault was applied (so the heal before the final reads is worth noting).
    pub(crate) disturbed: bool,
    /// The faults have ended (the heal before the final reads): nothing may fault the
    /// cluster again, not a disk error armed earlier nor a corrupted read at a restart.
    pub(crate) faults_over: bool,
    /// Storage faults: each node's disk, and what was injected into it.
    pub(crate) storage: storage_faults::StorageFaults,
    /// Rogue hosts started so far (`rogue1`, `rogue2`, ...).
    pub(crate) rogues: u32,
    /// Operator hosts started so far (`operator1`, ...), one per `remove`.
    pub(crate) operators: u32,
    /// Links held, releases to carry out before the next step, a release being drained.
    pub(crate) held: flood::Held,
}

impl World {
    /// Every node host started so far, in join order, members in member order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &String> {
        self.groups.iter().flatten()
    }

    pub(crate) fn is_node(&self, name: &str) -> bool {
        self.nodes().any(|n| n == name)
    }

    /// The members of group `group` (from 1), if it has started.
    fn group(&self, group: u32) -> Option<Vec<String>> {
        let i = usize::try_from(group).ok()?.checked_sub(1)?;
        self.groups.get(i).cloned()
    }

    /// The workload's client hosts.
    fn clients(&self) -> impl Iterator<Item = String> {
        (1..=self.scenario.workload.clients).map(|i| format!("c{i}"))
    }

    /// The ECS, every node and every client.
    fn all_hosts(&self) -> Vec<String> {
        std::iter::once("ecs".to_string())
            .chain(self.nodes().cloned())
            .chain(self.clients())
            .collect()
    }
}

fn fault(trace: &TraceHandle, at: Duration, text: String) {
    trace.borrow_mut().push(at, What::Fault(text));
}

/// How much longer than the final reads' own bound (every key's deadline, plus slack)
/// a run may last while the cluster keeps making progress; a cluster still not settled
/// then fails the liveness checks (a backlog of joins taking an hour is a stall).
const RUN_CAP_BEYOND_THE_READS: Duration = Duration::from_secs(3600);

/// Runs `scenario` with `seed` and judges it.
pub fn run(scenario: &Scenario, seed: u64) -> RunReport {
    panics::install_hook();
    panics::take();
    let scenario = Rc::new(scenario.clone());
    let mut builder = turmoil::Builder::new();
    let slack = Duration::from_secs(120);
    // The verifier gives every key its own deadline (and all keys after a failed one a last
    // shared one), so the run may last that long after the workload, and the view audit
    // one deadline more.
    let keys = workload::all_keys(&scenario.workload).len() as u32;
    let longest = scenario.duration + scenario.checks.recovery_deadline * (keys + 3) + slack;
    // The liveness phase also lasts while the groups keep taking newer views, so no fixed
    // budget fits every run; the runner ends each run itself, at `end` and never past
    // `cap`, and the liveness checks judge a cluster that had not settled by then.
    // Turmoil's own limit sits beyond the cap: reaching it is an error that would read
    // as a host's crash (found by `sim explore`, seed 1109 of
    // explore-join-backlog-outlasts-the-liveness-phase-1200ms-syncs-seed1108: a backlog of
    // joins still moving at 382 s, turmoil's limit then).
    let cap = longest + RUN_CAP_BEYOND_THE_READS;
    builder
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(cap + scenario.network.tick * 2)
        .tick_duration(scenario.network.tick)
        // Turmoil panics when a listen queue is full (a kernel drops the SYN); releases
        // of held links that would fill one are fed in batches (`flood`).
        .tcp_capacity(flood::LISTEN_QUEUE)
        .min_message_latency(scenario.network.min_latency)
        .max_message_latency(scenario.network.max_latency);
    let mut sim = builder.build();
    let mut world = World {
        trace: Rc::new(RefCell::new(Trace::default())),
        history: Rc::new(RefCell::new(History::default())),
        part_size: Rc::new(Cell::new(scenario.cluster.part_size)),
        groups: Vec::new(),
        down: BTreeSet::new(),
        ecs_down: false,
        verifier_done: Rc::new(Cell::new(false)),
        audit_done: Rc::new(Cell::new(false)),
        verifier_progress: Rc::new(Cell::new(Duration::ZERO)),
        host_errors: BTreeMap::new(),
        disturbed: false,
        faults_over: false,
        storage: storage_faults::StorageFaults::new(&scenario, seed),
        rogues: 0,
        held: flood::Held::default(),
        operators: 0,
        scenario: scenario.clone(),
        seed,
    };

    hosts::add_ecs(&mut sim, &world);
    for _ in 0..scenario.cluster.groups {
        hosts::add_group(&mut sim, &mut world);
    }
    for i in 1..=scenario.workload.clients {
        hosts::add_client(&mut sim, &world, i);
    }

    let mut plan = plan::Plan::new(schedule::build(&scenario, seed));
    let mut verifier_started = false;
    // The liveness phase ends when the reads are done and the cluster settled, or when
    // the verifier has made no progress for a deadline (plus slack).
    let recovery = scenario.checks.recovery_deadline;
    let mut end = scenario.duration + recovery + slack;
    let mut stopped_early = None;
    let mut audit_until: Option<Duration> = None;
    // The nodes the audit asks, once it starts.
    let mut audited: Vec<String> = Vec::new();
    let mut settled = settle::Settled::default();
    loop {
        let now = sim.elapsed();
        while let Some(event) = plan.next_due(now) {
            if verifier_started {
                // The faults ended with the heal before the final reads; a trigger that
                // fires later (its protocol step came late) would fault a cluster nothing
                // will heal again, and fail liveness for the harness's sake (found by
                // `sim explore`: a crash_leader after the heal left a group of three with
                // one member up). A hold's own release is moot after the heal too.
                fault(
                    &world.trace,
                    now,
                    format!("after the faults ended: {} not carried out", event.name()),
                );
                continue;
            }
            faults::apply(&mut sim, &mut world, &event, now, &mut plan);
        }
        storage_faults::apply_due(&mut sim, &mut world, now, &mut plan);
        if !verifier_started && now >= scenario.duration {
            faults::heal_everything(&mut sim, &mut world, now);
            hosts::add_verifier(&mut sim, &world);
            verifier_started = true;
        }
        flood::flush(&mut sim, &mut world, now);
        if verifier_started {
            end = end.max(world.verifier_progress.get() + recovery + slack);
        }
        if now >= end.min(cap) {
            break;
        }
        // The liveness phase lasts until the final reads are done and the cluster has
        // settled (every join finished, every lock released), or the deadline passes;
        // then every member that stays is asked which view it holds (the audit), for up
        // to the recovery deadline.
        if let Some(until) = audit_until {
            if world.audit_done.get() || now >= until {
                break;
            }
        } else if world.verifier_done.get()
            && now.as_millis() % 100 == 0
            && settled_or_moving(&mut settled, &world, now, recovery + slack, &mut end)
        {
            match audit_plan(&mut world) {
                Some((nodes, version)) => {
                    let addrs = nodes
                        .iter()
                        .map(|n| format!("{n}:{}", runtime::CLIENT_PORT))
                        .collect();
                    hosts::add_auditor(&mut sim, &world, addrs, version);
                    audited = nodes;
                    // As long as liveness allows: a member that lags (a group re-electing
                    // on slow disks) catches up within it, one that applied a stale view
                    // never does (found by `sim explore`, seed 81 of
                    // verifier-walks-every-seed-while-a-bare-majority-elects-80: 5 s ended
                    // a tick before a member's first answer with the final view).
                    audit_until = Some(now + recovery);
                    end = end.max(now + recovery);
                }
                None => break,
            }
        }
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.step()));
        match step {
            Ok(Ok(_)) => {
                let fired = plan.observe(&world.trace.borrow());
                for f in fired {
                    fault(&world.trace, f.seen_at, f.text);
                }
                let now = sim.elapsed();
                if let Some(why) = storage_faults::after_step(&mut sim, &mut world, now) {
                    stopped_early = Some(why);
                    break;
                }
            }
            Ok(Err(e)) => {
                stopped_early = Some(format!("a host stopped with an error: {e}"));
                break;
            }
            Err(_) => {
                stopped_early = Some("the simulation panicked".to_string());
                break;
            }
        }
    }
    let simulated = sim.elapsed();
    drop(sim);

    let hosts = diagram_hosts(&world);
    let trace = std::mem::take(&mut *world.trace.borrow_mut());
    world.history.borrow_mut().close(simulated);
    let history = std::mem::take(&mut *world.history.borrow_mut());
    let mut failures = Vec::new();
    // The members the audit asked and never heard from (none when it never started, or
    // when every one answered; a run stopped early never finished asking).
    if scenario.checks.joins_complete && stopped_early.is_none() {
        failures.extend(checks::joins::silent_in_audit(&audited, &trace, recovery));
    }
    if let Some(why) = stopped_early {
        failures.push(Failure::new("no_panic", why));
    }
    for p in panics::take() {
        failures.push(Failure::new("no_panic", p));
    }
    for (host, e) in &world.host_errors {
        failures.push(Failure::new("no_panic", format!("{host} stopped: {e}")));
    }
    failures.extend(world.storage.take_failures());
    failures.extend(world.held.take_failures());
    if !world.verifier_done.get() && failures.is_empty() {
        failures.push(Failure::new(
            "liveness",
            format!(
                "the final reads did not finish by {:?} of simulated time",
                end
            ),
        ));
    }
    let judgement = checks::run_all(&scenario, &world.groups, &trace, &history);
    failures.extend(judgement.failures);
    if scenario.seeds.contains(&seed) {
        failures.extend(checks::reaches::check(&scenario.checks.reaches, &trace));
    }
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        trace,
        hosts,
        history,
        failures,
        undecided: judgement.undecided,
        simulated,
    }
}

/// Whether the cluster has settled; if not, and a group took a newer view since the last
/// look, the liveness phase gets `budget` more from `now`. A backlog of joins that keeps
/// moving is not a stall: like the verifier's reads, the joins are judged by their last
/// progress, not by one budget for all (explore, seed 1108 of
/// explore-join-steps-1200ms-syncs-seed1523: group 1 without a quorum for 90 s held five
/// joins back, each ~30 s on 1200 ms syncs, and the phase ended with the sixth view being
/// announced, every step answered). A run whose views stop changing ends as before.
fn settled_or_moving(
    settled: &mut settle::Settled,
    world: &World,
    now: Duration,
    budget: Duration,
    end: &mut Duration,
) -> bool {
    let done = settled.check(&world.groups, &world.trace.borrow());
    if settled.take_progress() && !done {
        *end = (*end).max(now + budget);
    }
    done
}

/// What the view audit asks: every node (by name) of the groups that stay
/// (not removed, not down for good, not stranded on a replaced disk by a member down for
/// good), and the version of the view the cluster settled on (the newest any group
/// accepted). `None` when no view was ever accepted.
fn audit_plan(world: &mut World) -> Option<(Vec<String>, u64)> {
    let (version, removed) = {
        let trace = world.trace.borrow();
        let version = checks::joins::last_views(&trace)
            .values()
            .map(|v| v.version)
            .max()?;
        (version, checks::removed_groups(&trace))
    };
    let candidates: Vec<String> = world
        .groups
        .iter()
        .filter(|g| checks::ring_address(g).is_none_or(|ring| !removed.contains(&ring)))
        .flatten()
        .filter(|n| !world.down.contains(*n))
        .cloned()
        .collect();
    let nodes = candidates
        .into_iter()
        .filter(|n| !storage_faults::stranded_on_a_replaced_disk(world, n))
        .collect();
    Some((nodes, version))
}

/// Columns of the sequence diagram: the ECS, then nodes in join order.
fn diagram_hosts(world: &World) -> Vec<String> {
    std::iter::once("ecs".to_string())
        .chain(world.nodes().cloned())
        .collect()
}
