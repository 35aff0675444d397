//! Storage faults from the timeline, each once, on one small cluster: the nodes react as
//! they must (stop on a failed write, refuse to start on a damaged byte, come back from a
//! torn write) and the run passes; and what a node must not do is reported.

use sim::runner;
use sim::scenario::{parse, Scenario};
use sim::trace::render;

const BASE: &str = r#"
name = "storage-faults-once"
duration = "8s"
seeds = [5]

[cluster]
groups = 1
group_size = 3

[workload]
clients = 2
keys = 8
rate = 30.0
"#;

fn scenario(extra: &str) -> Scenario {
    parse(&format!("{BASE}{extra}"), "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn faults_of(s: &Scenario) -> (Vec<String>, String) {
    let report = runner::run(s, s.seeds[0]);
    let failures = report.failures.iter().map(|f| f.to_string()).collect();
    let lines = render::lines(&report.trace, s.trace);
    let faults = lines
        .lines()
        .filter(|l| l.contains(" ** "))
        .collect::<Vec<_>>()
        .join("\n");
    (failures, faults)
}

#[test]
fn a_failed_write_stops_the_node_which_comes_back_after_its_downtime() {
    let s = scenario(
        r#"
[[timeline]]
at = "2s"
action = "fail_disk"
node = "n1b"
"#,
    );
    let (failures, faults) = faults_of(&s);
    assert!(failures.is_empty(), "{failures:?}\n{faults}");
    assert!(faults.contains("fails (injected EIO)"), "{faults}");
    assert!(
        faults.contains("n1b stops: storage failed in /data/node"),
        "{faults}"
    );
    assert!(faults.contains("restart n1b"), "{faults}");
}

#[test]
fn a_damaged_byte_makes_the_node_refuse_to_start_and_stay_down() {
    let s = scenario(
        r#"
[[timeline]]
at = "2s"
action = "crash"
node = "n1c"

[[timeline]]
at = "2s"
action = "corrupt"
node = "n1c"

[[timeline]]
at = "3s"
action = "restart"
node = "n1c"
"#,
    );
    let (failures, faults) = faults_of(&s);
    assert!(failures.is_empty(), "{failures:?}\n{faults}");
    assert!(faults.contains("n1c reads raft-"), "{faults}");
    assert!(
        faults.contains("n1c refuses to start: opening storage in /data/node"),
        "{faults}"
    );
    assert!(faults.contains("n1c stays down"), "{faults}");
}

#[test]
fn every_crash_tears_a_write_and_the_nodes_come_back() {
    let s = scenario(
        r#"
[faults]
crash_every = "1s"
downtime = "300ms"
until = "6s"

[storage]
torn_writes = 1.0
"#,
    );
    let (failures, faults) = faults_of(&s);
    assert!(failures.is_empty(), "{failures:?}\n{faults}");
    assert!(faults.contains("reach the disk"), "{faults}");
    assert!(!faults.contains("crash n1a (power loss)"), "{faults}");
}

#[test]
fn without_storage_faults_no_node_stops() {
    let s = scenario("");
    let (failures, faults) = faults_of(&s);
    assert!(failures.is_empty(), "{failures:?}");
    assert!(faults.is_empty(), "{faults}");
}
