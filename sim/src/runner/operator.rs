//! The `remove` action: an operator at a host of its own (`operator<k>`, a new one per
//! event) asks the ECS to take a group off the ring, as `kv remove` does: one
//! `remove_group <ring address>` line over an authenticated control connection
//! ([`AdminLink`] with the run's cluster secret, proving it to the ECS's port), so the
//! trace shows the request and the ECS's answer like any other line.
//!
//! A real operator whose ECS is down or unreachable tries again; one that is told no
//! (`error ...`: the group is not on the ring, or is the last one) stops, and the refusal
//! stands in the trace for the checks to read (an unaccepted removal is not expected).

use std::time::Duration;

use node::admin_link::AdminLink;
use node::io::Rng;
use protocol::ecs::{Reply, Request, DEFAULT_MAX_LINE_LEN};

use super::{fault, hosts, seeds, World};
use crate::runtime::{SimNet, ADMIN_PORT, ECS_PORT};

/// Carries out one `remove` event: starts host `operator<k>`, which sends
/// `remove_group` for group `group` (1-based) until the ECS answers.
pub(super) fn start(sim: &mut turmoil::Sim<'_>, world: &mut World, group: u32, now: Duration) {
    let Some(members) = world.group(group) else {
        fault(
            &world.trace,
            now,
            format!("remove group {group}: it has not started"),
        );
        return;
    };
    world.operators += 1;
    let name = format!("operator{}", world.operators);
    let ring = hosts::host_port(&members[0], ADMIN_PORT);
    fault(
        &world.trace,
        now,
        format!("{name} asks the ECS to remove group {group} (ring address {ring})"),
    );
    let net = SimNet::new(&name, world.trace.clone());
    let timing = hosts::timing(world);
    // Its own stream of handshake nonces, like every other host's RNG.
    let nonces = Rng::from_seed(seeds::derive(world.seed, &name, 1));
    let secret = hosts::cluster_secret(world.seed);
    let ecs = format!("ecs:{ECS_PORT}");
    sim.client(name.as_str(), async move {
        let mut link =
            AdminLink::new(net, timing, DEFAULT_MAX_LINE_LEN, Some(secret), nonces).with_ecs(&ecs);
        let request = Request::RemoveGroup(ring);
        loop {
            match link.send(&ecs, &request).await {
                // `ok` (queued) or a refusal: either way the ECS has answered.
                Ok(Reply::Ok | Reply::Error(_)) => break,
                Ok(_) | Err(_) => tokio::time::sleep(timing.retry_pause).await,
            }
        }
        Ok(())
    });
}
