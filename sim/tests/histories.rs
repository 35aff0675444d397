//! Exported histories read back: a shipped scenario's history written as JSON lines reads
//! back into the same operations, and its EDN rendering has one invocation and one
//! completion per operation in time order.

use std::path::Path;

use sim::export::{self, HistoryFormat};
use sim::runner;
use sim::scenario::load;
use sim::workload::{Op, OutcomeKind};

fn busy_history() -> sim::workload::History {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scenario = load(&root.join("scenarios/leader-crash-while-writing.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    runner::run(&scenario, scenario.seeds[0]).history
}

#[test]
fn json_lines_read_back_into_the_same_operations() {
    let history = busy_history();
    let ops = export::operations(&history);
    assert!(
        ops.len() > history.records.len(),
        "the final reads are exported too"
    );
    let text = HistoryFormat::Json.render(&history);
    assert_eq!(text.lines().count(), ops.len());
    let back = export::read_json_lines(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, ops);

    // The workload contends: shared keys written by more than one process, with every
    // operation kind, and both definite and unknown outcomes are representable.
    let shared: Vec<_> = back.iter().filter(|r| r.key.starts_with('s')).collect();
    let writers: std::collections::BTreeSet<u32> = shared
        .iter()
        .filter(|r| !matches!(r.op, Op::Get))
        .map(|r| r.process)
        .collect();
    assert!(
        writers.len() > 1,
        "shared keys have one writer: {writers:?}"
    );
    for f in ["get", "put", "delete", "cas"] {
        assert!(
            text.contains(&format!("\"f\":\"{f}\"")),
            "no {f} in the history"
        );
    }
    // Writes carry their session tag; reads do not.
    assert!(back
        .iter()
        .all(|r| r.session.is_some() == !matches!(r.op, Op::Get)));
    // Values name their write: unique per write.
    let mut written = std::collections::BTreeSet::new();
    for r in &back {
        let v = match &r.op {
            Op::Put(v) | Op::Cas { new: v, .. } => v,
            _ => continue,
        };
        assert!(written.insert(v.clone()), "value {v:?} written twice");
    }
}

#[test]
fn a_broken_line_is_named() {
    let history = busy_history();
    let mut text = HistoryFormat::Json.render(&history);
    text.push_str("{\"index\": 1}\n");
    let e = export::read_json_lines(&text).unwrap_err();
    let last = text.lines().count();
    assert!(e.starts_with(&format!("line {last}: ")), "{e}");
}

#[test]
fn edn_pairs_an_invocation_with_each_completion_in_time_order() {
    let history = busy_history();
    let ops = export::operations(&history);
    let text = HistoryFormat::Edn.render(&history);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * ops.len());
    let mut last_time = 0u64;
    let mut open = std::collections::BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("{{:index {i}, :process ")),
            "{line}"
        );
        assert!(line.ends_with('}'), "{line}");
        let field = |name: &str| {
            let at = line.find(&format!(":{name} ")).expect(name) + name.len() + 2;
            line[at..]
                .split([',', '}'])
                .next()
                .unwrap_or("")
                .to_string()
        };
        // Events are in the order they happened; each host's clock can run ahead of the
        // others by up to one tick (10 ms) while the simulation steps it.
        let time: u64 = field("time").parse().expect("time");
        assert!(
            time + 10_000_000 >= last_time,
            "out of time order at {line}"
        );
        last_time = last_time.max(time);
        let process = field("process");
        let kind = field("type");
        if kind == ":invoke" {
            assert!(
                open.insert(process.clone(), ()).is_none(),
                "{process} invoked twice"
            );
        } else {
            assert!([":ok", ":fail", ":info"].contains(&kind.as_str()), "{line}");
            assert!(
                open.remove(&process).is_some(),
                "completion without invoke: {line}"
            );
        }
    }
    assert!(open.is_empty(), "operations left open: {open:?}");
    let infos = ops
        .iter()
        .filter(|r| r.outcome.kind() == OutcomeKind::Info)
        .count();
    assert_eq!(text.matches(":type :info").count(), infos);
}
