//! One run: a whole cluster built from one scenario and one seed, driven step by step,
//! then judged by the checks.
//!
//! Hosts: `ecs`, `n<k>` (the node of group k), `c<i>` (workload clients) and `verify` (reads
//! every key once the run is over). Each host's RNG is derived from (seed, host name, boot
//! count); turmoil's network RNG is seeded with the run seed; the epoch is fixed.

mod hosts;
mod panics;
mod schedule;
pub mod seeds;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use crate::checks::{self, Failure};
use crate::scenario::{Event, Scenario};
use crate::trace::{Trace, TraceHandle, What};
use crate::workload::{History, HistoryHandle};

pub use schedule::nodes_at;

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
    /// Nodes started so far, in join order.
    pub(crate) nodes: Vec<String>,
    /// Nodes that are crashed now.
    pub(crate) down: BTreeSet<String>,
    pub(crate) ecs_down: bool,
    pub(crate) verifier_done: Rc<Cell<bool>>,
    /// Host errors reported by turmoil, by host.
    pub(crate) host_errors: BTreeMap<String, String>,
    /// Whether any fault was applied (so the heal before the final reads is worth noting).
    pub(crate) disturbed: bool,
}

fn fault(trace: &TraceHandle, at: Duration, text: String) {
    trace.borrow_mut().push(at, What::Fault(text));
}

/// Runs `scenario` with `seed` and judges it.
pub fn run(scenario: &Scenario, seed: u64) -> RunReport {
    panics::install_hook();
    panics::take();
    let scenario = Rc::new(scenario.clone());
    let mut builder = turmoil::Builder::new();
    let slack = Duration::from_secs(120);
    builder
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(scenario.duration + scenario.checks.recovery_deadline + slack)
        .tick_duration(scenario.network.tick)
        .min_message_latency(scenario.network.min_latency)
        .max_message_latency(scenario.network.max_latency);
    let mut sim = builder.build();
    let mut world = World {
        trace: Rc::new(RefCell::new(Trace::default())),
        history: Rc::new(RefCell::new(History::default())),
        part_size: Rc::new(Cell::new(scenario.cluster.part_size)),
        nodes: Vec::new(),
        down: BTreeSet::new(),
        ecs_down: false,
        verifier_done: Rc::new(Cell::new(false)),
        host_errors: BTreeMap::new(),
        disturbed: false,
        scenario: scenario.clone(),
        seed,
    };

    hosts::add_ecs(&mut sim, &world);
    for _ in 0..scenario.cluster.groups {
        hosts::add_node(&mut sim, &mut world);
    }
    for i in 1..=scenario.workload.clients {
        hosts::add_client(&mut sim, &world, i);
    }

    let schedule = schedule::build(&scenario, seed);
    let mut next = 0;
    let mut verifier_started = false;
    let end = scenario.duration + scenario.checks.recovery_deadline + slack;
    let mut stopped_early = None;
    loop {
        let now = sim.elapsed();
        while next < schedule.len() && schedule[next].at <= now {
            apply(&mut sim, &mut world, &schedule[next].event, now);
            next += 1;
        }
        if !verifier_started && now >= scenario.duration {
            heal_everything(&mut sim, &mut world, now);
            hosts::add_verifier(&mut sim, &world);
            verifier_started = true;
        }
        if now >= end {
            break;
        }
        // The liveness phase lasts until the final reads are done and the cluster has
        // settled (every join finished, every lock released), or the deadline passes.
        if world.verifier_done.get() && now.as_millis() % 100 == 0 && settled(&world) {
            break;
        }
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.step()));
        match step {
            Ok(Ok(_)) => {}
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
    let history = std::mem::take(&mut *world.history.borrow_mut());
    let mut failures = Vec::new();
    if let Some(why) = stopped_early {
        failures.push(Failure::new("no_panic", why));
    }
    for p in panics::take() {
        failures.push(Failure::new("no_panic", p));
    }
    for (host, e) in &world.host_errors {
        failures.push(Failure::new("no_panic", format!("{host} stopped: {e}")));
    }
    if !world.verifier_done.get() && failures.is_empty() {
        failures.push(Failure::new(
            "liveness",
            format!(
                "the final reads did not finish by {:?} of simulated time",
                end
            ),
        ));
    }
    failures.extend(checks::run_all(&scenario, &world.nodes, &trace, &history));
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        trace,
        hosts,
        history,
        failures,
        simulated,
    }
}

/// Whether every started node has finished joining and no node is write-locked.
fn settled(world: &World) -> bool {
    let trace = world.trace.borrow();
    checks::joins::check(&world.nodes, &trace).is_empty()
        && checks::locks::check(&world.nodes, &trace).is_empty()
}

