//! Tests of the ECS text protocol (`protocol::ecs`): hand-written golden lines for every
//! message, tolerance of hand-typed input, typed errors, property round trips, the
//! splitter's guarantee, and a no-panic run over a megabyte of pseudo-random input.

#[path = "ecs/errors.rs"]
mod errors;
#[path = "ecs/fuzz.rs"]
mod fuzz;
#[path = "ecs/golden.rs"]
mod golden;
#[path = "ecs/props.rs"]
mod props;
#[path = "ecs/split.rs"]
mod split;

use protocol::ecs::HostPort;

/// A `HostPort` for tests; the host must be valid.
pub fn hp(host: &str, port: u16) -> HostPort {
    HostPort::new(host, port).expect("test host is valid")
}
