//! The trace's fault lines read back as spans on host lanes: when a host was not started
//! yet, down, cut off by a partition, or had a link held.
//!
//! The runner records faults as sentences (`crash n1a (leader of group 1 in term 2, power
//! loss)`, `partition [n1a] | [n1b n1c]`, `hold ecs <-> n2`, ...; see `runner::faults`).
//! The report reads those sentences rather than asking the runner for more, so the trace
//! (and every snapshot) stays exactly what it was; a sentence this module does not know
//! still shows as a mark on the lane of the first host it names.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::trace::{Trace, What};

/// What a span on a host lane means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    /// The host had not been started yet (a node that joins later).
    Absent,
    /// The host was down: crashed, stopped, or refusing to start.
    Down,
    /// Some of the host's links were cut (a partition, one way or both, or an isolation).
    Cut,
    /// Some of the host's links were held (messages delayed until released).
    Held,
}

/// A stretch of time on one host's lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The host.
    pub host: String,
    /// What it means.
    pub kind: SpanKind,
    /// When it began.
    pub from: Duration,
    /// When it ended (the end of the run if nothing ended it).
    pub to: Duration,
    /// The fault line that began it.
    pub text: String,
}

/// One fault line at one instant, on the lane of the host it names first (`None`: it
/// names no host, such as `heal all`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mark {
    /// When.
    pub at: Duration,
    /// The host it is drawn on.
    pub host: Option<String>,
    /// The fault line.
    pub text: String,
}

/// Which links of each host are cut (or held) now, and since when the host has had any.
#[derive(Default)]
struct Links {
    /// host -> the other ends of its affected links.
    ends: BTreeMap<String, BTreeSet<String>>,
    /// host -> (since, the line that began it), while it has any.
    open: BTreeMap<String, (Duration, String)>,
}

impl Links {
    fn add(&mut self, a: &str, b: &str, at: Duration, text: &str) {
        for (x, y) in [(a, b), (b, a)] {
            let ends = self.ends.entry(x.to_string()).or_default();
            if ends.is_empty() {
                self.open
                    .entry(x.to_string())
                    .or_insert((at, text.to_string()));
            }
            ends.insert(y.to_string());
        }
    }

    fn remove(&mut self, a: &str, b: &str, at: Duration, kind: SpanKind, out: &mut Vec<Span>) {
        for (x, y) in [(a, b), (b, a)] {
            let Some(ends) = self.ends.get_mut(x) else {
                continue;
            };
            ends.remove(y);
            if ends.is_empty() {
                self.ends.remove(x);
                if let Some((from, text)) = self.open.remove(x) {
                    out.push(span(x, kind, from, at, text));
                }
            }
        }
    }

    fn clear(&mut self, at: Duration, kind: SpanKind, out: &mut Vec<Span>) {
        self.ends.clear();
        for (host, (from, text)) in std::mem::take(&mut self.open) {
            out.push(span(&host, kind, from, at, text));
        }
    }
}

fn span(host: &str, kind: SpanKind, from: Duration, to: Duration, text: String) -> Span {
    Span {
        host: host.to_string(),
        kind,
        from,
        to,
        text,
    }
}

/// The host lists of a line: the words inside each `[...]`, in order.
fn bracketed(text: &str) -> Vec<Vec<&str>> {
    let mut lists = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(len) = rest[open..].find(']') else {
            break;
        };
        lists.push(rest[open + 1..open + len].split_whitespace().collect());
        rest = &rest[open + len + 1..];
    }
    lists
}

/// The first word of `text` (up to a space, `:` or `(`).
fn first_word(text: &str) -> &str {
    text.split([' ', ':', '(']).next().unwrap_or("")
}

/// The host names after the `:` of `crash group 1: n1a n1b (power loss)` or
/// `restart group 1: n1a`, up to a `(`.
fn after_colon(text: &str) -> Vec<&str> {
    let Some((_, rest)) = text.split_once(": ") else {
        return Vec::new();
    };
    let rest = rest.split('(').next().unwrap_or("");
    rest.split_whitespace().collect()
}

/// The pairs of `a<->b c<->d`, after the `: ` of a `hold group` line.
fn arrow_pairs(text: &str) -> Vec<(&str, &str)> {
    let Some((_, rest)) = text.split_once(": ") else {
        return Vec::new();
    };
    rest.split_whitespace()
        .filter_map(|w| w.split_once("<->"))
        .collect()
}

