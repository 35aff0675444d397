//! Every validation rule: the error names the rule, the line and the field. In each case
//! the line the error must name is marked `# <-`.

use std::time::Duration;

use sim::scenario::parse;
use sim::scenario::parse::{ErrorKind, Invalid};

use super::errors::{fails_at, HEAD};

/// `HEAD` + body fails at the marked line and the field, with a rule matching the pattern.
macro_rules! invalid {
    ($body:expr, $field:expr, $rule:pat $(if $guard:expr)?) => {{
        let err = fails_at(&format!("{HEAD}{}", $body), $field);
        let ok = matches!(&err.kind, ErrorKind::Invalid($rule) $(if $guard)?);
        assert!(ok, "wrong rule: {err:?}\n{err}");
    }};
}

/// A `[[timeline]]` entry; `rest` is the action's fields, one per line.
pub(crate) fn entry(at: &str, action: &str, rest: &str) -> String {
    format!("[[timeline]]\nat = \"{at}\"\naction = \"{action}\"\n{rest}\n")
}

/// Entries after a cluster of three groups and two clients.
fn events(entries: &[String]) -> String {
    let clients = "[cluster]\ngroups = 3\n[workload]\nclients = 2\nkeys = 1\n";
    format!("{clients}{}", entries.concat())
}

