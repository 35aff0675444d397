//! The view audit at the end of a run waits for a lagging member up to the recovery
//! deadline. The fixture is a case where one does lag: groups of five on 650 ms syncs,
//! past the 500 ms election timeout, with the nodes' stretching of their
//! timeouts on slow disks switched off (`stretch_election_on_slow_disk = false`; with it
//! on, every group has settled long before the audit), where a member of the newest
//! group learns the final view seconds after the audit began. It lives here rather than
//! under `scenarios/` because `sim explore` would fail that configuration (a group may
//! never elect a leader again), which says nothing about the node.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::client::Packet;
use sim::trace::{Message, Trace, What};

const FIXTURE: &str = "tests/view_audit/member-lags-past-five-seconds-on-650ms-syncs.toml";

/// The host that asks every member which view it holds (the runner's auditor).
const AUDITOR: &str = "audit";

/// When the audit began (its first ask), and the first time each member answered it
/// with `view`.
fn audit_answers(trace: &Trace, view: u64) -> (Option<Duration>, BTreeMap<&str, Duration>) {
    let mut began = None;
    let mut first = BTreeMap::new();
    for e in &trace.events {
        let What::Send { from, to, msg } = &e.what else {
            continue;
        };
        if &**from == AUDITOR {
            began.get_or_insert(e.at);
        }
        if let Message::Client(Packet::GroupInfoResponse(info)) = msg {
            if &**to == AUDITOR && info.view_version == view {
                first.entry(&**from).or_insert(e.at);
            }
        }
    }
    (began, first)
}

#[test]
fn the_audit_waits_for_a_member_that_learns_the_final_view_late() {
    let report = common::run_fixture_passing(FIXTURE);
    let (began, first) = audit_answers(&report.trace, 8);
    let began = began.expect("the audit never began");
    let (laggard, last) = first
        .iter()
        .max_by_key(|(_, at)| **at)
        .expect("no member answered the audit with view 8");
    // The window: a member answered with the final view more than 5 s into the audit
    // (an audit of a fixed 5 s, as before a0d885b, failed such a member).
    assert!(
        *last - began > Duration::from_secs(5),
        "no member lagged 5 s at the audit (latest: {laggard} at {last:?}, audit from \
         {began:?}): the fixture no longer reaches its window; pick another seed"
    );
}
