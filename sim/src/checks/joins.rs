//! Every join completes: each started node was told a ring that contains it, and the
//! last ring each node heard lists every started node.

use std::collections::BTreeMap;

use protocol::ecs::{ClusterView, Request};

use super::Failure;
use crate::trace::{Message, Trace, What};

/// The last `cluster_view` each host received.
pub fn last_views(trace: &Trace) -> BTreeMap<String, ClusterView> {
    let mut views = BTreeMap::new();
    for e in &trace.events {
        if let What::Recv {
            host,
            msg: Message::AdminRequest(Request::ClusterView(v)),
            ..
        } = &e.what
        {
            views.insert(host.to_string(), v.clone());
        }
    }
    views
}

/// Checks that every started node is admitted and knows every other.
pub fn check(nodes: &[String], trace: &Trace) -> Vec<Failure> {
    let views = last_views(trace);
    let mut out = Vec::new();
    for n in nodes {
        match views.get(n) {
            None => out.push(Failure::new(
                "joins_complete",
                format!("{n} never received a cluster_view: its join did not finish"),
            )),
            Some(v) => {
                let known: Vec<&str> = v.nodes.iter().map(|e| e.admin.host()).collect();
                let missing: Vec<&String> = nodes
                    .iter()
                    .filter(|m| !known.contains(&m.as_str()))
                    .collect();
                if !missing.is_empty() {
                    out.push(Failure::new(
                        "joins_complete",
                        format!(
                            "{n}'s last cluster_view (v{}) lacks {}",
                            v.version,
                            missing
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
    }
    out
}
