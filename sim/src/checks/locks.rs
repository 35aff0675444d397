//! Every lock released: for each group, the last lock request one of its members accepted
//! is a `release_lock`.
//!
//! The write lock is the group's (a command in its log), so a group is judged as one
//! unit: whichever member led when the ECS sent `write_lock` or `release_lock`, the one
//! that answered `ok` changed the group's lock. A follower's `error` changes nothing.

use std::collections::BTreeMap;

use protocol::ecs::{Reply, Request};

use super::joins::group_name;
use super::Failure;
use crate::trace::{Message, Trace, What};

/// Checks that no group ends write-locked. `groups` holds each started group's members.
pub fn check(groups: &[Vec<String>], trace: &Trace) -> Vec<Failure> {
    let group_of: BTreeMap<&str, usize> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, members)| members.iter().map(move |m| (m.as_str(), g)))
        .collect();
    // The last lock request each node received, and whether the node then answered ok
    // on that connection; requests and replies alternate on an admin connection, so the
    // next reply a node sends to the same peer answers it.
    let mut pending: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut locked: BTreeMap<usize, bool> = BTreeMap::new();
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
                    if let (Reply::Ok, Some(&g)) = (reply, group_of.get(&**from)) {
                        locked.insert(g, lock);
                    }
                }
            }
            _ => {}
        }
    }
    groups
        .iter()
        .enumerate()
        .filter(|(g, _)| locked.get(g).copied().unwrap_or(false))
        .map(|(_, members)| {
            Failure::new(
                "locks_released",
                format!("{} is still write-locked at the end", group_name(members)),
            )
        })
        .collect()
}
