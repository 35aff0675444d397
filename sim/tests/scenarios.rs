//! Every shipped scenario, run with its first seed: it must pass its checks, replay
//! identically (same trace hash twice; a divergence names the first differing event) and
//! match its snapshot in `snapshots/`.

use std::path::{Path, PathBuf};

use sim::runner;
use sim::scenario::{load, Scenario};
use sim::trace::render;

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // scenarios/defects/ holds scenarios that show an unfixed defect: they fail
            // by design and are run by hand, not by the suite.
            if path.file_name().is_some_and(|n| n == "defects") {
                continue;
            }
            scenario_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

struct Outcome {
    scenario: Scenario,
    snapshot: String,
    problems: Vec<String>,
}

fn check(path: &Path) -> Outcome {
    let scenario = load(path).unwrap_or_else(|e| panic!("{e}"));
    let seed = scenario.seeds[0];
    let first = runner::run(&scenario, seed);
    let second = runner::run(&scenario, seed);
    let mut problems = Vec::new();
    if let Some((i, a, b)) = first.trace.first_divergence(&second.trace) {
        problems.push(format!(
            "{}: seed {seed} is not deterministic; first difference at event {i}:\n  first run:  {a}\n  second run: {b}",
            path.display()
        ));
    }
    for f in &first.failures {
        problems.push(format!("{}: seed {seed}: {f}", path.display()));
    }
    Outcome {
        snapshot: render::snapshot(&first, scenario.trace),
        scenario,
        problems,
    }
}

#[test]
fn shipped_scenarios_pass_replay_identically_and_match_their_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    scenario_files(&root.join("scenarios"), &mut files);
    assert!(!files.is_empty(), "no scenarios found");
    // `SCENARIO_FILTER=text` runs only the scenarios whose path contains `text` (to
    // write or check the snapshots of a few new scenarios without running them all).
    if let Ok(filter) = std::env::var("SCENARIO_FILTER") {
        files.retain(|p| p.to_string_lossy().contains(&filter));
        assert!(!files.is_empty(), "no scenario path contains {filter:?}");
    }

    // Runs are independent and single-threaded: spread them over two threads.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut outcomes: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = files.get(i) else {
                            return done;
                        };
                        done.push((i, check(path)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    outcomes.sort_by_key(|(i, _)| *i);

    let problems: Vec<String> = outcomes
        .iter()
        .flat_map(|(_, o)| o.problems.clone())
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (_, o) in &outcomes {
            insta::assert_snapshot!(o.scenario.name.clone(), o.snapshot);
        }
    });
}
