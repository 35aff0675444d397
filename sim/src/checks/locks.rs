//! Every lock released: for each node, the last lock request it accepted is a
//! `release_lock`.

use std::collections::BTreeMap;

use protocol::ecs::{Reply, Request};

use super::Failure;
use crate::trace::{Message, Trace, What};

/// Checks that no node ends write-locked.
pub fn check(nodes: &[String], trace: &Trace) -> Vec<Failure> {
    // The last lock request each node received, and whether the node then answered ok
    // on that connection; requests and replies alternate on an admin connection, so the
    // next reply a node sends to the same peer answers it.
    let mut pending: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut locked: BTreeMap<String, bool> = BTreeMap::new();
    for e in &trace.events {
        match &e.what {
            What::Recv {
                host,
                from,
                msg: Message::AdminRequest(r),
            } => {
                let lock = match r {
                    Request::WriteLock => Some(true),
                    Request::ReleaseLock => Some(false),
                    _ => None,
                };
                if let Some(lock) = lock {
                    pending.insert((host.to_string(), from.to_string()), lock);
                }
            }
            What::Send {
                from,
                to,
                msg: Message::AdminReply(reply),
            } => {
                if let Some(lock) = pending.remove(&(from.to_string(), to.to_string())) {
                    if *reply == Reply::Ok {
                        locked.insert(from.to_string(), lock);
                    }
                }
            }
            _ => {}
        }
    }
    nodes
        .iter()
        .filter(|n| locked.get(*n).copied().unwrap_or(false))
        .map(|n| {
            Failure::new(
                "locks_released",
                format!("{n} is still write-locked at the end"),
            )
        })
        .collect()
}
