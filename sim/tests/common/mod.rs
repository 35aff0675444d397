//! What several integration tests share.

use sim::runner::{self, RunReport};
use sim::scenario::load;

/// Runs the first listed seed of the scenario at `fixture` (relative to the `sim` crate)
/// and asserts that every check passed.
pub fn run_fixture_passing(fixture: &str) -> RunReport {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
    let scenario = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let report = runner::run(&scenario, scenario.seeds[0]);
    let failures: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    report
}
