//! Every join completes: each started group accepted a `cluster_view`, and the last one it
//! accepted lists every started node. Every removal completes: a group whose
//! `remove_group` the ECS accepted ([`super::removed_groups`]) ends on a view that no
//! longer names it, and every other group's last view lists none of its nodes (and every
//! node of the groups that stay).
//!
//! A group is judged as one unit. The ECS sends a group's `cluster_view` to its members
//! until one answers `ok` (the leader, which puts the view in the group's log, so every
//! member applies it); a follower's `error` does not count. So the view that matters is
//! the newest one any member of the group answered `ok`: an older view answered after a
//! newer one (a held line delivered late) changes nothing at the node, which keeps the
//! newer (`GroupState::apply`), and counted as the last it flagged a group that was fine
//! (explore, seed 1 of review-view-stale-view-lands-after-removal-and-join).

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::client::Packet;
use protocol::ecs::{ClusterView, Request};

use super::{accepted_requests, removed_groups, ring_address, Failure};
use crate::runner::AUDITOR;
use crate::trace::{Message, Trace, What};

/// The newest `cluster_view` each host accepted (answered `ok`).
pub fn last_views(trace: &Trace) -> BTreeMap<String, ClusterView> {
    let mut views: BTreeMap<String, ClusterView> = BTreeMap::new();
    for (host, request) in accepted_requests(trace) {
        if let Request::ClusterView(v) = request {
            let newer = views.get(host).is_none_or(|held| v.version >= held.version);
            if newer {
                views.insert(host.to_string(), v.clone());
            }
        }
    }
    views
}

/// Checks that every started group is admitted and knows every node that stays, and that
/// every group removed is off the ring. `groups` holds each started group's members.
pub fn check(groups: &[Vec<String>], trace: &Trace) -> Vec<Failure> {
    check_views(groups, trace, &last_views(trace))
}

/// [`check`] with `views`, the [`last_views`] of `trace`, already read (the runner's
/// settle test reads them for its own use too).
pub(crate) fn check_views(
    groups: &[Vec<String>],
    trace: &Trace,
    views: &BTreeMap<String, ClusterView>,
) -> Vec<Failure> {
    let removed_rings = removed_groups(trace);
    let removed = |members: &[String]| {
        ring_address(members).is_some_and(|ring| removed_rings.contains(&ring))
    };
    let staying: Vec<&String> = groups.iter().filter(|g| !removed(g)).flatten().collect();
    let gone: Vec<&String> = groups.iter().filter(|g| removed(g)).flatten().collect();
    let mut out = Vec::new();
    for members in groups {
        let name = group_name(members);
        // The latest view by version that any member accepted.
        let view = members
            .iter()
            .filter_map(|m| views.get(m))
            .max_by_key(|v| v.version);
        let Some(v) = view else {
            out.push(Failure::new(
                "joins_complete",
                format!("{name} never accepted a cluster_view: its join did not finish"),
            ));
            continue;
        };
        let known: Vec<&str> = v.nodes.iter().map(|e| e.admin.host()).collect();
        if removed(members) {
            // It leaves with the ring it was given last; later views are not its business.
            if members.iter().any(|m| known.contains(&m.as_str())) {
                out.push(Failure::new(
                    "joins_complete",
                    format!(
                        "the ECS accepted the removal of {name}, but its last cluster_view \
                         (v{}) still names it: the removal did not finish",
                        v.version
                    ),
                ));
            }
            continue;
        }
        let missing: Vec<&str> = staying
            .iter()
            .filter(|m| !known.contains(&m.as_str()))
            .map(|m| m.as_str())
            .collect();
        if !missing.is_empty() {
            out.push(Failure::new(
                "joins_complete",
                format!(
                    "{name}'s last cluster_view (v{}) lacks {}",
                    v.version,
                    missing.join(", ")
                ),
            ));
        }
        let stale: Vec<&str> = gone
            .iter()
            .filter(|m| known.contains(&m.as_str()))
            .map(|m| m.as_str())
            .collect();
        if !stale.is_empty() {
            out.push(Failure::new(
                "joins_complete",
                format!(
                    "{name}'s last cluster_view (v{}) still lists {}, whose group was removed",
                    v.version,
                    stale.join(", ")
                ),
            ));
        }
    }
    out.extend(audit(views, trace));
    out
}

