//! Limits on the numbers a control line may carry, beyond what the line format allows.
//!
//! Authentication keeps strangers off the control ports; these keep an authenticated
//! sender that is confused (a bug, a stale binary, a hand-typed line) from wedging a node
//! with a value no honest sender produces: a `cluster_view` version near 2^64 that makes
//! every later view look old, a join tag that makes every later join look stale, a node id
//! that makes a metadata answer allocate billions of entries, an item no client could have
//! written. Each refusal is an `error` with the reason, and applies nothing.
//!
//! [`check_request`] judges a request alone; [`check_view_step`] judges a version against the one the group
//! holds and [`check_join`] a join tag; both run where the group applies the command, so
//! every member decides the same.

use protocol::ecs::{ClusterView, PutPart, Register, Request};
use thiserror::Error;

/// Most nodes a cluster may have: node ids are below this, and a view lists at most this
/// many. The client protocol's node ids are Int32, and a metadata answer is one array of
/// every node's address (the client decoder's default array limit is 65 536 items).
pub const MAX_NODES: u32 = 65_536;

/// Most a `cluster_view` version may move forward at once. The ECS adds one per group it
/// admits, and a cluster has at most [`MAX_NODES`] groups, so a node that missed every
/// view since its last one is still within this step.
pub const MAX_VIEW_STEP: u64 = MAX_NODES as u64;

/// Join tags are below this. The ECS numbers its joins one at a time from 1, so an honest
/// tag never comes near it, while a tag near 2^64 would make every later join look stale
/// for good. An absolute ceiling, not a step past the group's latest join: a group sees
/// only the joins that name it (a brand-new group holds 0), so after enough joins
/// elsewhere any step bound would refuse the ECS's honest first line to it for ever
/// (found by a hostile review).
pub const MAX_JOIN: u64 = 1 << 62;

/// Most members a group has (groups are of 1, 3 or 5 nodes).
pub const MAX_GROUP_MEMBERS: usize = 5;

/// Most transfers a receiver keeps parts of at once. A newcomer receives one transfer per
/// join, and the next join's tag clears what an abandoned one left.
pub const MAX_OPEN_TRANSFERS: usize = 16;

/// A number out of bounds; the text goes into `error <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BoundsError {
    /// A view lists more nodes than a cluster may have.
    #[error("out of bounds: cluster_view lists {count} nodes; at most {MAX_NODES}")]
    TooManyNodes {
        /// Nodes listed.
        count: usize,
    },
    /// A node id at or past [`MAX_NODES`].
    #[error("out of bounds: node id {id} in cluster_view; ids are below {MAX_NODES}")]
    NodeId {
        /// The id.
        id: u32,
    },
    /// Two nodes of a view share an id.
    #[error("out of bounds: node id {id} listed twice in cluster_view")]
    DuplicateNodeId {
        /// The id.
        id: u32,
    },
    /// A view's version jumps too far ahead.
    #[error(
        "out of bounds: cluster_view version {version} is more than {MAX_VIEW_STEP} past \
         the held version {held}"
    )]
    ViewStep {
        /// The version sent.
        version: u64,
        /// The version held (0 if none).
        held: u64,
    },
    /// A join tag no ECS issues.
    #[error("out of bounds: join {join} is not below {MAX_JOIN}")]
    JoinTag {
        /// The join sent.
        join: u64,
    },
    /// A group with more members than any group has.
    #[error(
        "out of bounds: {command} names {count} members; a group has at most {MAX_GROUP_MEMBERS}"
    )]
    TooManyMembers {
        /// `register` or `group_members`.
        command: &'static str,
        /// Members named.
        count: usize,
    },
    /// A group naming one member twice.
    #[error("out of bounds: {command} names member {admin} twice")]
    DuplicateMember {
        /// `register` or `group_members`.
        command: &'static str,
        /// The admin address repeated.
        admin: String,
    },
    /// An item or session entry larger than a client may write.
    #[error("out of bounds: ecs_put {what} {index} has a {field} of {len} bytes; at most {max}")]
    FieldTooLong {
        /// `item` or `session entry`.
        what: &'static str,
        /// Its index among its kind in the part.
        index: usize,
        /// `key`, `value` or `answer`.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The node's limit.
        max: usize,
    },
    /// A part of one transfer too many.
    #[error(
        "out of bounds: parts of {MAX_OPEN_TRANSFERS} transfers are held already; \
         transfer {transfer_id:016x} is one more"
    )]
    TooManyTransfers {
        /// The new transfer's id.
        transfer_id: u64,
    },
}

