//! Scenario files: a full example, defaults, round trips through `to_toml`, every file under
//! `scenarios/`; the line and field of every error are checked in `scenario_parse/errors.rs`
//! (syntax, schema) and `scenario_parse/rules.rs` (validation).

#[path = "scenario_parse/errors.rs"]
mod errors;
#[path = "scenario_parse/rules.rs"]
mod rules;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sim::scenario::parse::ErrorKind;
use sim::scenario::{
    load, parse, Checks, ClientTrace, Cluster, Event, Faults, GroupLinks, Mix, NetworkOptions,
    NodeOptions, PeerTrace, Scenario, Storage, TimedEvent, TraceOptions, Trigger, Workload,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FULL: &str = r#"
name = "full-example"
description = "Every field set to something other than its default."
duration = "20s"
seeds = [7, 8, 9]

[cluster]
groups = 2
group_size = 1
part_size = 4096

[workload]
clients = 3
keys = 4
shared_keys = 2
concurrency = 3
rate = 2.5
start = "500ms"
stop = "15s"
value_size = 32
op_deadline = "2s"

[workload.mix]
get = 1
put = 2
delete = 3
cas = 4

[[timeline]]
at = "1s"
action = "join"

[[timeline]]
at = "2s"
action = "join"
count = 2

[[timeline]]
at = "3s"
action = "crash"
node = "n5"

[[timeline]]
at = "3.5s"
action = "restart"
node = "n5"

[[timeline]]
at = "4s"
action = "crash_leader"
group = 1

[[timeline]]
at = "5s"
action = "crash_ecs"

[[timeline]]
at = "6s"
action = "restart_ecs"

[[timeline]]
at = "7s"
action = "pause_ecs"

[[timeline]]
at = "8s"
action = "resume_ecs"

[[timeline]]
at = "9s"
action = "partition"
a = ["n1", "c1"]
b = ["ecs", "n2"]

[[timeline]]
at = "10s"
action = "heal"
a = ["n1", "c1"]
b = ["ecs", "n2"]

[[timeline]]
at = "11s"
action = "hold"
a = "n3"
b = "ecs"

[[timeline]]
at = "12s"
action = "release"
a = "n3"
b = "ecs"

[[timeline]]
at = "12s"
action = "set_part_size"
bytes = 256

[[timeline]]
at = "13s"
action = "isolate_leader"
group = 2

[[timeline]]
at = "14s"
action = "heal_all"

[[timeline]]
at = "15s"
action = "crash_group"
group = 3

[[timeline]]
at = "16s"
action = "restart_group"
group = 3

[[timeline]]
at = "17s"
action = "crash_follower"
group = 1

[[timeline]]
at = "17s"
action = "isolate_leader_from_followers"
group = 2
for = "3s"

[[timeline]]
at = "18s"
action = "hold_group_links"
group = 1
links = "ecs_leader"
for = "2s"

[[timeline]]
at = "18s"
action = "hold"
a = "n1"
b = "n2"
for = "750ms"

[[timeline]]
at = "18s"
action = "fail_disk"
node = "n2"

[[timeline]]
when = { host = "n2", peer = "ecs", receives = "ecs_put", nth = 3, delay = "20ms" }
action = "crash"
node = "n2"

[[timeline]]
at = "2s"
when = { sends = "done" }
action = "crash_ecs"

[faults]
crash_every = "4s"
downtime = "1500ms"
partition_every = "6s"
partition_length = "250us"
start = "1s"
until = "12s"

[checks]
no_lost_writes = false
joins_complete = true
locks_released = false
one_leader_per_term = false
committed_entries_stable = false
ring_ownership = true
linearizable = false
appends_not_resent = false
snapshot_chunks_paced = false
linearizable_steps = 5000
max_lock_hold = "45s"
recovery_deadline = "1m"
reaches = ["stale request of join 2"]

[trace]
clients = "full"
peers = "full"

[network]
tick = "5ms"
min_latency = "2ms"
max_latency = "8ms"

[node]
raft_tick = "20ms"
election_ticks = [20, 40]
heartbeat_ticks = 5
compact_log_bytes = 1000
max_append_entries = 3
attempt_timeout = "2s"
retry_pause = "50ms"
transfer_timeout = "3s"
join_deadline = "40s"
register_every = "7s"
stretch_election_on_slow_disk = false

[storage]
torn_writes = 0.25
io_error_every = "7s"
corrupt_on_restart = 0.5
max_corrupt_per_group = 0
fsync_latency = "3ms"
"#;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn hosts(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn at(at: Duration, event: Event) -> TimedEvent {
    TimedEvent {
        at,
        when: None,
        event,
    }
}