fn ok(body: &str) -> bool {
    parse(&format!("{HEAD}{body}"), "ok.toml").is_ok()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn top_level_rules() {
    let cases = [
        (
            "name = \"\" # <-\nduration = \"1s\"\nseeds = [1]",
            "name",
            Invalid::EmptyName,
        ),
        (
            "name = \"Three Joins\" # <-\nduration = \"1s\"\nseeds = [1]",
            "name",
            Invalid::BadName("Three Joins".into()),
        ),
        (
            "name = \"a\"\nduration = \"0s\" # <-\nseeds = [1]",
            "duration",
            Invalid::ZeroDuration,
        ),
        (
            "name = \"a\"\nduration = \"1s\"\nseeds = [] # <-",
            "seeds",
            Invalid::NoSeeds,
        ),
    ];
    for (text, field, want) in cases {
        let err = fails_at(text, field);
        assert_eq!(err.kind, ErrorKind::Invalid(want), "{err}");
    }
}

#[test]
fn cluster_rules() {
    invalid!(
        "[cluster]\ngroup_size = 2 # <-\n",
        "cluster.group_size",
        Invalid::GroupSize(2)
    );
    let small = "[cluster]\npart_size = 127 # <-\n";
    invalid!(small, "cluster.part_size", Invalid::PartSizeTooSmall(127));
    invalid!(
        "[cluster]\ngroups = 0 # <-\n",
        "cluster.groups",
        Invalid::NoGroups
    );
    assert!(ok(&format!(
        "[cluster]\ngroups = 0\n{}",
        entry("1s", "join", "")
    )));
}

#[test]
fn workload_rules() {
    invalid!(
        "[workload]\nclients = 2\nkeys = 0 # <-\n",
        "workload.keys",
        Invalid::NoKeys(2)
    );
    // A field left out is blamed on its section's header.
    invalid!(
        "[workload] # <-\nclients = 2\n",
        "workload.keys",
        Invalid::NoKeys(2)
    );
    for rate in ["0.0", "-1.0", "nan", "inf"] {
        let body = format!("[workload]\nrate = {rate} # <-\n");
        invalid!(body, "workload.rate", Invalid::BadRate(_));
    }
    let mix = "[workload.mix] # <-\nget = 0\nput = 0\ndelete = 0\ncas = 0\n";
    invalid!(mix, "workload.mix", Invalid::EmptyMix);
    let window = "[workload]\nstart = \"5s\"\nstop = \"5s\" # <-\n";
    invalid!(
        window,
        "workload.stop",
        Invalid::EmptyWindow {
            end_name: "stop",
            ..
        }
    );
    let window = "[workload]\nstart = \"10s\" # <-\n";
    invalid!(window, "workload.start", Invalid::EmptyWindow { .. });
    let late = "[workload]\nstop = \"11s\" # <-\n";
    invalid!(late, "workload.stop", Invalid::AfterEnd { at, .. } if *at == secs(11));
    let big = "[workload]\nvalue_size = 65537 # <-\n";
    invalid!(big, "workload.value_size", Invalid::ValueTooLarge(65537));
    let zero = "[workload]\nop_deadline = \"0s\" # <-\n";
    invalid!(zero, "workload.op_deadline", Invalid::ZeroDuration);
    assert!(ok(
        "[workload]\nvalue_size = 65536\nstart = \"9s\"\nstop = \"10s\"\n"
    ));
}

#[test]
fn timeline_times() {
    let back = [
        entry("2s", "pause_ecs", ""),
        "[[timeline]]\nat = \"1s\" # <-\naction = \"resume_ecs\"\n".into(),
    ];
    let times = |at: &Duration, previous: &Duration| (*at, *previous) == (secs(1), secs(2));
    invalid!(events(&back), "timeline[1].at",
        Invalid::OutOfOrder { at, previous } if times(at, previous));
    let late = ["[[timeline]]\nat = \"11s\" # <-\naction = \"pause_ecs\"\n".into()];
    invalid!(events(&late), "timeline[0].at", Invalid::AfterEnd { .. });
    let zero = [entry("1s", "join", "count = 0 # <-")];
    invalid!(events(&zero), "timeline[0].count", Invalid::ZeroJoin);
    assert!(ok(&events(&[
        entry("10s", "join", ""),
        entry("10s", "crash_ecs", "")
    ])));
}

#[test]
fn timeline_nodes_exist_by_then() {
    let early = [
        entry("1s", "crash", "node = \"n4\" # <-"),
        entry("2s", "join", ""),
    ];
    invalid!(events(&early), "timeline[0].node",
        Invalid::NoSuchNode { name, groups: 3, .. } if name == "n4");
    // A join at the same time counts, even listed after.
    assert!(ok(&events(&[
        entry("2s", "crash", "node = \"n4\""),
        entry("2s", "join", "")
    ])));
    let n0 = [entry("1s", "restart", "node = \"n0\" # <-")];
    invalid!(events(&n0), "timeline[0].node", Invalid::NoSuchNode { name, .. } if name == "n0");
    for name in ["node1", "n01", "n", "N1", "n-1", ""] {
        let bad = [entry(
            "1s",
            "hold",
            &format!("a = \"{name}\" # <-\nb = \"ecs\""),
        )];
        invalid!(events(&bad), "timeline[0].a", Invalid::BadHostName(_));
    }
    let ecs = [entry("1s", "crash", "node = \"ecs\" # <-")];
    invalid!(
        events(&ecs),
        "timeline[0].node",
        Invalid::NotANode {
            action: "crash",
            ..
        }
    );
    let g4 = [entry("1s", "crash_leader", "group = 4 # <-")];
    invalid!(
        events(&g4),
        "timeline[0].group",
        Invalid::NoSuchGroup {
            group: 4,
            groups: 3,
            ..
        }
    );
    let g0 = [entry("1s", "crash_leader", "group = 0 # <-")];
    invalid!(
        events(&g0),
        "timeline[0].group",
        Invalid::NoSuchGroup { group: 0, .. }
    );
}

#[test]
fn timeline_links() {
    let c3 = [entry(
        "1s",
        "partition",
        "a = [\"n1\"]\nb = [\"c1\", \"c3\"] # <-",
    )];
    invalid!(events(&c3), "timeline[0].b[1]",
        Invalid::NoSuchClient { name, clients: 2 } if name == "c3");
    let empty = [entry("1s", "heal", "a = [] # <-\nb = [\"n1\"]")];
    invalid!(events(&empty), "timeline[0].a", Invalid::EmptySide);
    let both = [entry(
        "1s",
        "partition",
        "a = [\"n1\", \"n2\"]\nb = [\"n3\", \"n2\"] # <-",
    )];
    invalid!(events(&both), "timeline[0].b[1]", Invalid::BothSides(h) if h == "n2");
    let same = [entry("1s", "release", "a = \"c1\"\nb = \"c1\" # <-")];
    invalid!(events(&same), "timeline[0].b", Invalid::SameHost(_));
    let part = [entry("1s", "set_part_size", "bytes = 64 # <-")];
    invalid!(
        events(&part),
        "timeline[0].bytes",
        Invalid::PartSizeTooSmall(64)
    );
}

#[test]
fn timeline_crash_state() {
    let crash =
        |t: &str, node: &str, mark: &str| entry(t, "crash", &format!("node = \"{node}\"{mark}"));
    let restart = |t: &str, node: &str| entry(t, "restart", &format!("node = \"{node}\""));
    let twice = [
        crash("1s", "n1", ""),
        crash("2s", "n2", ""),
        crash("3s", "n1", " # <-"),
    ];
    invalid!(events(&twice), "timeline[2].node",
        Invalid::AlreadyCrashed { node, since } if node == "n1" && *since == secs(1));
    // Crash, restart, crash again is fine; so is restarting a running node.
    let fine = [
        restart("1s", "n1"),
        crash("2s", "n1", ""),
        restart("3s", "n1"),
        crash("4s", "n1", ""),
    ];
    assert!(ok(&events(&fine)));
}

#[test]
fn fault_and_check_rules() {
    for field in [
        "crash_every",
        "partition_every",
        "downtime",
        "partition_length",
    ] {
        let body = format!("[faults]\n{field} = \"0s\" # <-\n");
        invalid!(body, &format!("faults.{field}"), Invalid::ZeroDuration);
    }
    let window = "[faults]\nstart = \"3s\"\nuntil = \"2s\" # <-\n";
    invalid!(
        window,
        "faults.until",
        Invalid::EmptyWindow {
            end_name: "until",
            ..
        }
    );
    invalid!(
        "[faults]\nstart = \"10s\" # <-\n",
        "faults.start",
        Invalid::EmptyWindow { .. }
    );
    invalid!(
        "[faults]\nuntil = \"1m\" # <-\n",
        "faults.until",
        Invalid::AfterEnd { .. }
    );
    let deadline = "[checks]\nrecovery_deadline = \"0s\" # <-\n";
    invalid!(deadline, "checks.recovery_deadline", Invalid::ZeroDuration);
}

#[test]
fn the_earliest_broken_rule_is_reported() {
    let body = "[cluster]\npart_size = 1 # <-\n[checks]\nrecovery_deadline = \"0s\"\n";
    invalid!(body, "cluster.part_size", Invalid::PartSizeTooSmall(1));
}

#[test]
fn network_timing_is_checked() {
    let text = "name = \"n\"\nduration = \"1s\"\nseeds = [1]\n[network]\ntick = \"0s\"\n";
    let e = sim::scenario::parse(text, "net.toml").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("network.tick")),
        "{e}"
    );
    let text = "name = \"n\"\nduration = \"1s\"\nseeds = [1]\n[network]\nmin_latency = \"5ms\"\nmax_latency = \"2ms\"\n";
    let e = sim::scenario::parse(text, "net.toml").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(6), Some("network.max_latency")),
        "{e}"
    );
    assert!(e.to_string().contains("below min_latency"), "{e}");
}