/// Columns of the sequence diagram: the ECS, then nodes in join order.
fn diagram_hosts(world: &World) -> Vec<String> {
    std::iter::once("ecs".to_string())
        .chain(world.nodes.iter().cloned())
        .collect()
}

/// Before the final reads: restart what is down and reconnect what is cut, so the
/// liveness phase runs on a healed cluster.
fn heal_everything(sim: &mut turmoil::Sim<'_>, world: &mut World, now: Duration) {
    let mut all: Vec<String> = vec!["ecs".to_string()];
    all.extend(world.nodes.iter().cloned());
    all.extend((1..=world.scenario.workload.clients).map(|i| format!("c{i}")));
    for a in &all {
        for b in &all {
            if a < b {
                sim.repair(a.as_str(), b.as_str());
                sim.release(a.as_str(), b.as_str());
            }
        }
    }
    if world.ecs_down {
        sim.bounce("ecs");
        world.ecs_down = false;
    }
    let down: Vec<String> = std::mem::take(&mut world.down).into_iter().collect();
    for n in &down {
        sim.bounce(n.as_str());
    }
    if world.disturbed {
        fault(
            &world.trace,
            now,
            "faults end: every link healed, every host up".to_string(),
        );
    }
}

fn apply(sim: &mut turmoil::Sim<'_>, world: &mut World, event: &Event, now: Duration) {
    let trace = world.trace.clone();
    world.disturbed |= !matches!(event, Event::Join { .. } | Event::SetPartSize { .. });
    match event {
        Event::Join { count } => {
            for _ in 0..*count {
                let name = hosts::add_node(sim, world);
                fault(&trace, now, format!("start {name} (joins)"));
            }
        }
        Event::Crash { node } => crash_node(sim, world, node, now),
        Event::CrashLeader { group } => {
            // A group of one node: its node is its leader.
            let node = format!("n{group}");
            crash_node(sim, world, &node, now);
        }
        Event::Restart { node } => {
            if world.nodes.contains(node) {
                world.down.remove(node);
                sim.bounce(node.as_str());
                fault(&trace, now, format!("restart {node}"));
            }
        }
        Event::CrashEcs => {
            if !world.ecs_down {
                sim.crash("ecs");
                world.ecs_down = true;
                fault(&trace, now, "crash ecs (power loss)".to_string());
            }
        }
        Event::RestartEcs => {
            sim.bounce("ecs");
            world.ecs_down = false;
            fault(&trace, now, "restart ecs".to_string());
        }
        Event::PauseEcs | Event::ResumeEcs => {
            let others: Vec<String> = world
                .nodes
                .iter()
                .cloned()
                .chain((1..=world.scenario.workload.clients).map(|i| format!("c{i}")))
                .collect();
            for h in &others {
                if matches!(event, Event::PauseEcs) {
                    sim.hold("ecs", h.as_str());
                } else {
                    sim.release("ecs", h.as_str());
                }
            }
            let verb = if matches!(event, Event::PauseEcs) {
                "pause"
            } else {
                "resume"
            };
            fault(&trace, now, format!("{verb} ecs (hold its links)"));
        }
        Event::Partition { a, b } | Event::Heal { a, b } => {
            let cut = matches!(event, Event::Partition { .. });
            for x in a {
                for y in b {
                    if cut {
                        sim.partition(x.as_str(), y.as_str());
                    } else {
                        sim.repair(x.as_str(), y.as_str());
                    }
                }
            }
            let verb = if cut { "partition" } else { "heal" };
            fault(
                &trace,
                now,
                format!("{verb} [{}] | [{}]", a.join(" "), b.join(" ")),
            );
        }
        Event::Hold { a, b } => {
            sim.hold(a.as_str(), b.as_str());
            fault(&trace, now, format!("hold {a} <-> {b}"));
        }
        Event::Release { a, b } => {
            sim.release(a.as_str(), b.as_str());
            fault(&trace, now, format!("release {a} <-> {b}"));
        }
        Event::SetPartSize { bytes } => {
            world.part_size.set(*bytes);
            fault(&trace, now, format!("ecs_put part size set to {bytes} B"));
        }
    }
}

fn crash_node(sim: &mut turmoil::Sim<'_>, world: &mut World, node: &str, now: Duration) {
    if world.nodes.iter().any(|n| n == node) && !world.down.contains(node) {
        sim.crash(node);
        world.down.insert(node.to_string());
        fault(&world.trace, now, format!("crash {node} (power loss)"));
    }
}
