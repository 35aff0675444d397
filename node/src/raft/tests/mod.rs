//! Behaviour tests of the Raft core, on an in-memory cluster.
//!
//! The harness is `harness.rs` (cluster, network, faults) and `host.rs` (carrying out
//! `Ready`s into the node's own `RaftStore` on an in-memory disk and into the
//! application, and checking the safety invariants on every step). The tests, one file
//! per area: elections (`election.rs`), replication and log repair (`replication.rs`),
//! flow control of replication (`flow.rs`), ReadIndex (`reads.rs`), compaction and
//! snapshot transfer (`snapshot.rs`), crash and recovery (`restart.rs`), what leaves before a sync (`before_the_sync.rs`), members on replaced disks (`replaced.rs`), and the property
//! test over random schedules of partitions, losses, delays and crashes (`random.rs`).

mod harness;
mod host;

mod before_the_sync;
mod election;
mod flow;
mod random;
mod reads;
mod replaced;
mod replication;
mod restart;
mod snapshot;
