//! The run's event schedule: the scenario's timeline plus random faults drawn from the
//! seed, merged in time order.

use std::time::Duration;

use node::io::Rng;

use super::seeds;
use crate::scenario::names::group_members;
use crate::scenario::{Event, Scenario, TimedEvent};

/// The groups that exist at `at`: initial groups plus joins at or before it.
pub fn groups_at(scenario: &Scenario, at: Duration) -> u32 {
    let joined: u32 = scenario
        .timeline
        .iter()
        .filter(|e| e.at <= at)
        .map(|e| match e.event {
            Event::Join { count } => count,
            _ => 0,
        })
        .fold(0u32, u32::saturating_add);
    scenario.cluster.groups.saturating_add(joined)
}

/// An exponentially distributed wait with mean `mean` (at least 1 ms): the time to the
/// next random fault.
pub(crate) fn exponential(rng: &mut Rng, mean: Duration) -> Duration {
    // u in (0, 1]: never ln(0).
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let u = 1.0 - u;
    mean.mul_f64(-u.ln()).max(Duration::from_millis(1))
}

/// Every node host that exists at `at`, in join order, members in member order.
pub fn nodes_at(scenario: &Scenario, at: Duration) -> Vec<String> {
    (1..=groups_at(scenario, at))
        .flat_map(|k| group_members(k, scenario.cluster.group_size))
        .collect()
}

/// The timeline and the random faults, sorted by time (stable: timeline first on ties).
/// Random crashes and partitions pick any node host, whatever its group and role.
pub fn build(scenario: &Scenario, seed: u64) -> Vec<TimedEvent> {
    let mut events = scenario.timeline.clone();
    let f = &scenario.faults;
    let until = scenario.faults_until();
    if let Some(mean) = f.crash_every {
        let mut rng = Rng::from_seed(seeds::derive(seed, "faults/crash", 0));
        let mut t = f.start + exponential(&mut rng, mean);
        while t < until {
            let nodes = nodes_at(scenario, t);
            if !nodes.is_empty() {
                let node = nodes[rng.range(0, nodes.len() as u64) as usize].clone();
                events.push(TimedEvent {
                    at: t,
                    when: None,
                    event: Event::Crash { node: node.clone() },
                });
                events.push(TimedEvent {
                    at: t + f.downtime,
                    when: None,
                    event: Event::Restart { node },
                });
            }
            t += f.downtime + exponential(&mut rng, mean);
        }
    }
    if let Some(mean) = f.partition_every {
        let mut rng = Rng::from_seed(seeds::derive(seed, "faults/partition", 0));
        let mut t = f.start + exponential(&mut rng, mean);
        while t < until {
            let nodes = nodes_at(scenario, t);
            if !nodes.is_empty() {
                let cut = rng.range(0, nodes.len() as u64) as usize;
                let node = nodes[cut].clone();
                let mut others = vec!["ecs".to_string()];
                others.extend(
                    nodes
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| *k != cut)
                        .map(|(_, n)| n.clone()),
                );
                events.push(TimedEvent {
                    at: t,
                    when: None,
                    event: Event::Partition {
                        a: vec![node.clone()],
                        b: others.clone(),
                    },
                });
                events.push(TimedEvent {
                    at: t + f.partition_length,
                    when: None,
                    event: Event::Heal {
                        a: vec![node],
                        b: others,
                    },
                });
            }
            t += f.partition_length + exponential(&mut rng, mean);
        }
    }
    events.sort_by_key(|e| e.at);
    events
}
