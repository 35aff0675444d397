//! turmoil implementations of node's seams: [`SimNet`] (with every stream traced) and
//! [`SimDisk`] (turmoil's simulated file system, where a crash loses unsynced data), and
//! [`FaultyDisk`] (that disk with injected storage faults).

mod disk;
mod faulty_disk;
mod net;

pub use disk::{SimDisk, SimLog};
pub use faulty_disk::{DiskFaults, FaultyDisk, FaultyLog, Injected};
pub use net::{SimListener, SimNet};

/// The ECS's admin port on its host.
pub const ECS_PORT: u16 = 7000;
/// A node's client port.
pub const CLIENT_PORT: u16 = 7001;
/// A node's admin port.
pub const ADMIN_PORT: u16 = 7002;
/// A node's peer (Raft) port, in groups of more than one.
pub const PEER_PORT: u16 = 7003;
