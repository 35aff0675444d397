//! What `sim replay` prints for one case: the scenario before the run (VOPR-style, so the
//! options are on screen even if the run never ends), then the renderings of its trace,
//! then the trace hash and the checks' verdict.

use std::path::Path;

use super::regression::indent;
use crate::runner::RunReport;
use crate::scenario::{ClientTrace, PeerTrace, Scenario, TraceOptions};
use crate::trace::render;

/// Which renderings of the trace to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sections {
    /// The sequence diagram (ECS protocol, elections and faults).
    pub diagram: bool,
    /// The trace one line per event.
    pub lines: bool,
    /// How client and peer traffic appear in the one-line trace.
    pub trace: TraceOptions,
}

/// The scenario as a comment block: a scenario file for just this seed, commented out.
pub fn header(scenario: &Scenario, seed: u64, file: &Path) -> String {
    let mut case = scenario.clone();
    case.seeds = vec![seed];
    let mut text = format!(
        "# sim replay: scenario {:?}, seed {seed}, from {}\n#\n",
        scenario.name,
        file.display()
    );
    text.push_str(&indent(&case.to_toml(), "# ", "# "));
    text.push('\n');
    text
}

/// The chosen renderings of the run's trace, each under a `==` title.
pub fn body(report: &RunReport, sections: Sections) -> String {
    let mut text = String::new();
    if sections.diagram {
        text.push_str("== sequence diagram (ECS protocol, elections and faults) ==\n");
        text.push_str(&render::diagram(&report.trace, &report.hosts));
        text.push('\n');
    }
    if sections.lines {
        let clients = match sections.trace.clients {
            ClientTrace::Full => "every client packet",
            ClientTrace::Summary => "client traffic as counts per second",
        };
        let peers = match sections.trace.peers {
            PeerTrace::Full => "every peer frame",
            PeerTrace::Summary => "peer traffic as counts per second",
        };
        text.push_str(&format!(
            "== trace, one line per event ({clients}; {peers}) ==\n"
        ));
        text.push_str(&render::lines(&report.trace, sections.trace));
        text.push('\n');
    }
    text
}

/// `trace hash: <16 hex digits>`, the simulated time, and the checks' verdict with every
/// violation.
pub fn verdict(report: &RunReport) -> String {
    let mut text = format!("trace hash: {:016x}\n", report.trace.hash());
    text.push_str(&format!(
        "simulated: {:.3} s, {} events\n",
        report.simulated.as_secs_f64(),
        report.trace.events.len()
    ));
    if report.passed() {
        text.push_str("checks: all passed\n");
    } else {
        let n = report.failures.len();
        text.push_str(&format!("checks: FAILED ({n} violations)\n"));
        for failure in &report.failures {
            text.push_str(&indent(&failure.to_string(), "  ", "    "));
        }
    }
    for (key, steps) in &report.undecided {
        text.push_str(&format!(
            "undecided: linearizability of {key} (the search stopped after {steps} steps; \
             raise [checks] linearizable_steps)\n"
        ));
    }
    text
}