fn full() -> Scenario {
    let node = |n: &str| n.to_owned();
    Scenario {
        name: "full-example".into(),
        description: "Every field set to something other than its default.".into(),
        duration: secs(20),
        seeds: vec![7, 8, 9],
        cluster: Cluster {
            groups: 2,
            group_size: 1,
            part_size: 4096,
        },
        workload: Workload {
            clients: 3,
            keys: 4,
            shared_keys: 2,
            concurrency: 3,
            rate: 2.5,
            mix: Mix {
                get: 1,
                put: 2,
                delete: 3,
                cas: 4,
            },
            start: Duration::from_millis(500),
            stop: Some(secs(15)),
            value_size: 32,
            op_deadline: secs(2),
        },
        timeline: vec![
            at(secs(1), Event::Join { count: 1 }),
            at(secs(2), Event::Join { count: 2 }),
            at(secs(3), Event::Crash { node: node("n5") }),
            at(
                Duration::from_millis(3500),
                Event::Restart { node: node("n5") },
            ),
            at(secs(4), Event::CrashLeader { group: 1 }),
            at(secs(5), Event::CrashEcs),
            at(secs(6), Event::RestartEcs),
            at(secs(7), Event::PauseEcs),
            at(secs(8), Event::ResumeEcs),
            at(
                secs(9),
                Event::Partition {
                    a: hosts(&["n1", "c1"]),
                    b: hosts(&["ecs", "n2"]),
                },
            ),
            at(
                secs(10),
                Event::Heal {
                    a: hosts(&["n1", "c1"]),
                    b: hosts(&["ecs", "n2"]),
                },
            ),
            at(
                secs(11),
                Event::Hold {
                    a: node("n3"),
                    b: node("ecs"),
                    length: None,
                },
            ),
            at(
                secs(12),
                Event::Release {
                    a: node("n3"),
                    b: node("ecs"),
                },
            ),
            at(secs(12), Event::SetPartSize { bytes: 256 }),
            at(
                secs(13),
                Event::IsolateLeader {
                    group: 2,
                    length: None,
                },
            ),
            at(secs(14), Event::HealAll),
            at(secs(15), Event::CrashGroup { group: 3 }),
            at(secs(16), Event::RestartGroup { group: 3 }),
            at(secs(17), Event::CrashFollower { group: 1 }),
            at(
                secs(17),
                Event::IsolateLeaderFromFollowers {
                    group: 2,
                    length: Some(secs(3)),
                },
            ),
            at(
                secs(18),
                Event::HoldGroupLinks {
                    group: 1,
                    links: GroupLinks::EcsLeader,
                    length: secs(2),
                },
            ),
            at(
                secs(18),
                Event::Hold {
                    a: node("n1"),
                    b: node("n2"),
                    length: Some(Duration::from_millis(750)),
                },
            ),
            at(secs(18), Event::FailDisk { node: node("n2") }),
            TimedEvent {
                at: Duration::ZERO,
                when: Some(Trigger {
                    host: Some(node("n2")),
                    peer: Some(node("ecs")),
                    sends: None,
                    receives: Some("ecs_put".into()),
                    nth: 3,
                    delay: Duration::from_millis(20),
                }),
                event: Event::Crash { node: node("n2") },
            },
            TimedEvent {
                at: secs(2),
                when: Some(Trigger {
                    host: None,
                    peer: None,
                    sends: Some("done".into()),
                    receives: None,
                    nth: 1,
                    delay: Duration::ZERO,
                }),
                event: Event::CrashEcs,
            },
        ],
        faults: Faults {
            crash_every: Some(secs(4)),
            downtime: Duration::from_millis(1500),
            partition_every: Some(secs(6)),
            partition_length: Duration::from_micros(250),
            start: secs(1),
            until: Some(secs(12)),
        },
        storage: Storage {
            torn_writes: 0.25,
            io_error_every: Some(secs(7)),
            corrupt_on_restart: 0.5,
            max_corrupt_per_group: 0,
            fsync_latency: Some(Duration::from_millis(3)),
        },
        checks: Checks {
            no_lost_writes: false,
            joins_complete: true,
            locks_released: false,
            one_leader_per_term: false,
            committed_entries_stable: false,
            ring_ownership: true,
            linearizable: false,
            appends_not_resent: false,
            snapshot_chunks_paced: false,
            linearizable_steps: 5000,
            max_lock_hold: secs(45),
            recovery_deadline: secs(60),
            reaches: vec!["stale request of join 2".into()],
        },
        trace: TraceOptions {
            clients: ClientTrace::Full,
            peers: PeerTrace::Full,
        },
        network: NetworkOptions {
            tick: Duration::from_millis(5),
            min_latency: Duration::from_millis(2),
            max_latency: Duration::from_millis(8),
        },
        node: NodeOptions {
            raft_tick: Duration::from_millis(20),
            election_ticks: [20, 40],
            heartbeat_ticks: 5,
            compact_log_bytes: 1000,
            max_append_entries: 3,
            attempt_timeout: secs(2),
            retry_pause: Duration::from_millis(50),
            transfer_timeout: secs(3),
            join_deadline: secs(40),
            register_every: secs(7),
            stretch_election_on_slow_disk: false,
        },
    }
}

