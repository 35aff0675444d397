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
    for file in BASES {
        let base = scenario::load(&dir.join(file)).expect("a shipped scenario loads");
        for seed in 0..SEEDS {
            let case = explore(&base, seed);
            let report = runner::run(&case.scenario, seed);
            if !report.passed() {
                let first = report.failures[0].to_string();
                let line = first.lines().next().unwrap_or_default().to_string();
                failed.push(format!(
                    "{} seed {seed} ({}): {line}\n  replay: sim explore scenarios/{file} --seeds {seed}..={seed}",
                    base.name,
                    case.swarm.describe(),
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

/// A trigger whose step comes after the faults ended (here: the final reads) is not
/// carried out: nothing would heal its fault again, and liveness would fail for the
/// harness's sake.
#[test]
fn a_trigger_firing_after_the_faults_ended_is_not_carried_out() {
    let text = r#"
        name = "late-trigger"
        duration = "3s"
        seeds = [1]
        [workload]
        clients = 1
        keys = 2
        [[timeline]]
        at = "3s"
        when = { host = "n1", receives = "get" }
        action = "crash"
        node = "n1"
    "#;
    let scenario = scenario::parse(text, "late-trigger.toml").expect("valid");
    let report = runner::run(&scenario, 1);
    assert!(report.passed(), "{:?}", report.failures);
    let lines: Vec<String> = report
        .trace
        .events
        .iter()
        .map(sim::trace::render::line)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("after the faults ended: crash not carried out")),
        "the skipped crash is in the trace"
    );
}
