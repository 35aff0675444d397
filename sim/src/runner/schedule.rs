//! The run's event schedule: the scenario's timeline plus random faults drawn from the
//! seed, merged in time order.

use std::time::Duration;

use node::io::Rng;

use super::seeds;
use crate::scenario::{Event, Scenario, TimedEvent};

/// The node names that exist at `at`: initial groups plus joins at or before it.
pub fn nodes_at(scenario: &Scenario, at: Duration) -> u32 {
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

fn exponential(rng: &mut Rng, mean: Duration) -> Duration {
    // u in (0, 1]: never ln(0).
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let u = 1.0 - u;
    mean.mul_f64(-u.ln()).max(Duration::from_millis(1))
}

/// The timeline and the random faults, sorted by time (stable: timeline first on ties).
pub fn build(scenario: &Scenario, seed: u64) -> Vec<TimedEvent> {
    let mut events = scenario.timeline.clone();
    let f = &scenario.faults;
    let until = scenario.faults_until();
    if let Some(mean) = f.crash_every {
        let mut rng = Rng::from_seed(seeds::derive(seed, "faults/crash", 0));
        let mut t = f.start + exponential(&mut rng, mean);
        while t < until {
            let n = nodes_at(scenario, t);
            if n > 0 {
                let node = format!("n{}", 1 + rng.range(0, u64::from(n)));
                events.push(TimedEvent {
                    at: t,
                    event: Event::Crash { node: node.clone() },
                });
                events.push(TimedEvent {
                    at: t + f.downtime,
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
            let n = nodes_at(scenario, t);
            if n > 0 {
                let cut = 1 + rng.range(0, u64::from(n));
                let node = format!("n{cut}");
                let mut others = vec!["ecs".to_string()];
                others.extend(
                    (1..=n)
                        .filter(|k| u64::from(*k) != cut)
                        .map(|k| format!("n{k}")),
                );
                events.push(TimedEvent {
                    at: t,
                    event: Event::Partition {
                        a: vec![node.clone()],
                        b: others.clone(),
                    },
                });
                events.push(TimedEvent {
                    at: t + f.partition_length,
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
