//! A run as one self-contained HTML page a person opens in a browser: host swimlanes with
//! crashes, partitions and holds, each group's leader and term, the joins' steps and
//! locks, every client operation by key (a linearizability violation's operations
//! highlighted beside the checker's explanation), the messages as arrows, and a plot of
//! throughput and latency; plus what it takes to reproduce the run.
//!
//! - [`faults`]: the trace's fault lines read back as spans on host lanes.
//! - [`joins`]: each join's steps, and the groups' write locks.
//! - [`data`]: everything the page draws, as the JSON embedded in it.
//! - [`plot`]: throughput and latency over time as SVG.
//! - [`page`]: the HTML around them (inline CSS and script), and the index page.
//!
//! The report is derived from the finished run (its trace and history), never during it,
//! and holds no wall-clock time: the same case gives the same bytes.

pub mod data;
pub mod faults;
pub mod joins;
pub mod page;
pub mod plot;

use std::path::{Path, PathBuf};

pub use page::IndexEntry;

use crate::runner::RunReport;
use crate::scenario::Scenario;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A directory or file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The report page of `report`, a run of `scenario`; `replay` is the command that
/// reproduces it, shown on the page.
pub fn render(report: &RunReport, scenario: &Scenario, replay: &str) -> String {
    let data = data::build(report, scenario, replay);
    let plot = plot::render(&data);
    page::render(&data, &plot)
}

/// A report's file name: `<scenario>-seed<N>.html` (characters other than letters, digits,
/// `-`, `_` and `.` in the name replaced by `_`).
pub fn file_name(scenario_name: &str, seed: u64) -> String {
    let toml = crate::cli::regression::file_name(scenario_name, seed);
    let stem = toml.strip_suffix(".toml").unwrap_or(&toml);
    format!("{stem}.html")
}

/// Writes `html` to `path`, creating its directory.
pub fn write(path: &Path, html: &str) -> Result<(), ReportError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, html).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the index page `index.html` listing `entries` into `dir`; returns its path.
pub fn write_index(
    dir: &Path,
    title: &str,
    entries: &[IndexEntry],
) -> Result<PathBuf, ReportError> {
    let path = dir.join("index.html");
    write(&path, &page::index(title, entries))?;
    Ok(path)
}

/// The index entry of a written report (`file` relative to the index).
pub fn index_entry(report: &RunReport, file: &str, replay: &str) -> IndexEntry {
    let mut checks: Vec<String> = Vec::new();
    for f in &report.failures {
        if !checks.iter().any(|c| c == f.check) {
            checks.push(f.check.to_string());
        }
    }
    IndexEntry {
        scenario: report.scenario.clone(),
        seed: report.seed,
        checks,
        first_failure: report
            .failures
            .first()
            .map(|f| f.detail.lines().next().unwrap_or_default().to_string())
            .unwrap_or_default(),
        file: file.to_string(),
        replay: replay.to_string(),
    }
}
