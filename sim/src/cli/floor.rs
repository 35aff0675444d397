//! What turmoil itself costs per simulated second, with nothing running: the floor under
//! `sim bench`'s figures.
//!
//! turmoil advances time in fixed steps and, at every step, enters each host's runtime,
//! runs what is ready and scans the links for that host's deliveries, whether or not the
//! host has anything to do. That cost grows with hosts × steps and no change to the node
//! or the runner can go below it; `sim bench` prints it beside each case so its figures
//! read against what is possible.

use std::time::{Duration, Instant};

/// Wall-clock time turmoil takes to simulate `simulated` with `hosts` hosts that only
/// sleep, stepping by `tick`.
pub fn idle_hosts(hosts: usize, tick: Duration, simulated: Duration) -> Duration {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(simulated + tick * 2)
        .tick_duration(tick)
        .build();
    for i in 0..hosts {
        sim.host(format!("floor{i}"), || async {
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    let steps = (simulated.as_nanos() / tick.as_nanos().max(1)) as u64;
    // Wall-clock time is measured around the simulation, never inside it.
    let started = Instant::now();
    for _ in 0..steps {
        if sim.step().is_err() {
            break;
        }
    }
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_hosts_cost_more() {
        // Not a timing assertion on its own figures (tests never judge wall-clock speed):
        // only that the measurement runs and covers the steps asked for.
        let one = idle_hosts(1, Duration::from_millis(10), Duration::from_secs(1));
        assert!(one > Duration::ZERO);
    }
}
