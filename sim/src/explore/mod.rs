//! Exploration: a scenario plus a fault plan drawn from a seed, written out as a plain
//! scenario whose faults are explicit timeline events.
//!
//! [`explore`] takes a shipped scenario and a seed and returns a new scenario: the base
//! timeline, the base's random faults drawn for that seed (as `sim run` would), and a swarm
//! of faults ([`swarm`]) as timeline events, with some workload knobs changed. The result
//! needs no explorer to replay: `sim replay` of its TOML runs the same case, so a failure
//! found by `sim explore` is already a regression file.

pub mod swarm;

use std::time::Duration;

use node::io::Rng;

use crate::runner::{self, exponential, seeds};
use crate::scenario::{self, Event, Faults, GroupLinks, Scenario, TimedEvent};
pub use swarm::{FaultKind, Swarm};

/// An explored case: the scenario to run (with the seed as its only seed) and what the
/// seed turned on.
#[derive(Debug, Clone)]
pub struct Explored {
    /// The scenario with its faults as explicit timeline events.
    pub scenario: Scenario,
    /// The fault kinds and rates drawn.
    pub swarm: Swarm,
    /// The workload knobs changed, as `field = value` strings.
    pub knobs: Vec<String>,
}

/// Generated events that would break a scenario rule (a crash of a node already down) are
/// dropped with their partner (its restart); this bounds the retries.
const MAX_REPAIRS: usize = 200;

/// Generated faults start here (the cluster has formed) and end with the workload.
const FAULTS_FROM: Duration = Duration::from_millis(500);

/// `base` explored with `seed`.
pub fn explore(base: &Scenario, seed: u64) -> Explored {
    let mut rng = Rng::from_seed(seeds::derive(seed, "explore", 0));
    let window = base.duration.saturating_sub(FAULTS_FROM);
    let swarm = Swarm::draw(&mut rng.fork(), window);
    let mut scenario = base.clone();
    scenario.name = format!("{}-explore-{seed}", base.name);
    scenario.seeds = vec![seed];
    let knobs = change_workload(&mut scenario, &mut rng.fork());
    storage_settings(&mut scenario, &swarm, &mut rng.fork());

    // Events with the index of the fault they belong to, so a dropped crash takes its
    // restart along. Base events are each their own fault.
    // A random fault's end (a restart after its downtime) may fall after the workload; the
    // heal before the final reads ends it then anyway, and no event may come later.
    let mut events: Vec<(usize, TimedEvent)> = runner::timeline_with_faults(base, seed)
        .into_iter()
        .map(|mut e| {
            e.at = e.at.min(base.duration);
            e
        })
        .enumerate()
        .collect();
    scenario.faults = Faults::default();
    // A lock may be held through every fault (an ECS paused or down cannot even abandon
    // the join); what must hold is that it ends within a join deadline of the faults
    // ending. A base's own tighter budget is about its own fault plan.
    let after_faults = base.duration + base.node.join_deadline + Duration::from_secs(10);
    scenario.checks.max_lock_hold = base.checks.max_lock_hold.max(after_faults);
    // The base's window is not this case's: its faults are drawn anew.
    scenario.checks.reaches.clear();
    let first_generated = events.len();
    let generated = generate(&scenario, &swarm, &mut rng.fork(), first_generated);
    events.extend(generated);
    events.sort_by_key(|(_, e)| e.at);

    for _ in 0..MAX_REPAIRS {
        scenario.timeline = events.iter().map(|(_, e)| e.clone()).collect();
        let Some(bad) = broken_event(&scenario) else {
            break;
        };
        // Usually a generated crash of a node already down; a base random fault can also
        // clash with the base timeline (`sim run` lets it: a crash of a down node does
        // nothing), and goes the same way.
        let fault = events[bad].0;
        events.retain(|(f, _)| *f != fault);
    }
    scenario.timeline = events.into_iter().map(|(_, e)| e).collect();
    let description = format!(
        "{}\n\nExplored with seed {seed}: {}{}.",
        base.description.trim_end(),
        swarm.describe(),
        if knobs.is_empty() {
            String::new()
        } else {
            format!("; workload {}", knobs.join(", "))
        }
    );
    scenario.description = description.trim_start().to_string();
    Explored {
        scenario,
        swarm,
        knobs,
    }
}