/// The smallest valid scenario: only the three required fields.
fn minimal() -> Scenario {
    Scenario {
        name: "minimal".into(),
        description: String::new(),
        duration: secs(10),
        seeds: vec![1],
        cluster: Cluster::default(),
        workload: Workload::default(),
        timeline: Vec::new(),
        faults: Faults::default(),
        storage: Storage::default(),
        checks: Checks::default(),
        trace: TraceOptions::default(),
        network: NetworkOptions::default(),
        node: NodeOptions::default(),
    }
}

#[test]
fn full_example_parses_to_the_expected_values() -> TestResult {
    assert_eq!(parse(FULL, "full.toml")?, full());
    Ok(())
}

#[test]
fn every_default_applies_when_a_section_is_missing() -> TestResult {
    let text = "name = \"minimal\"\nduration = \"10s\"\nseeds = [1]\n";
    let s = parse(text, "minimal.toml")?;
    assert_eq!(s, minimal());
    // The documented values (scenarios/README.md), spelled out.
    assert_eq!(s.description, "");
    assert_eq!((s.cluster.groups, s.cluster.group_size), (1, 1));
    assert_eq!(s.cluster.part_size, 65536);
    let w = &s.workload;
    assert_eq!((w.clients, w.keys, w.rate, w.value_size), (0, 0, 10.0, 16));
    assert_eq!(
        (w.mix.get, w.mix.put, w.mix.delete, w.mix.cas),
        (50, 40, 5, 5)
    );
    assert_eq!(
        (w.start, w.stop, w.op_deadline),
        (Duration::ZERO, None, secs(5))
    );
    assert_eq!(s.workload_stop(), secs(10));
    assert!(s.timeline.is_empty());
    let f = &s.faults;
    assert_eq!(
        (f.crash_every, f.partition_every, f.until),
        (None, None, None)
    );
    assert_eq!(
        (f.downtime, f.partition_length, f.start),
        (secs(1), secs(1), Duration::ZERO)
    );
    assert_eq!(s.faults_until(), secs(10));
    let c = &s.checks;
    assert!(c.no_lost_writes && c.joins_complete && c.locks_released && c.one_leader_per_term);
    assert!(c.committed_entries_stable && c.ring_ownership);
    assert_eq!(c.recovery_deadline, secs(30));
    assert_eq!(s.trace.clients, ClientTrace::Summary);
    assert_eq!(s.trace.peers, PeerTrace::Summary);
    Ok(())
}

