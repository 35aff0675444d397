//! Every join completes: each started group accepted a `cluster_view`, and the last one it
//! accepted lists every started node.
//!
//! A group is judged as one unit. The ECS sends a group's `cluster_view` to its members
//! until one answers `ok` (the leader, which puts the view in the group's log, so every
//! member applies it); a follower's `error` does not count. So the view that matters is
//! the last one any member of the group answered `ok`.

use std::collections::BTreeMap;

use protocol::ecs::{ClusterView, Request};

use super::{accepted_requests, Failure};
use crate::trace::Trace;

/// The last `cluster_view` each host accepted (answered `ok`).
pub fn last_views(trace: &Trace) -> BTreeMap<String, ClusterView> {
    let mut views = BTreeMap::new();
    for (host, request) in accepted_requests(trace) {
        if let Request::ClusterView(v) = request {
            views.insert(host.to_string(), v.clone());
        }
    }
    views
}

/// Checks that every started group is admitted and knows every started node.
/// `groups` holds each started group's members.
pub fn check(groups: &[Vec<String>], trace: &Trace) -> Vec<Failure> {
    let views = last_views(trace);
    let nodes: Vec<&String> = groups.iter().flatten().collect();
    let mut out = Vec::new();
    for members in groups {
        let name = group_name(members);
        // The latest view by version that any member accepted.
        let view = members
            .iter()
            .filter_map(|m| views.get(m))
            .max_by_key(|v| v.version);
        match view {
            None => out.push(Failure::new(
                "joins_complete",
                format!("{name} never accepted a cluster_view: its join did not finish"),
            )),
            Some(v) => {
                let known: Vec<&str> = v.nodes.iter().map(|e| e.admin.host()).collect();
                let missing: Vec<&str> = nodes
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
            }
        }
    }
    out
}

/// `n2` for a group of one, `group n2a..n2c` for more.
pub(crate) fn group_name(members: &[String]) -> String {
    match members {
        [only] => only.clone(),
        [first, .., last] => format!("group {first}..{last}"),
        [] => "an empty group".to_string(),
    }
}