/// The index of the timeline event a scenario rule blames, if the scenario breaks one.
fn broken_event(scenario: &Scenario) -> Option<usize> {
    let err = scenario::parse(&scenario.to_toml(), "explored").err()?;
    let field = err.field.unwrap_or_default();
    let index = field
        .strip_prefix("timeline[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse::<usize>().ok());
    // A rule broken outside the timeline is a bug of the generator: drop the last event
    // rather than loop.
    Some(index.unwrap_or(scenario.timeline.len().saturating_sub(1)))
}

/// The storage kinds that are settings: torn writes at crashes, corrupted reads at
/// restarts (a minority of each group at most, so no group loses what it committed).
fn storage_settings(scenario: &mut Scenario, swarm: &Swarm, rng: &mut Rng) {
    let on = |kind| swarm.kinds.iter().any(|(k, _)| *k == kind);
    if on(FaultKind::TornWrites) {
        scenario.storage.torn_writes = rng.range(20, 101) as f64 / 100.0;
    }
    let minority = (scenario.cluster.group_size.max(1) - 1) / 2;
    if on(FaultKind::Corruption) && minority > 0 {
        scenario.storage.corrupt_on_restart = rng.range(10, 61) as f64 / 100.0;
        scenario.storage.max_corrupt_per_group = minority;
    }
}

/// Random workload knobs, each changed with probability 1/2, within the scenario rules.
fn change_workload(scenario: &mut Scenario, rng: &mut Rng) -> Vec<String> {
    let w = &mut scenario.workload;
    let mut knobs = Vec::new();
    if w.clients == 0 {
        return knobs;
    }
    let flip = |rng: &mut Rng| rng.range(0, 2) == 1;
    if flip(rng) {
        w.clients = rng.range(1, 5) as u32;
        knobs.push(format!("clients = {}", w.clients));
    }
    if flip(rng) {
        w.shared_keys = rng.range(0, 7) as u32;
        if w.keys == 0 && w.shared_keys == 0 {
            w.shared_keys = 1;
        }
        knobs.push(format!("shared_keys = {}", w.shared_keys));
    }
    if flip(rng) {
        w.concurrency = rng.range(1, 4) as u32;
        knobs.push(format!("concurrency = {}", w.concurrency));
    }
    if flip(rng) {
        w.rate = rng.range(2, 41) as f64;
        knobs.push(format!("rate = {}", w.rate));
    }
    if flip(rng) {
        w.mix.get = rng.range(0, 11) as u32;
        w.mix.put = rng.range(1, 11) as u32;
        w.mix.delete = rng.range(0, 4) as u32;
        w.mix.cas = rng.range(0, 6) as u32;
        knobs.push(format!(
            "mix = get {} put {} delete {} cas {}",
            w.mix.get, w.mix.put, w.mix.delete, w.mix.cas
        ));
    }
    knobs
}

/// The swarm's faults over `[0.5 s, duration)`, numbered from `first` (one number per
/// fault: a crash and its restart share one).
fn generate(
    scenario: &Scenario,
    swarm: &Swarm,
    rng: &mut Rng,
    first: usize,
) -> Vec<(usize, TimedEvent)> {
    let start = FAULTS_FROM;
    let end = scenario.duration;
    let mut with_joins = scenario.clone();
    let mut out: Vec<(usize, TimedEvent)> = Vec::new();
    let mut fault = first;
    // Joins first, so the other kinds can aim at the groups that exist by then.
    let mut kinds = swarm.kinds.clone();
    kinds.sort_by_key(|(k, _)| *k != FaultKind::Join);
    for (kind, mean) in kinds {
        let mut rng = rng.fork();
        let mut t = start + exponential(&mut rng, mean);
        let mut joins = 0;
        while t < end {
            let length =
                Duration::from_millis(rng.range(200, swarm.longest.as_millis() as u64 + 1));
            // Whole milliseconds: the file reads `4.244s`, not `4244445.969us`.
            let at = Duration::from_millis(t.as_millis() as u64);
            let events = one_fault(&with_joins, kind, at, length, &mut rng);
            if kind == FaultKind::Join {
                joins += 1;
                with_joins.timeline.extend(events.iter().cloned());
                with_joins.timeline.sort_by_key(|e| e.at);
            }
            out.extend(events.into_iter().map(|e| (fault, e)));
            fault += 1;
            if kind == FaultKind::Join && joins >= 2 {
                break;
            }
            t += length + exponential(&mut rng, mean);
        }
    }
    out
}

/// The events of one fault of `kind` at `at`, lasting `length`.
fn one_fault(
    scenario: &Scenario,
    kind: FaultKind,
    at: Duration,
    length: Duration,
    rng: &mut Rng,
) -> Vec<TimedEvent> {
    let timed = |at: Duration, event: Event| TimedEvent {
        at,
        when: None,
        event,
    };
    let groups = runner::groups_at(scenario, at);
    let nodes = runner::nodes_at(scenario, at);
    if groups == 0 || nodes.is_empty() {
        return Vec::new();
    }
    let group = rng.range(1, u64::from(groups) + 1) as u32;
    let node = nodes[rng.range(0, nodes.len() as u64) as usize].clone();
    let clients: Vec<String> = (1..=scenario.workload.clients)
        .map(|i| format!("c{i}"))
        .collect();
    let others = |with_clients: bool| -> Vec<String> {
        let mut others = vec!["ecs".to_string()];
        others.extend(nodes.iter().filter(|n| **n != node).cloned());
        if with_clients {
            others.extend(clients.iter().cloned());
        }
        others
    };
    // Every fault ends by the end of the workload (the heal before the final reads would
    // end it then anyway, and no event may come later).
    let back = (at + length).min(scenario.duration);
    let restart_group = |at| timed(at, Event::RestartGroup { group });
    match kind {
        FaultKind::NodeCrash => vec![
            timed(at, Event::Crash { node: node.clone() }),
            timed(back, Event::Restart { node: node.clone() }),
        ],
        FaultKind::LeaderCrash => {
            vec![timed(at, Event::CrashLeader { group }), restart_group(back)]
        }
        FaultKind::FollowerCrash if scenario.cluster.group_size > 1 => vec![
            timed(at, Event::CrashFollower { group }),
            restart_group(back),
        ],
        FaultKind::GroupCrash => vec![timed(at, Event::CrashGroup { group }), restart_group(back)],
        FaultKind::NodePartition => {
            let b = others(rng.range(0, 2) == 1);
            vec![
                timed(
                    at,
                    Event::Partition {
                        a: vec![node.clone()],
                        b: b.clone(),
                    },
                ),
                timed(
                    back,
                    Event::Heal {
                        a: vec![node.clone()],
                        b,
                    },
                ),
            ]
        }
        FaultKind::LeaderIsolated => vec![timed(
            at,
            Event::IsolateLeader {
                group,
                length: Some(length),
            },
        )],
        FaultKind::LeaderCutFromFollowers if scenario.cluster.group_size > 1 => vec![timed(
            at,
            Event::IsolateLeaderFromFollowers {
                group,
                length: Some(length),
            },
        )],
        FaultKind::LinkHeld => {
            let b = others(true);
            let other = b[rng.range(0, b.len() as u64) as usize].clone();
            vec![timed(
                at,
                Event::Hold {
                    a: node.clone(),
                    b: other,
                    length: Some(length),
                },
            )]
        }
        FaultKind::GroupLinksHeld => {
            let links = [
                GroupLinks::EcsLeader,
                GroupLinks::Ecs,
                GroupLinks::LeaderFollowers,
                GroupLinks::Clients,
            ][rng.range(0, 4) as usize];
            vec![timed(
                at,
                Event::HoldGroupLinks {
                    group,
                    links,
                    length,
                },
            )]
        }
        FaultKind::OneWayPartition => vec![timed(
            at,
            Event::PartitionOneway {
                a: vec![node.clone()],
                b: others(rng.range(0, 2) == 1),
                length: Some(length),
            },
        )],
        FaultKind::EcsCrash => vec![timed(at, Event::CrashEcs), timed(back, Event::RestartEcs)],
        FaultKind::EcsPause => vec![timed(at, Event::PauseEcs), timed(back, Event::ResumeEcs)],
        FaultKind::Join => vec![timed(at, Event::Join { count: 1 })],
        FaultKind::DiskError => vec![timed(at, Event::FailDisk { node: node.clone() })],
        FaultKind::Wipe => vec![timed(at, Event::Wipe { node: node.clone() })],
        // Settings of the `[storage]` section, not events (see `storage_settings`).
        FaultKind::TornWrites | FaultKind::Corruption => Vec::new(),
        FaultKind::PartSize => vec![timed(
            at,
            Event::SetPartSize {
                bytes: rng.range(128, 16 * 1024) as usize,
            },
        )],
        // Kinds that need groups of more than one node, in groups of one.
        FaultKind::FollowerCrash | FaultKind::LeaderCutFromFollowers => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn base() -> Scenario {
        let text = r#"
            name = "base"
            duration = "20s"
            seeds = [1]
            [cluster]
            groups = 2
            group_size = 3
            [workload]
            clients = 2
            keys = 4
            [[timeline]]
            at = "2s"
            action = "join"
            [faults]
            crash_every = "5s"
        "#;
        scenario::parse(text, "base.toml").expect("a valid base")
    }

    #[test]
    fn an_explored_case_is_a_valid_plain_scenario_that_a_seed_fixes() {
        let base = base();
        let mut actions = BTreeSet::new();
        for seed in 0..100 {
            let e = explore(&base, seed);
            let text = e.scenario.to_toml();
            let back = scenario::parse(&text, "explored.toml")
                .unwrap_or_else(|err| panic!("seed {seed}: {err}\n{text}"));
            assert_eq!(back, e.scenario, "seed {seed}: the file is the case");
            assert_eq!(back.faults, Faults::default(), "faults are timeline events");
            assert_eq!(back.seeds, vec![seed]);
            assert!(e.scenario.description.contains(&format!("seed {seed}")));
            // The base timeline is kept.
            assert!(back
                .timeline
                .iter()
                .any(|t| t.event == Event::Join { count: 1 }));
            actions.extend(back.timeline.iter().map(|t| t.event.name()));
            let again = explore(&base, seed);
            assert_eq!(again.scenario, e.scenario, "seed {seed} explores one case");
        }
        // Over 100 seeds every kind of fault shows up.
        for action in [
            "crash",
            "restart",
            "crash_leader",
            "crash_follower",
            "crash_group",
            "restart_group",
            "partition",
            "heal",
            "isolate_leader",
            "isolate_leader_from_followers",
            "hold",
            "hold_group_links",
            "partition_oneway",
            "crash_ecs",
            "restart_ecs",
            "pause_ecs",
            "resume_ecs",
            "join",
            "set_part_size",
            "fail_disk",
        ] {
            assert!(actions.contains(action), "no {action} in 100 seeds");
        }
    }

    #[test]
    fn seeds_differ() {
        let base = base();
        let plans: BTreeSet<String> = (0..20)
            .map(|seed| {
                let mut s = explore(&base, seed).scenario;
                s.name.clear();
                s.seeds.clear();
                s.description.clear();
                s.to_toml()
            })
            .collect();
        assert_eq!(plans.len(), 20);
    }
}
