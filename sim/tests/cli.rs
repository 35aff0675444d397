//! The `sim` binary end to end, on tiny scenario files written by each test: exit codes,
//! the summary table, hashes that agree between processes, scenario-file errors, replay
//! output and regression files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small scenario: one group, one client with four keys, three simulated seconds.
const TINY: &str = r#"
name = "tiny"
description = "one group, one client, a few keys"
duration = "3s"
seeds = [1, 2]

[cluster]
groups = 1

[workload]
clients = 1
keys = 4
rate = 5.0
"#;

/// `tiny`, but the final reads must finish within 5 ms, which they cannot: every case
/// fails the liveness part of its checks.
const IMPATIENT: &str = r#"
name = "impatient"
duration = "3s"
seeds = [4]

[cluster]
groups = 1

[workload]
clients = 1
keys = 2

[checks]
recovery_deadline = "5ms"
"#;

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("sim-cli")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario file");
    path
}

/// Runs `sim` in `dir` with `RUST_LOG` unset.
fn sim(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("start the sim binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The summary row of `scenario`, split into cells.
fn row(out: &str, scenario: &str) -> Vec<String> {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(scenario))
        .unwrap_or_else(|| panic!("no summary row for {scenario} in:\n{out}"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn run_over_a_seed_range_passes_and_summarises() {
    let dir = scratch("run_range");
    write(&dir, "tiny.toml", TINY);

    let out = sim(
        &dir,
        &["run", "tiny.toml", "--seeds", "1..=3", "--jobs", "2"],
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    // scenario | seeds | passed | failed | ...
    assert_eq!(row(&text, "tiny")[1..4], ["3", "3", "0"], "{text}");
    assert_eq!(row(&text, "total")[1..4], ["3", "3", "0"], "{text}");

    // `A..B` leaves B out.
    let out = sim(&dir, &["run", "tiny.toml", "--seeds", "1..3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(row(&stdout(&out), "tiny")[1], "2");

    // Without seeds: the file's own list.
    let out = sim(&dir, &["run", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(row(&stdout(&out), "tiny")[1], "2");
}

#[test]
fn hash_is_the_same_in_two_processes() {
    let dir = scratch("hash");
    write(&dir, "tiny.toml", TINY);
    let first = sim(&dir, &["hash", "tiny.toml", "--seed", "5"]);
    let second = sim(&dir, &["hash", "tiny.toml", "--seed", "5"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(stdout(&first), stdout(&second));
    let text = stdout(&first);
    let (hash, rest) = text.split_once("  ").expect("hash, two spaces, name");
    assert!(
        hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{text:?}"
    );
    assert_eq!(rest, "tiny seed 5\n");
}

#[test]
fn a_bad_scenario_file_exits_2_naming_file_and_line() {
    let dir = scratch("bad_file");
    write(&dir, "tiny.toml", TINY);
    // Line 7 holds the bad value.
    let bad = "name = \"bad\"\nduration = \"3s\"\nseeds = [1]\n\n[workload]\nclients = 1\nkeys = \"four\"\n";
    write(&dir, "broken.toml", bad);
    let out = sim(&dir, &["run", "tiny.toml", "broken.toml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{err}");
    assert!(err.contains("broken.toml"), "{err}");
    assert!(err.contains(":7") || err.contains("line 7"), "{err}");
    assert!(
        !stdout(&out).contains("total"),
        "nothing should run:\n{}",
        stdout(&out)
    );

    for args in [
        &["replay", "broken.toml"][..],
        &["hash", "broken.toml"][..],
        &["run", "missing.toml"][..],
        &["run", "tiny.toml", "--seeds", "3..3"][..],
        &["run", "tiny.toml", "--seed", "1", "--seeds", "1..2"][..],
    ] {
        let out = sim(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn replay_prints_the_scenario_first_then_the_trace_and_its_hash() {
    let dir = scratch("replay");
    write(&dir, "tiny.toml", TINY);
    let out = sim(&dir, &["replay", "tiny.toml", "--seed", "5"]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
    };
    assert!(at("# name = \"tiny\"") < at("== sequence diagram"));
    assert!(at("# seeds = [5]") < at("== sequence diagram"));
    assert!(at("== sequence diagram") < at("== trace"));
    assert!(at("== trace") < at("trace hash: "));
    assert!(text.contains("checks: all passed"), "{text}");

    // The hash agrees with `sim hash`.
    let hash = sim(&dir, &["hash", "tiny.toml", "--seed", "5"]);
    let hash = stdout(&hash);
    let hash = hash.split_whitespace().next().expect("a hash");
    assert!(text.contains(&format!("trace hash: {hash}\n")), "{text}");

    let only = stdout(&sim(&dir, &["replay", "tiny.toml", "--diagram-only"]));
    assert!(
        only.contains("== sequence diagram") && !only.contains("== trace"),
        "{only}"
    );
    let only = stdout(&sim(
        &dir,
        &["replay", "tiny.toml", "--lines-only", "--clients", "full"],
    ));
    assert!(
        !only.contains("== sequence diagram") && only.contains("every client packet"),
        "{only}"
    );
}

#[test]
fn a_failing_case_exits_1_and_is_saved_as_a_replayable_scenario() {
    let dir = scratch("failure");
    write(&dir, "impatient.toml", IMPATIENT);
    let out = sim(
        &dir,
        &["run", "impatient.toml", "--regressions-dir", "regs"],
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{text}\nstderr:\n{}",
        stderr(&out)
    );
    assert!(
        text.contains("FAILED impatient seed 4 (impatient.toml)"),
        "{text}"
    );
    assert!(
        text.contains("replay: cargo run --release -p sim -- replay regs/impatient-seed4.toml"),
        "{text}"
    );
    assert_eq!(row(&text, "impatient")[1..4], ["1", "0", "1"], "{text}");

    let saved =
        std::fs::read_to_string(dir.join("regs/impatient-seed4.toml")).expect("regression file");
    assert!(
        saved.starts_with("# Regression case written by `sim run`"),
        "{saved}"
    );
    assert!(saved.contains("# Original file: impatient.toml"), "{saved}");
    assert!(saved.contains("\nseeds = [4]\n"), "{saved}");

    // Same failure, same bytes: the file has no timestamp.
    let again = sim(
        &dir,
        &["run", "impatient.toml", "--regressions-dir", "regs"],
    );
    assert_eq!(again.status.code(), Some(1));
    let resaved =
        std::fs::read_to_string(dir.join("regs/impatient-seed4.toml")).expect("regression file");
    assert_eq!(saved, resaved);

    let replay = sim(&dir, &["replay", "regs/impatient-seed4.toml"]);
    let replayed = stdout(&replay);
    assert_eq!(replay.status.code(), Some(1), "{replayed}");
    assert!(replayed.contains("checks: FAILED"), "{replayed}");
}

#[test]
fn histories_are_written_per_case_and_to_stdout() {
    let dir = scratch("histories");
    write(&dir, "tiny.toml", TINY);
    let out = sim(
        &dir,
        &["run", "tiny.toml", "--seeds", "1..3", "--histories", "h"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 histories written to h"),
        "{}",
        stdout(&out)
    );
    let file = std::fs::read_to_string(dir.join("h").join("tiny-seed1.jsonl"))
        .expect("a history per case");
    let back = sim::export::read_json_lines(&file).expect("it reads back");
    assert!(!back.is_empty());

    // `--history -` prints the history (EDN here) and nothing else.
    let out = sim(
        &dir,
        &[
            "replay",
            "tiny.toml",
            "--seed",
            "1",
            "--history",
            "-",
            "--history-format",
            "edn",
        ],
    );
    let text = stdout(&out);
    assert!(text.lines().count() >= 2, "{text}");
    assert!(text.lines().all(|l| l.starts_with("{:index ")), "{text}");
}

#[test]
fn bench_checker_prints_its_figures() {
    let dir = scratch("bench");
    let out = sim(
        &dir,
        &[
            "bench-checker",
            "--ops",
            "2000",
            "--keys",
            "50",
            "--runs",
            "1",
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("checked 2000 operations over 50 keys"),
        "{text}"
    );
    assert!(text.contains("0 violations, 0 undecided keys"), "{text}");
    let bad = sim(&dir, &["bench-checker", "--info", "2"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// One group of one, a second that joins, a few clients: enough for a swarm plan to act on.
const SMALL_RING: &str = r#"
name = "small-ring"
duration = "4s"
seeds = [1]

[cluster]
groups = 1

[workload]
clients = 2
keys = 4
rate = 5.0

[[timeline]]
at = "1s"
action = "join"
"#;

#[test]
fn explore_runs_every_seed_of_a_shard_and_merges_shards() {
    let dir = scratch("explore");
    write(&dir, "small-ring.toml", SMALL_RING);
    let mut totals = 0;
    for shard in ["1/2", "2/2"] {
        let summary = format!("summaries/{}.json", shard.replace('/', "-of-"));
        let cases = "cases";
        let out = sim(
            &dir,
            &[
                "explore",
                "small-ring.toml",
                "--seeds",
                "0..6",
                "--shard",
                shard,
                "--jobs",
                "2",
                "--summary",
                &summary,
                "--cases-dir",
                cases,
            ],
        );
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
        assert!(
            text.contains("3 cases (1 scenario × 3 seeds, shard"),
            "{text}"
        );
        assert!(text.contains("ok: 3 cases passed"), "{text}");
        assert!(text.contains("simulated s per wall s per core"), "{text}");
        totals += 3;
    }
    // Every case was written as a plain scenario that replays on its own.
    let written: Vec<_> = std::fs::read_dir(dir.join("cases")).unwrap().collect();
    assert_eq!(written.len(), 6);
    let case = dir.join("cases").join("small-ring-explore-4.toml");
    let replay = sim(&dir, &["replay", case.to_str().unwrap(), "--diagram-only"]);
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    let merged = sim(&dir, &["explore", "--merge", "summaries"]);
    let text = stdout(&merged);
    assert_eq!(merged.status.code(), Some(0), "{text}{}", stderr(&merged));
    assert!(
        text.contains(&format!("ok: {totals} cases passed")),
        "{text}"
    );
    assert!(text.contains("shards 1/2 2/2"), "{text}");
    assert!(
        text.contains("covered: 6 distinct cases, every seed of 0..=5 for each of 1 scenario"),
        "{text}"
    );
    // Scenarios named before `--merge` restrict the count to them: a scenario the
    // shards ran and that is not named is left out, one named that no shard ran is said.
    write(
        &dir,
        "other-ring.toml",
        &SMALL_RING.replace("name = \"small-ring\"", "name = \"other-ring\""),
    );
    let only_other = sim(
        &dir,
        &["explore", "other-ring.toml", "--merge", "summaries"],
    );
    let text = stdout(&only_other);
    assert_eq!(
        only_other.status.code(),
        Some(0),
        "{text}{}",
        stderr(&only_other)
    );
    assert!(
        text.contains(
            "left out: 6 cases (0 failed) of 1 scenario not among the scenarios named: small-ring"
        ),
        "{text}"
    );
    assert!(
        text.contains("not run by any summary: 1 scenario named: other-ring"),
        "{text}"
    );
    // ...and its seeds count as missing: the gate's merge must not read as complete.
    assert!(
        text.contains("6 cases missing, the first other-ring seed 0"),
        "{text}"
    );
    let both = sim(
        &dir,
        &[
            "explore",
            "small-ring.toml",
            "other-ring.toml",
            "--merge",
            "summaries",
        ],
    );
    let text = stdout(&both);
    assert!(
        text.contains(&format!("ok: {totals} cases passed")),
        "{text}"
    );
    assert!(!text.contains("left out"), "{text}");
}

/// Locks of any length fail `max_lock_hold`; the crashes and holds around it are noise a
/// shrink must remove.
const LOCKED_TOO_LONG: &str = r#"
name = "locked-too-long"
duration = "6s"
seeds = [3]

[cluster]
groups = 1

[workload]
clients = 2
keys = 6

[[timeline]]
at = "500ms"
action = "hold"
a = "c1"
b = "n1"
for = "300ms"

[[timeline]]
at = "1s"
action = "join"

[[timeline]]
at = "4s"
action = "crash_ecs"

[[timeline]]
at = "4500ms"
action = "restart_ecs"

[[timeline]]
at = "5s"
action = "hold"
a = "c2"
b = "n1"
for = "200ms"

[checks]
max_lock_hold = "1ms"
"#;

#[test]
fn shrink_keeps_the_failure_and_removes_the_rest() {
    let dir = scratch("shrink");
    write(&dir, "locked.toml", LOCKED_TOO_LONG);
    let out = sim(
        &dir,
        &[
            "shrink",
            "locked.toml",
            "--out",
            "shrunk",
            "--name",
            "just-the-lock",
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains("kept locks_released"), "{text}");
    assert!(text.contains("timeline events 5 -> 1"), "{text}");
    let file = dir.join("shrunk").join("just-the-lock.toml");
    let shrunk = std::fs::read_to_string(&file).expect("the shrunk file");
    assert!(shrunk.contains("action = \"join\""), "{shrunk}");
    assert!(!shrunk.contains("crash_ecs"), "{shrunk}");
    // The file fails the same way on its own.
    let replay = sim(&dir, &["replay", file.to_str().unwrap(), "--diagram-only"]);
    assert_eq!(replay.status.code(), Some(1));
    assert!(stdout(&replay).contains("locks_released"));
    // A passing case has nothing to keep.
    write(&dir, "tiny.toml", TINY);
    let out = sim(&dir, &["shrink", "tiny.toml", "--out", "shrunk"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("passes"), "{}", stderr(&out));
}

#[test]
fn html_reports_for_replay_and_for_failing_cases_with_an_index() {
    let dir = scratch("html");
    write(&dir, "tiny.toml", TINY);
    write(&dir, "impatient.toml", IMPATIENT);

    let out = sim(
        &dir,
        &[
            "replay",
            "tiny.toml",
            "--seed",
            "2",
            "--html",
            "out/tiny.html",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("report written to out/tiny.html"));
    let page = std::fs::read_to_string(dir.join("out/tiny.html")).expect("the report");
    assert!(page.contains("<dd id=\"seed\">2</dd>"));
    assert!(
        page.contains("replay tiny.toml --seed 2</code>"),
        "no replay command"
    );
    let hash = stdout(&sim(&dir, &["hash", "tiny.toml", "--seed", "2"]));
    let hash = hash.split_whitespace().next().unwrap();
    assert!(page.contains(hash), "the page lacks the trace hash {hash}");

    // Only failing cases get a report, named after their regression file, and the
    // index lists them with their checks.
    let out = sim(
        &dir,
        &[
            "run",
            "tiny.toml",
            "impatient.toml",
            "--regressions-dir",
            "regs",
            "--html-dir",
            "reports",
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("1 HTML report written to reports"), "{text}");
    let mut files: Vec<String> = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["impatient-seed4.html", "index.html"]);
    let index = std::fs::read_to_string(dir.join("reports/index.html")).unwrap();
    assert!(
        index.contains("<a href=\"impatient-seed4.html\">impatient</a>"),
        "{index}"
    );
    // 5 ms is shorter than any answer, so the view audit, which asks for as long as the
    // recovery deadline, hears nothing from n1 either.
    assert!(
        index.contains("<td>joins_complete, liveness</td>"),
        "{index}"
    );
    let page = std::fs::read_to_string(dir.join("reports/impatient-seed4.html")).unwrap();
    assert!(page.contains("replay regs/impatient-seed4.toml</code>"));
    assert!(page.contains("FAILED: joins_complete, liveness"));
}

/// Ctrl-C during `explore` stops it as a time budget does: what ran is reported and
/// summarised, the rest counted as not run, and exit code 130 says the run was cut short.
#[test]
fn ctrl_c_stops_explore_with_a_report_and_a_summary() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let dir = scratch("interrupt");
    write(&dir, "tiny.toml", TINY);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["explore", "tiny.toml", "--seeds", "0..1000", "--jobs", "1"])
        .args(["--no-shrink", "--summary", "summary.json"])
        .current_dir(&dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sim binary");
    // The first line comes once the handlers are in place.
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("read the first line");
    assert!(first.starts_with("sim explore: 1000 cases"), "{first}");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read the report");
    let status = child.wait().expect("wait for sim");
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("stopped early"), "{rest}");

    let text = std::fs::read_to_string(dir.join("summary.json")).expect("the summary file");
    let summary: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let count = |field: &str| summary[field].as_u64().expect(field);
    assert!(count("not_run") > 0, "{text}");
    assert_eq!(count("cases") + count("not_run"), 1000, "{text}");
    assert_eq!(count("passed"), count("cases"), "{text}");
}
