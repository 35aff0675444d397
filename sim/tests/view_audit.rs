//! The view audit at the end of a run waits for a lagging member up to the recovery
//! deadline. The fixture is a case where one does lag: groups of five on 450 ms syncs,
//! at the edge of the 500 ms election timeout, where a member of the newest group learns
//! the final view seconds after the audit began. It lives here rather than under
//! `scenarios/` because `sim explore` would fail that configuration (a group may never
//! elect a leader again), which says nothing about the node.

use std::collections::BTreeMap;
use std::time::Duration;

use sim::runner;
use sim::scenario::{load, ClientTrace, TraceOptions};
use sim::trace::render;

const FIXTURE: &str = "tests/view_audit/member-lags-past-five-seconds-on-450ms-syncs.toml";

/// The first time each member answered the audit with `view`, and when the audit began
/// (its first ask), from the rendered trace: the auditor is a client, so its lines show
/// with client traffic in full (`audit -> n1b  A`, `n8d -> audit i ... view 8`).
fn audit_answers(lines: &str, view: u64) -> (Option<f64>, BTreeMap<String, f64>) {
    let mut began = None;
    let mut first = BTreeMap::new();
    let final_view = format!("view {view}");
    for line in lines.lines() {
        let mut words = line.split_whitespace();
        let (Some(at), Some(from), Some(arrow), Some(to)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Some(at) = at.strip_suffix('s').and_then(|t| t.parse::<f64>().ok()) else {
            continue;
        };
        if from == "audit" && arrow == "->" && began.is_none() {
            began = Some(at);
        }
        if arrow == "->" && to == "audit" && line.ends_with(&final_view) {
            first.entry(from.to_string()).or_insert(at);
        }
    }
    (began, first)
}

#[test]
fn the_audit_waits_for_a_member_that_learns_the_final_view_late() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let scenario = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let seed = scenario.seeds[0];
    let report = runner::run(&scenario, seed);
    let failures: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    let options = TraceOptions {
        clients: ClientTrace::Full,
        ..scenario.trace
    };
    let lines = render::lines(&report.trace, options);
    let (began, first) = audit_answers(&lines, 8);
    let began = began.expect("the audit never began");
    let (laggard, last) = first
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("no member answered the audit with view 8");
    // The window: a member answered with the final view more than 5 s into the audit
    // (an audit of a fixed 5 s, as before a0d885b, failed such a member).
    assert!(
        Duration::from_secs_f64(last - began) > Duration::from_secs(5),
        "no member lagged 5 s at the audit (latest: {laggard} at {last:.2} s, audit from \
         {began:.2} s): the fixture no longer reaches its window; pick another seed"
    );
}
