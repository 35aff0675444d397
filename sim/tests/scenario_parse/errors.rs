//! Syntax and schema errors (and the error's display) name the right line and field. In
//! each case the line the error must name is marked `# <-`.

use sim::scenario::parse::ErrorKind;
use sim::scenario::{parse, ScenarioError};

use super::rules::entry;

/// Three valid lines most cases start with.
pub(crate) const HEAD: &str = "name = \"t\"\nduration = \"10s\"\nseeds = [1]\n";

/// Parses `text`, which must fail on the line marked `# <-` at `field`.
pub(crate) fn fails_at(text: &str, field: &str) -> ScenarioError {
    let marked = text.lines().position(|l| l.contains("# <-"));
    let line = marked.map(|i| i + 1).expect("case has a `# <-` line");
    let err = match parse(text, "case.toml") {
        Ok(s) => panic!("parsed, but should fail at line {line}:\n{text}\n{s:?}"),
        Err(e) => e,
    };
    let got = (err.line, err.field.as_deref());
    assert_eq!(got, (Some(line), Some(field)), "{err}\n---\n{text}");
    err
}

#[test]
fn display_names_file_line_field_and_problem() {
    let text = format!(
        "{HEAD}\n[cluster]\ngroups = 3\n\n[[timeline]]\nat = \"1s\"\naction = \"join\"\n\n\
         [[timeline]]\nat = \"3s\"\naction = \"crash\"\nnode = \"n5\"\n"
    );
    let err = parse(&text, "scenarios/three-joins.toml").expect_err("n5 does not exist");
    assert_eq!(
        err.to_string(),
        "scenarios/three-joins.toml:15: timeline[1].node: \
         no node n5 exists at 3s (nodes by then: n1..n4)"
    );
}

/// (text, field, part of the message)
type Case = (String, &'static str, &'static str);

fn check_all(cases: Vec<Case>, syntax: bool) {
    for (text, field, message) in cases {
        let err = fails_at(&text, field);
        let kind_ok = match err.kind {
            ErrorKind::Syntax(_) => syntax,
            ErrorKind::Schema(_) => !syntax,
            _ => false,
        };
        assert!(kind_ok, "wrong kind: {err:?}");
        assert!(err.to_string().contains(message), "{err}");
    }
}

#[test]
fn schema_errors() {
    let head = |body: &str| format!("{HEAD}{body}");
    let cases: Vec<Case> = vec![
        (head("foo = 1 # <-"), "foo", "unknown field `foo`"),
        (
            head("[workload]\nclientz = 1 # <-"),
            "workload.clientz",
            "unknown field `clientz`",
        ),
        (
            head("[workload]\nclients = \"x\" # <-"),
            "workload.clients",
            "string \"x\", expected u32",
        ),
        (
            head("workload = { rate = \"fast\" } # <-"),
            "workload.rate",
            "expected f64",
        ),
        (
            "name = \"t\" # <-\nduration = \"1s\"".into(),
            "seeds",
            "missing field `seeds`",
        ),
        (
            "name = \"t\"\nduration = 10 # <-\nseeds = [1]".into(),
            "duration",
            "\"200ms\"",
        ),
        (
            "name = \"t\"\nduration = \"10\" # <-".into(),
            "duration",
            "invalid duration \"10\"",
        ),
        (
            "name = \"t\"\nduration = \"1s\"\nseeds = [-1] # <-".into(),
            "seeds[0]",
            "expected u64",
        ),
        (
            head("[trace]\nclients = \"fulll\" # <-"),
            "trace.clients",
            "unknown variant `fulll`",
        ),
    ];
    check_all(cases, false);
}

#[test]
fn timeline_schema_errors() {
    let one = |action: &str, rest: &str| format!("{HEAD}{}", entry("1s", action, rest));
    let cases: Vec<Case> = vec![
        (
            format!("{HEAD}[[timeline]]\nat = \"1s\"\naction = \"crsh\" # <-\n"),
            "timeline[0].action",
            "unknown variant `crsh`",
        ),
        (
            format!("{HEAD}[[timeline]] # <-\naction = \"crash\"\nnode = \"n1\"\n"),
            "timeline[0].at",
            "missing field `at`",
        ),
        (
            format!("{HEAD}[[timeline]]\nat = 2 # <-\naction = \"crash\"\nnode = \"n1\"\n"),
            "timeline[0].at",
            "expected a non-negative number and a unit",
        ),
        (
            format!("{HEAD}[[timeline]] # <-\nat = \"1s\"\naction = \"crash\"\n"),
            "timeline[0].node",
            "missing field `node` (action `crash` needs it)",
        ),
        (
            one("pause_ecs", "node = \"n1\" # <-"),
            "timeline[0].node",
            "`pause_ecs` takes no other fields",
        ),
        (
            one("join", "node = \"n1\" # <-"),
            "timeline[0].node",
            "unknown field `node`: action `join` takes `count`",
        ),
        (
            one("heal_all", "group = 1 # <-"),
            "timeline[0].group",
            "`heal_all` takes no other fields",
        ),
        (
            one("isolate_leader", "node = \"n1\" # <-"),
            "timeline[0].node",
            "unknown field `node`: action `isolate_leader` takes `group`",
        ),
        (
            format!("{HEAD}[[timeline]] # <-\nat = \"1s\"\naction = \"crash_group\"\n"),
            "timeline[0].group",
            "missing field `group` (action `crash_group` needs it)",
        ),
        (
            format!("{HEAD}[trace]\npeers = \"some\" # <-\n"),
            "trace.peers",
            "unknown variant `some`",
        ),
        (
            one("crash", "node = 5 # <-"),
            "timeline[0].node",
            "integer `5`, expected a string",
        ),
        (
            one("crash", "node = \"n1\"\nzap = 5 # <-"),
            "timeline[0].zap",
            "unknown field `zap`",
        ),
        (
            one("join", "count = -1 # <-"),
            "timeline[0].count",
            "integer `-1`, expected u32",
        ),
        (
            one("partition", "a = [\"n1\"]\nb = [\"n2\", 3] # <-"),
            "timeline[0].b[1]",
            "integer `3`, expected a string",
        ),
        (
            one("partition", "a = \"n1\" # <-\nb = [\"n2\"]"),
            "timeline[0].a",
            "takes a list of hosts, such as a = [\"n1\"]",
        ),
        (
            one("hold", "a = \"n1\"\nb = [\"n2\"] # <-"),
            "timeline[0].b",
            "takes one host",
        ),
        (
            format!("{HEAD}timeline = [{{ at = \"1s\", action = \"crash\", node = 1 }}] # <-\n"),
            "timeline[0].node",
            "expected a string",
        ),
    ];
    check_all(cases, false);
}

#[test]
fn syntax_errors() {
    let head = |body: &str| format!("{HEAD}{body}");
    let second_entry = "[[timeline]]\nat = \"1s\"\naction = \"pause_ecs\"\n\
                        [[timeline]]\nat = \"2s\" action = \"resume_ecs\" # <-\n";
    let cases: Vec<Case> = vec![
        (
            head("[workload]\nrate = # <-"),
            "workload.rate",
            "string values must be quoted",
        ),
        (
            head("[workload # <-\nrate = 1.0"),
            "workload",
            "unclosed table",
        ),
        (
            head("[cluster]\ngroups = 1\ngroups = 2 # <-"),
            "cluster.groups",
            "duplicate key",
        ),
        (
            head("description = \"open # <-"),
            "description",
            "invalid basic string",
        ),
        (head(second_entry), "timeline[1].at", "expected newline"),
    ];
    check_all(cases, true);
}