/// Each member's last answer to the audit: the version of the view it held.
fn audit_answers(trace: &Trace) -> BTreeMap<&str, u64> {
    let mut answers = BTreeMap::new();
    for e in &trace.events {
        if let What::Recv {
            host,
            from,
            msg: Message::Client(Packet::GroupInfoResponse(info)),
        } = &e.what
        {
            if &**host == AUDITOR {
                answers.insert(&**from, info.view_version);
            }
        }
    }
    answers
}

/// The members of `asked` (node names) that never answered the audit, though it asked
/// them every half second until the recovery deadline: a member that is up but serves no
/// client (its port or its replica stuck) shows nowhere else, since the workload and the
/// verifier only need each group's leader.
pub(crate) fn silent_in_audit(
    asked: &[String],
    trace: &Trace,
    asked_for: Duration,
) -> Vec<Failure> {
    let answers = audit_answers(trace);
    asked
        .iter()
        .filter(|node| !answers.contains_key(node.as_str()))
        .map(|node| {
            Failure::new(
                "joins_complete",
                format!(
                    "{node} never answered the view audit (asked which view it holds for \
                     {asked_for:?}, while up and in a group that stays)"
                ),
            )
        })
        .collect()
}

/// `n2` for a group of one, `group n2a..n2c` for more.
pub(crate) fn group_name(members: &[String]) -> String {
    match members {
        [only] => only.clone(),
        [first, .., last] => format!("group {first}..{last}"),
        [] => "an empty group".to_string(),
    }
}

/// The audit at the end (`runner::hosts::add_auditor`): every member of a group that
/// stays, asked on its own which view it holds, last answered the newest view any group
/// accepted. A member that applied an older view after a newer one (a held line
/// delivered late) holds the older one still, though every `ok` on the wire looks the
/// same. A member that never answered is judged by [`silent_in_audit`].
fn audit(views: &BTreeMap<String, ClusterView>, trace: &Trace) -> Vec<Failure> {
    let Some(settled) = views.values().map(|v| v.version).max() else {
        return Vec::new();
    };
    let answers = audit_answers(trace);
    answers
        .into_iter()
        .filter(|&(_, version)| version != settled)
        .map(|(node, version)| {
            Failure::new(
                "joins_complete",
                format!(
                    "{node} holds view v{version} at the end (asked on its own), though the \
                     cluster settled on v{settled}"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use protocol::client::{GroupInfo, Packet};

    use super::silent_in_audit;
    use crate::runner::AUDITOR;
    use crate::trace::{Message, Trace, What};

    fn answer(t: &mut Trace, ms: u64, from: &str) {
        let info = GroupInfo {
            ring: "n1a:7002".into(),
            on_ring: true,
            leader_id: 0,
            term: 1,
            locked: false,
            handing_off_to: String::new(),
            view_version: 1,
            nodes: Vec::new(),
        };
        let what = What::Recv {
            host: AUDITOR.into(),
            from: from.into(),
            msg: Message::Client(Packet::GroupInfoResponse(info)),
        };
        t.push(Duration::from_millis(ms), what);
    }

    #[test]
    fn a_member_that_never_answered_the_audit_is_named() {
        let asked = ["n1a", "n1b", "n1c"].map(String::from);
        let mut t = Trace::default();
        answer(&mut t, 100, "n1a");
        answer(&mut t, 600, "n1c");
        let failures = silent_in_audit(&asked, &t, Duration::from_secs(30));
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].detail.starts_with("n1b never answered"),
            "{}",
            failures[0]
        );
        answer(&mut t, 1100, "n1b");
        assert_eq!(silent_in_audit(&asked, &t, Duration::from_secs(30)), vec![]);
    }
}
