//! `reaches`: the run shows what its scenario was written to reach.
//!
//! A regression scenario built around a narrow window (a held line that must reach a
//! leader after its join ended, a crash between two parts) passes trivially once a change
//! of timing makes its seeds miss the window: every check is green and nothing was
//! tested. The scenario names the trace text that proves the window was hit, and this
//! check fails when it is absent.

use super::Failure;
use crate::trace::{render, Trace};

/// A failure for each text of `expected` that no event's one-line rendering contains.
pub fn check(expected: &[String], trace: &Trace) -> Vec<Failure> {
    if expected.is_empty() {
        return Vec::new();
    }
    let lines: Vec<String> = trace.events.iter().map(render::line).collect();
    expected
        .iter()
        .filter(|text| !lines.iter().any(|l| l.contains(text.as_str())))
        .map(|text| {
            Failure::new(
                "reaches",
                format!(
                    "no trace event contains {text:?}: this seed no longer reaches the window \
                     the scenario was written for; list seeds that do (find them with \
                     `sim replay FILE --seed N --lines-only | grep`)"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::trace::What;

    #[test]
    fn absent_text_fails_and_present_text_passes() {
        let mut trace = Trace::default();
        trace.push(Duration::from_millis(5), What::Fault("crash n1a".into()));
        assert!(check(&["crash n1a".into()], &trace).is_empty());
        let missing = check(&["crash n1a".into(), "stale request".into()], &trace);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].check, "reaches");
        assert!(missing[0].detail.contains("stale request"));
    }
}
