//! The join protocol as sans-I/O state machines, driven by thin async shells the way
//! [`crate::raft`] is.
//!
//! A join admits one new group to the ring: the ECS tells the newcomer its successor,
//! write-locks the predecessor, tells it the newcomer, asks it to transfer the range,
//! waits for its `done`, announces the new ring and releases the lock. Two machines own
//! its decisions; neither touches a socket, a file or a clock:
//!
//! - [`coordinator`]: the ECS side ([`Coordinator`]), driven by `ecs::driver` (the steps)
//!   and `ecs::service` (`register`, `done`, `abort_join`);
//! - [`sender`]: the predecessor's hand-off ([`HandOff`]), driven by `server::transfer`.
//!
//! Files: `step.rs` (the steps and the recorded join), `plan.rs` (what each step sends and
//! what follows it), `coordinator.rs`, `sender.rs`, `parts.rs` (cutting a range into
//! `ecs_put` parts), `tests/` (exhaustive exploration of both machines without I/O).
//!
//! Every control line of a join carries its number (`join=<n>`), so a line delayed or
//! resent from an older join cannot act on a later one.

pub mod coordinator;
pub mod parts;
mod plan;
pub mod sender;
pub mod step;

#[cfg(test)]
mod tests;

pub use coordinator::Coordinator;
pub use sender::HandOff;
pub use step::{Join, JoinStep};
