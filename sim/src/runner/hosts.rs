//! Host factories: the ECS, nodes, workload clients and the verifier, each built from the
//! scenario and a seed derived from (run seed, host name, boot count).

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use node::admin_link::LinkTiming;
use node::ecs::EcsConfig;
use node::io::Rng;
use node::server::NodeConfig;
use protocol::ecs::HostPort;

use super::{seeds, World};
use crate::runtime::{SimDisk, SimNet, ADMIN_PORT, CLIENT_PORT, ECS_PORT};
use crate::workload;

fn timing() -> LinkTiming {
    LinkTiming {
        attempt_timeout: Duration::from_secs(1),
        retry_pause: Duration::from_millis(100),
    }
}

fn host_port(host: &str, port: u16) -> HostPort {
    HostPort::new(host, port).expect("harness host names are valid")
}

/// The ECS host.
pub(crate) fn add_ecs(sim: &mut turmoil::Sim<'_>, world: &World) {
    let trace = world.trace.clone();
    sim.host("ecs", move || {
        let net = SimNet::new("ecs", trace.clone());
        let mut config = EcsConfig::new(format!("0.0.0.0:{ECS_PORT}"), PathBuf::from("/data/ecs"));
        config.timing = timing();
        config.transfer_timeout = Duration::from_secs(10);
        async move {
            node::ecs::run(net, SimDisk, config).await?;
            Ok(())
        }
    });
}

/// Starts the next group's node; returns its name.
pub(crate) fn add_node(sim: &mut turmoil::Sim<'_>, world: &mut World) -> String {
    let name = format!("n{}", world.nodes.len() + 1);
    world.nodes.push(name.clone());
    let trace = world.trace.clone();
    let part_size = world.part_size.clone();
    let seed = world.seed;
    let boots = Rc::new(Cell::new(0u64));
    let host = name.clone();
    sim.host(name.as_str(), move || {
        boots.set(boots.get() + 1);
        let rng = Rng::from_seed(seeds::derive(seed, &host, boots.get()));
        let net = SimNet::new(&host, trace.clone());
        let mut config = NodeConfig::new(
            host_port(&host, ADMIN_PORT),
            host_port(&host, CLIENT_PORT),
            format!("ecs:{ECS_PORT}"),
            PathBuf::from("/data/node"),
        );
        config.admin_bind = format!("0.0.0.0:{ADMIN_PORT}");
        config.client_bind = format!("0.0.0.0:{CLIENT_PORT}");
        config.part_size_bytes = part_size.clone();
        config.timing = timing();
        async move {
            node::server::run(net, SimDisk, rng, config).await?;
            Ok(())
        }
    });
    name
}

/// Client addresses of the nodes that exist now.
fn seeds_now(world: &World) -> Vec<String> {
    world
        .nodes
        .iter()
        .map(|n| format!("{n}:{CLIENT_PORT}"))
        .collect()
}

/// Workload client `c<i>`.
pub(crate) fn add_client(sim: &mut turmoil::Sim<'_>, world: &World, i: u32) {
    let name = format!("c{i}");
    let net = SimNet::new(&name, world.trace.clone());
    let rng = Rng::from_seed(seeds::derive(world.seed, &name, 1));
    let fut = workload::run_client(
        world.scenario.clone(),
        i,
        net,
        seeds_now(world),
        rng,
        world.history.clone(),
    );
    sim.client(name.as_str(), async move {
        fut.await;
        Ok(())
    });
}

/// The verifier: reads every workload key after the run.
pub(crate) fn add_verifier(sim: &mut turmoil::Sim<'_>, world: &World) {
    let w = &world.scenario.workload;
    let keys: Vec<String> = (1..=w.clients)
        .flat_map(|i| workload::keys_of(i, w.keys))
        .collect();
    let net = SimNet::new("verify", world.trace.clone());
    let rng = Rng::from_seed(seeds::derive(world.seed, "verify", 1));
    let deadline = world.scenario.checks.recovery_deadline;
    let client = workload::sim_client(net, seeds_now(world), deadline, rng);
    let done = world.verifier_done.clone();
    let fut = workload::run_verifier(keys, client, world.history.clone(), deadline);
    sim.client("verify", async move {
        fut.await;
        done.set(true);
        Ok(())
    });
}
