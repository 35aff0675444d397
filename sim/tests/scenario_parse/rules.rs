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

/// Entries after a cluster of three groups of one node and two clients.
fn events(entries: &[String]) -> String {
    sized(1, entries)
}

/// Entries after a cluster of three groups of `size` nodes and two clients.
fn sized(size: u32, entries: &[String]) -> String {
    let cluster = format!("[cluster]\ngroups = 3\ngroup_size = {size}\n");
    let clients = "[workload]\nclients = 2\nkeys = 1\n";
    format!("{cluster}{clients}{}", entries.concat())
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
    for size in [0, 2, 4, 6, 7] {
        invalid!(
            format!("[cluster]\ngroup_size = {size} # <-\n"),
            "cluster.group_size",
            Invalid::GroupSize(s) if *s == size
        );
    }
    let err = fails_at(
        &format!("{HEAD}[cluster]\ngroup_size = 4 # <-\n"),
        "cluster.group_size",
    );
    assert!(
        err.to_string().contains("must be 1, 3 or 5, not 4"),
        "{err}"
    );
    assert!(err.to_string().contains("majority"), "{err}");
    for size in [1, 3, 5] {
        assert!(ok(&format!("[cluster]\ngroup_size = {size}\n")), "{size}");
    }
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
        "[workload]\nclients = 2\nshared_keys = 0\nkeys = 0 # <-\n",
        "workload.keys",
        Invalid::NoKeys(2)
    );
    // A field left out is blamed on its section's header.
    invalid!(
        "[workload] # <-\nclients = 2\nshared_keys = 0\n",
        "workload.keys",
        Invalid::NoKeys(2)
    );
    // Shared keys alone are enough.
    assert!(ok("[workload]\nclients = 2\n"));
    for bad in [0, 65] {
        let body = format!("[workload]\nconcurrency = {bad} # <-\n");
        invalid!(body, "workload.concurrency", Invalid::BadConcurrency(n) if *n == bad);
    }
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
fn node_names_follow_the_group_size() {
    // Groups of three: members n<k>a..n<k>c.
    let fine = [
        entry("1s", "crash", "node = \"n1a\""),
        entry("2s", "restart", "node = \"n1a\""),
        entry(
            "3s",
            "partition",
            "a = [\"n3c\"]\nb = [\"ecs\", \"n2b\", \"c1\"]",
        ),
        entry("4s", "hold", "a = \"n2a\"\nb = \"n3b\""),
    ];
    assert!(ok(&sized(3, &fine)));
    for name in ["n2", "n2d", "n2e"] {
        let bad = [entry("1s", "crash", &format!("node = \"{name}\" # <-"))];
        invalid!(sized(3, &bad), "timeline[0].node",
            Invalid::WrongNodeName { name: n, group_size: 3 } if n == name);
    }
    let err = fails_at(
        &format!(
            "{HEAD}{}",
            sized(3, &[entry("1s", "crash", "node = \"n2\" # <-")])
        ),
        "timeline[0].node",
    );
    assert!(err.to_string().contains("n1a, n1b, n1c"), "{err}");
    // Groups of five go up to e; groups of one take no letter.
    assert!(ok(&sized(5, &[entry("1s", "crash", "node = \"n3e\"")])));
    let lettered = [entry("1s", "hold", "a = \"n1a\" # <-\nb = \"ecs\"")];
    invalid!(
        sized(1, &lettered),
        "timeline[0].a",
        Invalid::WrongNodeName { group_size: 1, .. }
    );
    // A member of a group that has not joined yet.
    let early = [
        entry("1s", "crash", "node = \"n4b\" # <-"),
        entry("2s", "join", ""),
    ];
    invalid!(sized(3, &early), "timeline[0].node",
        Invalid::NoSuchNode { name, groups: 3, group_size: 3, .. } if name == "n4b");
    let err = fails_at(&format!("{HEAD}{}", sized(3, &early)), "timeline[0].node");
    assert!(
        err.to_string().contains("(nodes by then: n1a..n3c)"),
        "{err}"
    );
    for name in ["n2f", "n2ab", "n02a", "na"] {
        let bad = [entry("1s", "crash", &format!("node = \"{name}\" # <-"))];
        invalid!(sized(3, &bad), "timeline[0].node", Invalid::NotANode { .. });
    }
}

