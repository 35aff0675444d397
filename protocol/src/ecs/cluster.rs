//! Who is in the cluster, as the protocol's extensions carry it: the members a group
//! announces in `register` ([`Register`], [`Member`]) and the view of every node the ECS
//! sends in `cluster_view` ([`ClusterView`], [`NodeEntry`]), with the `/`-separated
//! tokens they are written as. Hosts never contain `/`, so the separator is unambiguous.

use std::fmt;

use super::addr::{parse_decimal, HostPort};
use super::error::{snippet, FieldError};

/// The body of `register`: a replica group asking to join the ring.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Register {
    /// The group's ring address: its position on the ring is the MD5 of this address's
    /// `host:port` text, and the seed's messages (`next_addr`, `transfer_range`,
    /// `broadcast_node`) name the group by it.
    pub ring: HostPort,
    /// The group's nodes. May be empty, in which case the ECS reaches the group at its
    /// ring address.
    pub members: Vec<Member>,
}

/// One node of a registering group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    /// Where the ECS sends this node admin (ECS protocol) lines.
    pub admin: HostPort,
    /// Where clients reach this node (client protocol).
    pub client: HostPort,
}

impl Member {
    /// Reads a member token `<admin host:port>/<client host:port>`.
    pub fn from_token(token: &str) -> Result<Member, FieldError> {
        let [admin, client] = fields::<2>(token)?;
        Ok(Member {
            admin: address("admin", admin)?,
            client: address("client", client)?,
        })
    }
}

impl fmt::Display for Member {
    /// Writes the member token, `<admin host:port>/<client host:port>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.admin, self.client)
    }
}

/// The body of `cluster_view`: every node of the cluster and the ring it forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterView {
    /// Grows with every change the ECS makes; a node ignores a view older than the one
    /// it holds.
    pub version: u64,
    /// Every node of the cluster. The nodes of one group share a ring address.
    pub nodes: Vec<NodeEntry>,
}

/// One node in a [`ClusterView`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeEntry {
    /// The node's global id, used by the client protocol: the 0-based index of the node
    /// in the cluster's address list, which only grows. The codec does not check that
    /// ids are unique or in order; that is the receiver's job.
    pub id: u32,
    /// The ring address of the node's group.
    pub ring: HostPort,
    /// Where the ECS sends this node admin lines.
    pub admin: HostPort,
    /// Where clients reach this node.
    pub client: HostPort,
}

impl NodeEntry {
    /// Reads a node token `<id>/<ring host:port>/<admin host:port>/<client host:port>`.
    pub fn from_token(token: &str) -> Result<NodeEntry, FieldError> {
        let [id, ring, admin, client] = fields::<4>(token)?;
        Ok(NodeEntry {
            id: parse_decimal(id).ok_or_else(|| FieldError::BadId { text: snippet(id) })?,
            ring: address("ring", ring)?,
            admin: address("admin", admin)?,
            client: address("client", client)?,
        })
    }
}

impl fmt::Display for NodeEntry {
    /// Writes the node token, `<id>/<ring>/<admin>/<client>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.id, self.ring, self.admin, self.client
        )
    }
}

/// Cuts `token` at `/` into exactly `N` fields.
fn fields<const N: usize>(token: &str) -> Result<[&str; N], FieldError> {
    let mut out = [""; N];
    let mut parts = token.split('/');
    for (found, slot) in out.iter_mut().enumerate() {
        *slot = parts
            .next()
            .ok_or(FieldError::FieldCount { expected: N, found })?;
    }
    let extra = parts.count();
    if extra > 0 {
        return Err(FieldError::FieldCount {
            expected: N,
            found: N + extra,
        });
    }
    Ok(out)
}

fn address(field: &'static str, text: &str) -> Result<HostPort, FieldError> {
    text.parse()
        .map_err(|reason| FieldError::BadAddress { field, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::AddrError;

    #[test]
    fn member_tokens() {
        let m = Member::from_token("a:1/[::1]:2").unwrap();
        assert_eq!(m.admin, HostPort::new("a", 1).unwrap());
        assert_eq!(m.client, HostPort::new("::1", 2).unwrap());
        assert_eq!(m.to_string(), "a:1/[::1]:2");
        assert_eq!(
            Member::from_token("a:1"),
            Err(FieldError::FieldCount {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            Member::from_token("a:1/b:2/c:3/d:4"),
            Err(FieldError::FieldCount {
                expected: 2,
                found: 4
            })
        );
        assert_eq!(
            Member::from_token("a:1/b"),
            Err(FieldError::BadAddress {
                field: "client",
                reason: AddrError::MissingPort
            })
        );
    }

    #[test]
    fn node_tokens() {
        let n = NodeEntry::from_token("7/r:1/a:2/c:3").unwrap();
        assert_eq!(n.id, 7);
        assert_eq!(n.to_string(), "7/r:1/a:2/c:3");
        assert_eq!(
            NodeEntry::from_token("-1/r:1/a:2/c:3"),
            Err(FieldError::BadId { text: "-1".into() })
        );
        assert_eq!(
            NodeEntry::from_token("4294967296/r:1/a:2/c:3"),
            Err(FieldError::BadId {
                text: "4294967296".into()
            })
        );
        assert_eq!(
            NodeEntry::from_token("1/r:1/a:2/"),
            Err(FieldError::BadAddress {
                field: "client",
                reason: AddrError::EmptyHost
            })
        );
    }
}
