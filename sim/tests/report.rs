//! The HTML report's structure, without a browser: the data embedded as JSON holds every
//! host lane, the faults, leaders, joins, messages and operations of the run; the page
//! names the seed, the trace hash and the replay command; a linearizability violation
//! points at its operations; the same case gives the same bytes.

use std::path::Path;

use serde_json::Value;
use sim::checks::linearizable::{self, Config};
use sim::runner::{self, RunReport};
use sim::scenario::{self, Scenario};
use sim::workload::{Op, Outcome};

const REPLAY: &str = "cargo run --release -p sim -- replay scenarios/x.toml --seed 111";

fn shipped(name: &str) -> Scenario {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    scenario::load(&file).unwrap()
}

/// The JSON in `<script type="application/json" id="report-data">`.
fn data_of(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"report-data\">";
    let start = html.find(open).expect("no JSON data block") + open.len();
    let len = html[start..]
        .find("</script>")
        .expect("unterminated data block");
    serde_json::from_str(&html[start..start + len]).expect("the data block is not JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_report_carries_every_lane_the_faults_and_how_to_replay() {
    let scenario = shipped("leader-crash-while-locked");
    let seed = scenario.seeds[0];
    let report = runner::run(&scenario, seed);
    let html = sim::report::render(&report, &scenario, REPLAY);
    let data = data_of(&html);

    // Every host is a lane: the ECS, every node in join order, every client, the verifier
    // and the view auditor.
    let lanes: Vec<String> = data["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect();
    let mut expected = report.hosts.clone();
    expected.extend((1..=scenario.workload.clients).map(|i| format!("c{i}")));
    expected.push("verify".into());
    expected.push("audit".into());
    assert_eq!(lanes, expected);
    assert_eq!(
        lanes.len(),
        11,
        "ecs, two groups of three, two clients, verify, audit"
    );

    // What it takes to reproduce the run, in the data and on the page itself.
    let hash = format!("{:016x}", report.trace.hash());
    assert_eq!(data["meta"]["seed"], seed);
    assert_eq!(data["meta"]["hash"], hash.as_str());
    assert_eq!(data["meta"]["replay"], REPLAY);
    let toml = data["meta"]["toml"].as_str().unwrap();
    let pinned: Scenario = toml::from_str(toml).expect("the embedded scenario parses");
    assert_eq!(pinned.seeds, vec![seed]);
    assert_eq!(pinned.timeline, scenario.timeline);
    assert!(html.contains(&format!("<dd id=\"seed\">{seed}</dd>")));
    assert!(html.contains(&format!("<dd id=\"hash\"><code>{hash}</code></dd>")));
    assert!(html.contains(&format!("<code id=\"replay\">{REPLAY}</code>")));
    assert!(html.contains("<pre id=\"scenario-toml\">name = &quot;leader-crash-while-locked&quot;"));

    // The crash of group 1's leader is a down span; group 2 is absent until it joins.
    let lane = |name: &str| lanes.iter().position(|l| l == name).unwrap() as u64;
    let spans = data["spans"].as_array().unwrap();
    let has_span = |kind: &str, host: u64| {
        spans
            .iter()
            .any(|s| s[0] == host && s[1] == kind && s[2].as_u64() < s[3].as_u64())
    };
    assert!(
        ["n1a", "n1b", "n1c"]
            .iter()
            .any(|h| has_span("down", lane(h))),
        "no down span in group 1: {spans:?}"
    );
    for h in ["n2a", "n2b", "n2c"] {
        assert!(
            has_span("absent", lane(h)),
            "{h} is not absent before its join"
        );
    }

    // Both groups had a leader; group 1 had two (the first crashed).
    let leaders = data["leaders"].as_array().unwrap();
    let terms_of = |g: u64| leaders.iter().filter(|l| l[0] == g).count();
    assert!(terms_of(1) >= 2, "{leaders:?}");
    assert!(terms_of(2) >= 1, "{leaders:?}");

    // Join 2 ran its steps and its lock was released.
    let joins = data["joins"].as_array().unwrap();
    let join2 = joins.iter().find(|j| j["join"] == 2).expect("join 2");
    let steps: Vec<&str> = join2["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[0].as_str().unwrap())
        .collect();
    for step in [
        "write_lock",
        "transfer_range",
        "ecs_put",
        "done",
        "release_lock",
    ] {
        assert!(
            steps.contains(&step),
            "join 2 has no {step} step: {steps:?}"
        );
    }
    let locks = data["locks"].as_array().unwrap();
    assert!(locks.iter().any(|l| l[2] == 2 && l[5] == true), "{locks:?}");

    // Every message sent is there, most of them received; every operation is there.
    let sends = report
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.what, sim::trace::What::Send { .. }))
        .count();
    let msgs = data["msgs"].as_array().unwrap();
    assert_eq!(msgs.len(), sends);
    let received = msgs.iter().filter(|m| m[1].as_i64() >= Some(0)).count();
    assert!(received * 10 > sends * 9, "{received} of {sends} received");
    let lines = strings(&data["lines"]);
    assert!(
        lines.iter().any(|l| l.starts_with("write_lock")),
        "no decoded ECS line"
    );
    let ops = data["ops"].as_array().unwrap();
    assert_eq!(
        ops.len(),
        report.history.records.len() + report.history.final_reads.len()
    );
    assert!(html.contains("<svg class=\"plot-data\""), "no plot");
    assert_eq!(data["violations"].as_array().unwrap().len(), 0);
}

#[test]
fn the_same_case_gives_the_same_bytes() {
    let scenario = shipped("first-join");
    let seed = scenario.seeds[0];
    let a = sim::report::render(&runner::run(&scenario, seed), &scenario, REPLAY);
    let b = sim::report::render(&runner::run(&scenario, seed), &scenario, REPLAY);
    assert!(a == b, "two runs of one case rendered different reports");
}

/// A run whose history was tampered with: one answered read now returns a value nobody
/// wrote, and the checks judged it again.
fn tampered() -> (Scenario, RunReport, usize) {
    let scenario = shipped("first-join");
    let mut report = runner::run(&scenario, scenario.seeds[0]);
    let i = report
        .history
        .records
        .iter()
        .position(|r| r.op == Op::Get && matches!(r.outcome, Outcome::Value(Some(_))))
        .expect("an answered read");
    report.history.records[i].outcome = Outcome::Value(Some("never-written".into()));
    let config = Config {
        max_steps_per_key: scenario.checks.linearizable_steps,
    };
    let (failures, _) = linearizable::judge(&report.history, &report.trace, &config);
    assert!(!failures.is_empty());
    report.failures = failures;
    (scenario, report, i)
}

#[test]
fn a_linearizability_violation_points_at_its_operations() {
    let (scenario, report, tampered_record) = tampered();
    let html = sim::report::render(&report, &scenario, REPLAY);
    // Kept for a look in a browser.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("violation.html"), &html).unwrap();
    let data = data_of(&html);
    let violations = data["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1);
    let v = &violations[0];
    assert_eq!(
        v["key"],
        report.history.records[tampered_record].key.as_str()
    );
    let ops: Vec<u64> = v["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_u64().unwrap())
        .collect();
    assert!(
        ops.contains(&(tampered_record as u64)),
        "the violation's operations {ops:?} miss record {tampered_record}"
    );
    assert!(v["explanation"]
        .as_str()
        .unwrap()
        .contains("cannot be placed"));
    assert!(html.contains("FAILED: linearizable"));
    assert_eq!(data["meta"]["passed"], false);
    assert_eq!(data["failures"][0]["check"], "linearizable");
}

#[test]
fn text_in_the_data_cannot_end_the_script_block() {
    let mut scenario = shipped("first-join");
    scenario.description = "a </script><script>alert(1)</script> <!-- and & \"quotes\"".into();
    let report = runner::run(&scenario, scenario.seeds[0]);
    let html = sim::report::render(&report, &scenario, REPLAY);
    assert!(!html.contains("<script>alert(1)"));
    let data = data_of(&html);
    assert_eq!(data["meta"]["description"], scenario.description.as_str());
}

#[test]
fn the_index_lists_each_report_with_its_failed_checks() {
    let (_, report, _) = tampered();
    let entry = sim::report::index_entry(&report, "first-join-seed1.html", REPLAY);
    assert_eq!(entry.checks, vec!["linearizable".to_string()]);
    let page = sim::report::page::index("sim run: failing cases", &[entry]);
    assert!(page.contains("<a href=\"first-join-seed1.html\">first-join</a>"));
    assert!(page.contains("<td>linearizable</td>"));
    assert_eq!(sim::report::file_name("a b/c", 7), "a_b_c-seed7.html");
}

#[test]
fn the_demo_scenario_of_the_readme_still_loads() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report-demo.toml");
    let demo = scenario::load(&file).expect("docs/report-demo.toml");
    assert_eq!((demo.cluster.group_size, demo.workload.clients), (3, 4));
}