#[test]
fn group_events_need_a_group_that_exists_by_then() {
    for action in [
        "crash_leader",
        "isolate_leader",
        "crash_group",
        "restart_group",
    ] {
        let g4 = [entry("1s", action, "group = 4 # <-")];
        invalid!(
            sized(3, &g4),
            "timeline[0].group",
            Invalid::NoSuchGroup {
                group: 4,
                groups: 3,
                ..
            }
        );
        let g0 = [entry("1s", action, "group = 0 # <-")];
        invalid!(
            sized(3, &g0),
            "timeline[0].group",
            Invalid::NoSuchGroup { group: 0, .. }
        );
        let joined = [entry("1s", "join", ""), entry("1s", action, "group = 4")];
        assert!(ok(&sized(3, &joined)), "{action}");
    }
    let heal = [entry("1s", "heal_all", "")];
    assert!(ok(&sized(3, &heal)));
}

#[test]
fn a_crashed_group_is_down_until_it_restarts() {
    let crash_member = |t: &str, mark: &str| entry(t, "crash", &format!("node = \"n2b\"{mark}"));
    let down = [
        entry("1s", "crash_group", "group = 2"),
        crash_member("2s", " # <-"),
    ];
    invalid!(sized(3, &down), "timeline[1].node",
        Invalid::AlreadyCrashed { node, since } if node == "n2b" && *since == secs(1));
    let back = [
        entry("1s", "crash_group", "group = 2"),
        entry("2s", "restart_group", "group = 2"),
        crash_member("3s", ""),
        // A member already down is simply left down by crash_group.
        entry("4s", "crash_group", "group = 2"),
        entry("5s", "restart_group", "group = 2"),
    ];
    assert!(ok(&sized(3, &back)));
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
fn storage_rules() {
    for field in ["torn_writes", "corrupt_on_restart"] {
        let body = format!("[cluster]\ngroup_size = 3\n[storage]\n{field} = 1.5 # <-\n");
        let field = format!("storage.{field}");
        invalid!(body, &field, Invalid::Probability(p) if *p == 1.5);
    }
    let body = "[storage]\nio_error_every = \"0s\" # <-\n";
    invalid!(body, "storage.io_error_every", Invalid::ZeroDuration);
    // A group of one has no minority to lose; a group of three loses at most one.
    invalid!(
        "[storage] # <-\ncorrupt_on_restart = 0.1\n",
        "storage.max_corrupt_per_group",
        Invalid::CorruptMajority {
            max: 1,
            group_size: 1
        }
    );
    let body = "[cluster]\ngroup_size = 3\n[storage]\ncorrupt_on_restart = 0.1\n\
                max_corrupt_per_group = 2 # <-\n";
    invalid!(
        body,
        "storage.max_corrupt_per_group",
        Invalid::CorruptMajority {
            max: 2,
            group_size: 3
        }
    );
    assert!(ok(
        "[storage]\ntorn_writes = 1.0\nio_error_every = \"2s\"\n"
    ));
    assert!(ok(
        "[cluster]\ngroup_size = 5\n[storage]\ncorrupt_on_restart = 1.0\n\
                max_corrupt_per_group = 2\n"
    ));
}

#[test]
fn storage_actions_take_a_node_and_respect_the_corruption_budget() {
    let body = sized(3, &[entry("1s", "fail_disk", "node = \"ecs\" # <-")]);
    invalid!(
        body,
        "timeline[0].node",
        Invalid::NotANode {
            action: "fail_disk",
            ..
        }
    );
    let body = sized(3, &[entry("1s", "corrupt", "node = \"n4a\" # <-")]);
    invalid!(body, "timeline[0].node", Invalid::NoSuchNode { .. });
    let body = sized(
        3,
        &[
            entry("1s", "corrupt", "node = \"n1a\""),
            entry("2s", "corrupt", "node = \"n2a\""),
            entry("3s", "corrupt", "node = \"n1b\" # <-"),
        ],
    );
    invalid!(
        body,
        "timeline[2].node",
        Invalid::TooManyCorrupt {
            group: 1,
            count: 2,
            max: 1
        }
    );
    let body = sized(1, &[entry("1s", "corrupt", "node = \"n1\"")]);
    invalid!(
        format!("{body}[storage]\nmax_corrupt_per_group = 1 # <-\n"),
        "storage.max_corrupt_per_group",
        Invalid::CorruptMajority { .. }
    );
    assert!(ok(&sized(
        3,
        &[
            entry("1s", "fail_disk", "node = \"n3c\""),
            entry("2s", "corrupt", "node = \"n2b\""),
        ]
    )));
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

/// A triggered `[[timeline]]` entry: `when` is the inline table's contents.
fn triggered(when: &str, action: &str, rest: &str) -> String {
    format!("[[timeline]]\nwhen = {{ {when} }}\naction = \"{action}\"\n{rest}\n")
}

#[test]
fn timeline_triggers() {
    let unknown = [triggered("receives = \"ecs_pot\" } # <-", "crash_ecs", "").replace("} }", "}")];
    invalid!(events(&unknown), "timeline[0].when.receives",
        Invalid::UnknownMessageKind(k) if k == "ecs_pot");
    let both = [triggered(
        "sends = \"done\", receives = \"ok\" } # <-",
        "crash_ecs",
        "",
    )
    .replace("} }", "}")];
    invalid!(
        events(&both),
        "timeline[0].when.sends",
        Invalid::TriggerDirection
    );
    let zero = [triggered("sends = \"done\", nth = 0 } # <-", "crash_ecs", "").replace("} }", "}")];
    invalid!(events(&zero), "timeline[0].when.nth", Invalid::ZeroNth);
    let host = [
        triggered("host = \"n9\", sends = \"done\" } # <-", "crash_ecs", "").replace("} }", "}"),
    ];
    invalid!(events(&host), "timeline[0].when.host",
        Invalid::NoSuchNode { name, .. } if name == "n9");
    // A triggered event may stand anywhere in the list, need no `at`, and is left out of
    // the crash-state rule (it may never fire).
    let fine = [
        entry("2s", "crash", "node = \"n1\""),
        triggered("host = \"n1\", sends = \"done\"", "crash", "node = \"n1\""),
        entry("3s", "restart", "node = \"n1\""),
        triggered(
            "receives = \"ecs_put\", nth = 2",
            "hold",
            "a = \"n1\"\nb = \"n2\"\nfor = \"1s\"",
        ),
    ];
    assert!(ok(&events(&fine)));
    // Without a trigger, `at` is required.
    let no_at = "[[timeline]]\naction = \"crash_ecs\"\n";
    assert!(!ok(&events(&[no_at.to_string()])));
}

#[test]
fn new_fault_actions() {
    let hold = [entry(
        "1s",
        "hold_group_links",
        "group = 1\nlinks = \"leader_followers\"\nfor = \"0s\" # <-",
    )];
    invalid!(events(&hold), "timeline[0].for", Invalid::ZeroDuration);
    let group = [entry("1s", "crash_follower", "group = 4 # <-")];
    invalid!(
        events(&group),
        "timeline[0].group",
        Invalid::NoSuchGroup { group: 4, .. }
    );
    let fine = [
        entry("1s", "crash_follower", "group = 1"),
        entry("1s", "isolate_leader_from_followers", "group = 2"),
        entry("1s", "hold", "a = \"n1a\"\nb = \"ecs\"\nfor = \"2s\""),
        entry(
            "1s",
            "hold_group_links",
            "group = 3\nlinks = \"clients\"\nfor = \"2s\"",
        ),
    ];
    assert!(ok(&sized(3, &fine)));
}

#[test]
fn node_knobs_are_checked() {
    invalid!(
        "[node]\nelection_ticks = [10, 20] # <-\nheartbeat_ticks = 10\n",
        "node.election_ticks",
        Invalid::ElectionTicks { low: 10, .. }
    );
    invalid!(
        "[node]\nelection_ticks = [30, 20] # <-\n",
        "node.election_ticks",
        Invalid::ElectionTicks {
            low: 30,
            high: 20,
            ..
        }
    );
    invalid!(
        "[node]\njoin_deadline = \"0s\" # <-\n",
        "node.join_deadline",
        Invalid::ZeroDuration
    );
    invalid!(
        "[node]\ncompact_log_bytes = 0 # <-\n",
        "node.compact_log_bytes",
        Invalid::ZeroCompaction
    );
    invalid!(
        "[node]\nmax_append_entries = 0 # <-\n",
        "node.max_append_entries",
        Invalid::ZeroAppendEntries
    );
}

#[test]
fn rogue_rules() {
    let fine = [
        entry("1s", "rogue", "kind = \"forge\""),
        entry("1s", "rogue", "kind = \"forge\"\nauth = \"wrong\"\nto = [\"n1\", \"ecs\"]\nlines = [\"write_lock\", \"garbage here\"]"),
        entry("2s", "rogue", "kind = \"replay\""),
        entry("2s", "rogue", "kind = \"replay\"\nto = [\"n2\"]"),
    ];
    assert!(ok(&events(&fine)));
    let client = [entry(
        "1s",
        "rogue",
        "kind = \"forge\"\nto = [\"n1\", \"c1\"] # <-",
    )];
    invalid!(events(&client), "timeline[0].to[1]", Invalid::RogueTarget(h) if h == "c1");
    let ecs = [entry(
        "1s",
        "rogue",
        "kind = \"replay\"\nto = [\"ecs\"] # <-",
    )];
    invalid!(events(&ecs), "timeline[0].to[0]", Invalid::RogueTarget(h) if h == "ecs");
    let missing = [entry("1s", "rogue", "kind = \"forge\"\nto = [\"n4\"] # <-")];
    invalid!(
        events(&missing),
        "timeline[0].to[0]",
        Invalid::NoSuchNode { .. }
    );
    let two = [entry(
        "1s",
        "rogue",
        "kind = \"replay\"\nto = [\"n1\", \"n2\"] # <-",
    )];
    invalid!(events(&two), "timeline[0].to", Invalid::RogueReplay(_));
    let lines = [entry(
        "1s",
        "rogue",
        "kind = \"replay\"\nlines = [\"write_lock\"] # <-",
    )];
    invalid!(events(&lines), "timeline[0].lines", Invalid::RogueReplay(_));
    let auth = [entry(
        "1s",
        "rogue",
        "kind = \"replay\"\nauth = \"wrong\" # <-",
    )];
    invalid!(events(&auth), "timeline[0].auth", Invalid::RogueReplay(_));
    let empty = [entry(
        "1s",
        "rogue",
        "kind = \"forge\"\nlines = [\"write_lock\", \" \"] # <-",
    )];
    invalid!(
        events(&empty),
        "timeline[0].lines[1]",
        Invalid::RogueLine(_)
    );
    let two_lines = [entry(
        "1s",
        "rogue",
        "kind = \"forge\"\nlines = [\"a\\nb\"] # <-",
    )];
    invalid!(
        events(&two_lines),
        "timeline[0].lines[0]",
        Invalid::RogueLine(_)
    );
}