/// Reads the fault lines of `trace` into spans and marks. `hosts` are the report's lanes
/// (a line naming a host that is not one is drawn on no lane); `end` closes what is still
/// open when the run ends.
pub fn read(trace: &Trace, hosts: &[String], end: Duration) -> (Vec<Span>, Vec<Mark>) {
    let is_host = |h: &str| hosts.iter().any(|x| x == h);
    let mut spans = Vec::new();
    let mut marks = Vec::new();
    let mut down: BTreeMap<String, (Duration, String)> = BTreeMap::new();
    let mut cut = Links::default();
    let mut held = Links::default();
    // Hosts that stay down through `faults end` (said in the lines just before it).
    let mut stays: BTreeSet<String> = BTreeSet::new();
    let go_down = |down: &mut BTreeMap<String, (Duration, String)>, h: &str, at, text: &str| {
        if is_host(h) {
            down.entry(h.to_string()).or_insert((at, text.to_string()));
        }
    };
    let come_up =
        |down: &mut BTreeMap<String, (Duration, String)>, h: &str, at, spans: &mut Vec<Span>| {
            if let Some((from, text)) = down.remove(h) {
                spans.push(span(h, SpanKind::Down, from, at, text));
            }
        };
    for e in &trace.events {
        let What::Fault(text) = &e.what else {
            continue;
        };
        let at = e.at;
        let t = text.as_str();
        let host = t
            .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | ':' | '(' | ')'))
            .find(|w| is_host(w) || w.split_once("<->").is_some_and(|(a, _)| is_host(a)))
            .map(|w| w.split("<->").next().unwrap_or(w).to_string());
        marks.push(Mark {
            at,
            host,
            text: text.clone(),
        });
        if let Some(rest) = t.strip_prefix("start ") {
            // `start n2 (joins)` or `start group 2: n2a n2b n2c (joins)`.
            let started = if rest.starts_with("group ") {
                after_colon(t)
            } else {
                vec![first_word(rest)]
            };
            for h in started.into_iter().filter(|h| is_host(h)) {
                spans.push(span(h, SpanKind::Absent, Duration::ZERO, at, text.clone()));
            }
        } else if t.starts_with("crash group ") {
            for h in after_colon(t) {
                go_down(&mut down, h, at, t);
            }
        } else if let Some(rest) = t.strip_prefix("crash ") {
            go_down(&mut down, first_word(rest), at, t);
        } else if t.starts_with("restart group ") {
            for h in after_colon(t) {
                come_up(&mut down, h, at, &mut spans);
            }
        } else if let Some(rest) = t.strip_prefix("restart ") {
            come_up(&mut down, first_word(rest), at, &mut spans);
        } else if t.starts_with("faults end") {
            let hosts_down: Vec<String> = down.keys().cloned().collect();
            for h in hosts_down.iter().filter(|h| !stays.contains(*h)) {
                come_up(&mut down, h, at, &mut spans);
            }
            cut.clear(at, SpanKind::Cut, &mut spans);
            held.clear(at, SpanKind::Held, &mut spans);
        } else if t.starts_with("heal all") {
            cut.clear(at, SpanKind::Cut, &mut spans);
            held.clear(at, SpanKind::Held, &mut spans);
        } else if t.starts_with("partition ") || t.starts_with("heal ") {
            let lists = bracketed(t);
            if let [a, b, ..] = lists.as_slice() {
                for x in a {
                    for y in b {
                        if t.starts_with("heal ") {
                            cut.remove(x, y, at, SpanKind::Cut, &mut spans);
                        } else {
                            cut.add(x, y, at, t);
                        }
                    }
                }
            }
        } else if let Some(rest) = t.strip_prefix("isolate ") {
            let node = first_word(rest);
            let others: Vec<&str> = match bracketed(t).last() {
                Some(list) if t.contains("] only") => list.clone(),
                _ => hosts.iter().map(String::as_str).collect(),
            };
            for other in others.into_iter().filter(|o| *o != node) {
                cut.add(node, other, at, t);
            }
        } else if t.starts_with("hold group ") {
            for (a, b) in arrow_pairs(t) {
                held.add(a, b, at, t);
            }
        } else if let Some(rest) = t.strip_prefix("hold ") {
            if let Some((a, b)) = rest.split_once(" <-> ") {
                held.add(a, first_word(b), at, t);
            }
        } else if let Some(rest) = t.strip_prefix("release ") {
            if let Some((a, b)) = rest.split_once(" <-> ") {
                held.remove(a, first_word(b), at, SpanKind::Held, &mut spans);
            }
        } else if t.starts_with("pause ecs") || t.starts_with("resume ecs") {
            for other in hosts.iter().filter(|h| *h != "ecs") {
                if t.starts_with("pause") {
                    held.add("ecs", other, at, t);
                } else {
                    held.remove("ecs", other, at, SpanKind::Held, &mut spans);
                }
            }
        } else {
            let who = first_word(t);
            if t.contains(" stays down") {
                stays.insert(who.to_string());
            } else if t.starts_with(&format!("{who} stops:"))
                || t.starts_with(&format!("{who} refuses to start"))
                || t.starts_with(&format!("{who} loses power"))
            {
                go_down(&mut down, who, at, t);
            }
        }
        if !t.contains(" stays down") && !t.starts_with("faults end") {
            // `stays down` lines come right before their `faults end`, at the same time.
            stays.clear();
        }
    }
    for (h, (from, text)) in down {
        spans.push(span(&h, SpanKind::Down, from, end, text));
    }
    cut.clear(end, SpanKind::Cut, &mut spans);
    held.clear(end, SpanKind::Held, &mut spans);
    spans.sort_by(|a, b| (a.from, &a.host, a.kind as u8).cmp(&(b.from, &b.host, b.kind as u8)));
    (spans, marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(lines: &[(u64, &str)]) -> Trace {
        let mut t = Trace::default();
        for (ms, text) in lines {
            t.push(Duration::from_millis(*ms), What::Fault(text.to_string()));
        }
        t
    }

    fn hosts() -> Vec<String> {
        ["ecs", "n1a", "n1b", "n1c", "n2a", "n2b", "n2c", "c1"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn find(spans: &[Span], host: &str, kind: SpanKind) -> Vec<(u64, u64)> {
        spans
            .iter()
            .filter(|s| s.host == host && s.kind == kind)
            .map(|s| (s.from.as_millis() as u64, s.to.as_millis() as u64))
            .collect()
    }

    #[test]
    fn crashes_restarts_and_joins_become_spans() {
        let t = trace(&[
            (1000, "start group 2: n2a n2b n2c (joins)"),
            (2000, "crash n1a (leader of group 1 in term 2, power loss)"),
            (3000, "restart n1a"),
            (4000, "crash group 2: n2a n2b n2c (power loss)"),
            (5000, "restart group 2: n2a n2b"),
            (6000, "n1b stops: injected EIO"),
            (7000, "crash ecs (power loss)"),
            (7500, "restart ecs"),
            (
                8000,
                "n2c stays down: it refused to start on corrupted storage",
            ),
            (8000, "faults end: every link healed, every host up"),
        ]);
        let (spans, marks) = read(&t, &hosts(), Duration::from_secs(10));
        assert_eq!(find(&spans, "n2b", SpanKind::Absent), [(0, 1000)]);
        assert_eq!(find(&spans, "n1a", SpanKind::Down), [(2000, 3000)]);
        assert_eq!(find(&spans, "n2a", SpanKind::Down), [(4000, 5000)]);
        assert_eq!(find(&spans, "n1b", SpanKind::Down), [(6000, 8000)]);
        assert_eq!(find(&spans, "ecs", SpanKind::Down), [(7000, 7500)]);
        assert_eq!(find(&spans, "n2c", SpanKind::Down), [(4000, 10000)]);
        assert_eq!(marks.len(), 10);
        assert_eq!(marks[1].host.as_deref(), Some("n1a"));
        assert_eq!(marks[9].host, None);
    }

    #[test]
    fn partitions_isolations_and_holds_become_spans() {
        let t = trace(&[
            (1000, "partition [n1a] | [n1b n1c]"),
            (2000, "heal [n1a] | [n1b]"),
            (3000, "heal [n1a] | [n1c]"),
            (
                4000,
                "isolate n2a (leader of group 2 in term 1) from [n2b n2c] only for 1s",
            ),
            (5000, "heal [n2a] | [n2b n2c]"),
            (5000, "hold ecs <-> n1a for 2s"),
            (6000, "hold group 2's ecs links for 1s: ecs<->n2a ecs<->n2b"),
            (7000, "release ecs <-> n1a"),
            (7000, "release ecs <-> n2a"),
            (7000, "release ecs <-> n2b"),
            (8000, "partition one way [c1] -> [n1a] (lost)"),
            (9000, "heal all: every link repaired, every hold released"),
        ]);
        let (spans, _) = read(&t, &hosts(), Duration::from_secs(10));
        assert_eq!(
            find(&spans, "n1a", SpanKind::Cut),
            [(1000, 3000), (8000, 9000)]
        );
        assert_eq!(find(&spans, "n1b", SpanKind::Cut), [(1000, 2000)]);
        assert_eq!(find(&spans, "n2a", SpanKind::Cut), [(4000, 5000)]);
        assert_eq!(find(&spans, "ecs", SpanKind::Held), [(5000, 7000)]);
        assert_eq!(find(&spans, "n2b", SpanKind::Held), [(6000, 7000)]);
        assert_eq!(find(&spans, "c1", SpanKind::Cut), [(8000, 9000)]);
    }
}
