//! A failing case written back as a scenario file, so it can be replayed with one command
//! and moved to `scenarios/regressions/` to become a regression test.
//!
//! The file is deterministic (no timestamps, no host names): the same failure writes the
//! same bytes.

use std::path::{Path, PathBuf};

use crate::checks::Failure;
use crate::scenario::Scenario;

/// The command that replays a scenario file, as a user would type it.
pub fn replay_command(file: &Path, seed: Option<u64>) -> String {
    let mut cmd = format!(
        "cargo run --release -p sim -- replay {}",
        shell_quote(&file.display().to_string())
    );
    if let Some(seed) = seed {
        cmd.push_str(&format!(" --seed {seed}"));
    }
    cmd
}

/// `<name>-seed<N>.toml`, with characters other than letters, digits, `-`, `_` and `.` in
/// the name replaced by `_`.
pub fn file_name(scenario_name: &str, seed: u64) -> String {
    let name: String = scenario_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = if name.is_empty() {
        "scenario".to_string()
    } else {
        name
    };
    format!("{name}-seed{seed}.toml")
}

/// Where to save the case: `dir/<name>-seed<N>.toml`, or with `-2`, `-3`, ... before
/// `.toml` if that path is in `taken` (two scenario files with one name, failing on one
/// seed, must not overwrite each other).
pub fn path_for(dir: &Path, scenario_name: &str, seed: u64, taken: &[PathBuf]) -> PathBuf {
    let base = file_name(scenario_name, seed);
    let stem = base.strip_suffix(".toml").unwrap_or(&base);
    let mut path = dir.join(&base);
    let mut n = 2;
    while taken.contains(&path) {
        path = dir.join(format!("{stem}-{n}.toml"));
        n += 1;
    }
    path
}

/// The file's text: a comment header saying what failed and where the case came from, then
/// the scenario with `seeds = [seed]`.
/// `by` names the command that wrote it (`run`, `explore`, `shrink`).
pub fn render(
    scenario: &Scenario,
    seed: u64,
    original: &Path,
    failures: &[Failure],
    by: &str,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Regression case written by `sim {by}`: scenario {:?} failed with seed {seed}.\n",
        scenario.name
    ));
    out.push_str(&format!("# Original file: {}\n", original.display()));
    out.push_str("# Failed checks:\n");
    for failure in failures {
        out.push_str(&indent(&failure.to_string(), "#   ", "#     "));
    }
    out.push_str("# Replay: cargo run --release -p sim -- replay <this file>\n");
    out.push_str("# Move it to scenarios/regressions/ to keep it as a regression test.\n\n");
    let mut case = scenario.clone();
    case.seeds = vec![seed];
    out.push_str(&case.to_toml());
    out
}

/// `text` with `first` before its first line and `rest` before each later one (trailing
/// spaces trimmed): `indent(toml, "# ", "# ")` comments a file out, `indent(detail, "  ",
/// "    ")` lists a multi-line failure.
pub fn indent(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let prefix = if i == 0 { first } else { rest };
        out.push_str(format!("{prefix}{line}").trim_end());
        out.push('\n');
    }
    out
}

/// `s` unchanged if a shell would read it as one word, else single-quoted.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '+' | '=' | ',')
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_commands() {
        assert_eq!(
            file_name("join lock/contention", 7),
            "join_lock_contention-seed7.toml"
        );
        assert_eq!(file_name("", 1), "scenario-seed1.toml");
        let dir = Path::new("regs");
        let first = path_for(dir, "a", 7, &[]);
        assert_eq!(first, Path::new("regs/a-seed7.toml"));
        let second = path_for(dir, "a", 7, std::slice::from_ref(&first));
        assert_eq!(second, Path::new("regs/a-seed7-2.toml"));
        assert_eq!(
            replay_command(Path::new("target/sim-regressions/a-seed7.toml"), None),
            "cargo run --release -p sim -- replay target/sim-regressions/a-seed7.toml"
        );
        assert_eq!(
            replay_command(Path::new("my dir/it's.toml"), Some(3)),
            r"cargo run --release -p sim -- replay 'my dir/it'\''s.toml' --seed 3"
        );
    }

    #[test]
    fn indents_lines() {
        assert_eq!(indent("a: b\nc", "#   ", "#     "), "#   a: b\n#     c\n");
        assert_eq!(indent("x = 1\n\n[t]\n", "# ", "# "), "# x = 1\n#\n# [t]\n");
    }
}
