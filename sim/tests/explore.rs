//! A short exploration in every `cargo test`: a few shipped scenarios, each with a few
//! swarm fault plans (`sim explore`'s), must pass every check. It is also what makes a
//! mutant of `node` face random faults when cargo-mutants runs the simulator's tests
//! (`.cargo/mutants.toml`).

use std::path::Path;

use sim::explore::explore;
use sim::runner;
use sim::scenario;

/// Scenarios with joins, hand-offs and leader changes: where the protocol's windows are.
const BASES: [&str; 4] = [
    "three-joins.toml",
    "lock-contention.toml",
    "receiver-leader-crash.toml",
    "sender-leader-crash-between-parts.toml",
];

/// Seeds per scenario.
const SEEDS: u64 = 3;

#[test]
fn a_short_exploration_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut failed = Vec::new();
    for base in BASES {
        let base = scenario::load(&dir.join(base)).expect("a shipped scenario loads");
        for seed in 0..SEEDS {
            let case = explore(&base, seed);
            let report = runner::run(&case.scenario, seed);
            if !report.passed() {
                let first = report.failures[0].to_string();
                let line = first.lines().next().unwrap_or_default().to_string();
                failed.push(format!(
                    "{} seed {seed} ({}): {line}\n  replay: sim explore scenarios/{} --seeds {seed}..={seed}",
                    base.name,
                    case.swarm.describe(),
                    base.name
                ));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "explored cases failed:\n{}",
        failed.join("\n")
    );
}