#[test]
fn fields_left_out_of_a_section_keep_their_defaults() -> TestResult {
    let text = "name = \"p\"\nduration = \"10s\"\nseeds = [1]\n\
                [workload]\nclients = 2\nkeys = 3\n[workload.mix]\nput = 0\n\
                [faults]\ncrash_every = \"2s\"\n";
    let s = parse(text, "partial.toml")?;
    let mut want = minimal();
    want.name = "p".into();
    want.workload.clients = 2;
    want.workload.keys = 3;
    want.workload.mix.put = 0;
    want.faults.crash_every = Some(secs(2));
    assert_eq!(s, want);
    Ok(())
}

#[test]
fn to_toml_round_trips() -> TestResult {
    let mut zero_groups = minimal();
    zero_groups.cluster.groups = 0;
    zero_groups.timeline = vec![at(Duration::ZERO, Event::Join { count: 3 })];
    let mut odd_times = minimal();
    odd_times.duration = Duration::from_nanos(90_000_001_500);
    odd_times.workload.start = Duration::from_nanos(1_500);
    odd_times.workload.rate = 0.1;
    odd_times.checks.recovery_deadline = Duration::from_micros(1);
    for s in [full(), minimal(), zero_groups, odd_times] {
        let text = s.to_toml();
        let back = parse(&text, "round-trip.toml").map_err(|e| format!("{e}\n{text}"))?;
        assert_eq!(back, s, "{text}");
    }
    Ok(())
}

#[test]
fn the_readme_example_parses() -> TestResult {
    let readme = std::fs::read_to_string(scenarios_dir().join("README.md"))?;
    let start = readme.find("```toml\n").ok_or("no ```toml block")? + "```toml\n".len();
    let len = readme[start..].find("```").ok_or("unclosed block")?;
    let s = parse(&readme[start..start + len], "scenarios/README.md")?;
    assert!(!s.timeline.is_empty());
    Ok(())
}

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            toml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn every_scenario_file_parses() -> TestResult {
    let mut files = Vec::new();
    toml_files(&scenarios_dir(), &mut files)?;
    files.sort();
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| load(f).err().map(|e| e.to_string()))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[test]
fn an_unreadable_file_is_an_error_without_a_line() {
    let err = load(Path::new("no/such/scenario.toml")).expect_err("missing file");
    assert_eq!(err.origin, "no/such/scenario.toml");
    assert_eq!((err.line, err.field.as_deref()), (None, None));
    assert!(matches!(err.kind, ErrorKind::Read(_)), "{err}");
}

#[test]
fn no_input_panics() {
    // Every prefix of the full example, and a few oddities; the result does not matter.
    let mut inputs: Vec<String> = (0..FULL.len())
        .filter(|&i| FULL.is_char_boundary(i))
        .map(|i| FULL[..i].to_owned())
        .collect();
    let odd = [
        "",
        "\n\n[",
        "[[timeline]]",
        "timeline = 3",
        "timeline = [1]",
        "a.b.c = {",
    ];
    inputs.extend(odd.iter().map(|s| s.to_string()));
    inputs.push(FULL.replace("\"n5\"", "\"n99999999999999999999999\""));
    inputs.push(FULL.replace("count = 2", "count = 4294967295"));
    for text in &inputs {
        let _ = parse(text, "fuzz.toml").map_err(|e| e.to_string());
    }
}
