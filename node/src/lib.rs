//! The running parts of the store: the KV node, the ECS, and the client library.
//!
//! - [`io`]: the seams (network, disk, seeded RNG) node code is written against, with
//!   their tokio/std implementations; the `sim` crate supplies turmoil ones.
//! - [`ring`]: MD5 ring positions and ownership arcs.
//! - [`wal`]: a checksummed write-ahead log on a [`io::Disk`].
//! - [`codec`]: the private binary format of what the node stores.
//! - [`group`]: a replica group's state and the one place it changes.
//! - [`raft`]: the sans-I/O Raft consensus core of a replica group.
//! - [`join`]: the join protocol's sans-I/O machines: the ECS's side and the hand-off
//!   sender.
//! - [`lines`]: text-line connections for the ECS protocol.
//! - [`auth`]: the cluster secret and the handshake that opens every control connection.
//! - [`bounds`]: limits on the numbers a peer's control lines may carry.
//! - [`client`]: the client library: routing, redirects, retries with backoff, sessions.
#![warn(missing_docs)]

pub mod admin_link;
pub mod auth;
pub mod bounds;
pub mod cli;
pub mod client;
pub mod codec;
pub mod ecs;
pub mod group;
pub mod io;
pub mod join;
pub mod lines;
pub mod probe_gate;
pub mod raft;
pub mod ring;
pub mod server;
pub mod wal;