/// Checks what a request carries, alone: node ids and counts of a view, members of a
/// group, sizes of an `ecs_put`'s items against `max_field_len` (the longest key or value
/// a client may write to this node).
pub fn check_request(request: &Request, max_field_len: usize) -> Result<(), BoundsError> {
    match request.untagged().1 {
        Request::ClusterView(view) => check_view(view),
        Request::Register(group) => check_group("register", group),
        Request::GroupMembers(group) => check_group("group_members", group),
        Request::EcsPut(part) => check_put(part, max_field_len),
        _ => Ok(()),
    }
}

fn check_view(view: &ClusterView) -> Result<(), BoundsError> {
    if view.nodes.len() > MAX_NODES as usize {
        return Err(BoundsError::TooManyNodes {
            count: view.nodes.len(),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in &view.nodes {
        if n.id >= MAX_NODES {
            return Err(BoundsError::NodeId { id: n.id });
        }
        if !seen.insert(n.id) {
            return Err(BoundsError::DuplicateNodeId { id: n.id });
        }
    }
    Ok(())
}

fn check_group(command: &'static str, group: &Register) -> Result<(), BoundsError> {
    if group.members.len() > MAX_GROUP_MEMBERS {
        return Err(BoundsError::TooManyMembers {
            command,
            count: group.members.len(),
        });
    }
    for (i, m) in group.members.iter().enumerate() {
        if group.members[..i].iter().any(|o| o.admin == m.admin) {
            return Err(BoundsError::DuplicateMember {
                command,
                admin: m.admin.to_string(),
            });
        }
    }
    Ok(())
}

fn check_put(part: &PutPart, max: usize) -> Result<(), BoundsError> {
    let fields = part
        .items
        .iter()
        .enumerate()
        .flat_map(|(i, item)| {
            [
                ("item", i, "key", item.key.len(), max),
                ("item", i, "value", item.value.len(), max),
            ]
        })
        .chain(part.sessions.iter().enumerate().flat_map(|(i, entry)| {
            // An answer is a value plus a few bytes of framing (marker, flags, length).
            [
                ("session entry", i, "key", entry.key.len(), max),
                ("session entry", i, "answer", entry.answer.len(), max + 16),
            ]
        }));
    for (what, index, field, len, max) in fields {
        if len > max {
            return Err(BoundsError::FieldTooLong {
                what,
                index,
                field,
                len,
                max,
            });
        }
    }
    Ok(())
}

/// Checks a `cluster_view` version against the one held (`None`: no view yet, as if 0).
/// An older or equal version passes (it is ignored: views only move forward); a newer
/// one may be at most [`MAX_VIEW_STEP`] ahead.
pub fn check_view_step(held: Option<u64>, version: u64) -> Result<(), BoundsError> {
    let held = held.unwrap_or(0);
    if version.saturating_sub(held) > MAX_VIEW_STEP {
        return Err(BoundsError::ViewStep { version, held });
    }
    Ok(())
}

/// Checks a join tag: below [`MAX_JOIN`] (whether it is stale or current is judged where
/// the group applies it).
pub fn check_join(join: u64) -> Result<(), BoundsError> {
    if join >= MAX_JOIN {
        return Err(BoundsError::JoinTag { join });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
