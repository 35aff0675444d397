//! Host factories: the ECS, nodes, workload clients and the verifier, each built from the
//! scenario and a seed derived from (run seed, host name, boot count).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use node::admin_link::LinkTiming;
use node::auth::{Secret, SECRET_LEN};
use node::ecs::EcsConfig;
use node::group::GroupSpec;
use node::io::Rng;
use node::server::NodeConfig;
use protocol::ecs::{HostPort, Member};
use protocol::peer::PeerId;

use super::storage_faults::NodeExit;
use super::{seeds, World};
use crate::runtime::{FaultyDisk, SimDisk, SimNet, ADMIN_PORT, CLIENT_PORT, ECS_PORT, PEER_PORT};
use crate::scenario::names::group_members;
use crate::workload;

/// How the run's hosts wait and retry on control connections (the scenario's knobs).
pub(super) fn timing(world: &World) -> LinkTiming {
    let n = &world.scenario.node;
    LinkTiming {
        attempt_timeout: n.attempt_timeout,
        retry_pause: n.retry_pause,
    }
}

/// `host:port` as a protocol address.
pub(super) fn host_port(host: &str, port: u16) -> HostPort {
    HostPort::new(host, port).expect("harness host names are valid")
}

/// 32 bytes derived from the run's seed and `label`.
fn derived_bytes(seed: u64, label: &str) -> [u8; SECRET_LEN] {
    let mut bytes = [0u8; SECRET_LEN];
    for (k, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&seeds::derive(seed, label, k as u64).to_le_bytes());
    }
    bytes
}

/// The run's cluster secret, derived from the seed: every node and the ECS hold it, so
/// every control connection of the run authenticates.
pub(crate) fn cluster_secret(seed: u64) -> Secret {
    Secret::from_bytes(derived_bytes(seed, "cluster-secret"))
}

/// A secret that is not the run's: what a rogue that guesses signs with.
pub(crate) fn wrong_secret(seed: u64) -> Secret {
    Secret::from_bytes(derived_bytes(seed, "rogue-secret"))
}

/// The ECS host. Its RNG (the nonces of its port's handshakes) is derived from (seed,
/// `ecs`, boot count), so a restarted ECS never issues its earlier nonces again.
pub(crate) fn add_ecs(sim: &mut turmoil::Sim<'_>, world: &World) {
    let trace = world.trace.clone();
    let timing = timing(world);
    let knobs = world.scenario.node.clone();
    let seed = world.seed;
    let boots = Rc::new(Cell::new(0u64));
    sim.host("ecs", move || {
        boots.set(boots.get() + 1);
        let net = SimNet::new("ecs", trace.clone());
        let rng = Rng::from_seed(seeds::derive(seed, "ecs", boots.get()));
        let mut config = EcsConfig::new(format!("0.0.0.0:{ECS_PORT}"), PathBuf::from("/data/ecs"));
        config.timing = timing;
        config.transfer_timeout = knobs.transfer_timeout;
        config.join_deadline = knobs.join_deadline;
        config.secret = Some(cluster_secret(seed));
        async move {
            node::ecs::run(net, SimDisk, rng, config).await?;
            Ok(())
        }
    });
}

/// Starts the next group: `cluster.group_size` members, named per
/// [`names`](crate::scenario::names); returns their names in member order.
///
/// Every member advertises its own host name, binds `0.0.0.0`, and knows the whole group:
/// the ring address (the first member's admin address), every member's addresses, and,
/// in groups of more than one, the other members' peer ports. A group of one gets exactly
/// what [`NodeConfig::new`] gives it.
pub(crate) fn add_group(sim: &mut turmoil::Sim<'_>, world: &mut World) -> Vec<String> {
    let size = world.scenario.cluster.group_size.max(1);
    let group = u32::try_from(world.groups.len() + 1).expect("fewer than 2^32 groups");
    let names = group_members(group, size);
    world.groups.push(names.clone());
    let members: Vec<Member> = names
        .iter()
        .map(|n| Member {
            admin: host_port(n, ADMIN_PORT),
            client: host_port(n, CLIENT_PORT),
        })
        .collect();
    let ring = host_port(&names[0], ADMIN_PORT);
    for (i, name) in names.iter().enumerate() {
        let id = PeerId(i as u32);
        let peer_addrs: BTreeMap<PeerId, String> = names
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, n)| (PeerId(j as u32), format!("{n}:{PEER_PORT}")))
            .collect();
        let knobs = &world.scenario.node;
        let mut spec = GroupSpec::member(id, size, peer_addrs);
        spec.own_peer_addr = format!("{name}:{PEER_PORT}");
        spec.tick = knobs.raft_tick;
        spec.raft.election_ticks = (knobs.election_ticks[0], knobs.election_ticks[1]);
        spec.raft.heartbeat_ticks = knobs.heartbeat_ticks;
        spec.raft.stretch_for_slow_disk = knobs.stretch_election_on_slow_disk;
        spec.compact_log_bytes = knobs.compact_log_bytes;
        spec.raft.max_append_entries = knobs.max_append_entries;
        let mut config = NodeConfig::new(
            host_port(name, ADMIN_PORT),
            host_port(name, CLIENT_PORT),
            format!("ecs:{ECS_PORT}"),
            PathBuf::from("/data/node"),
        );
        config.admin_bind = format!("0.0.0.0:{ADMIN_PORT}");
        config.client_bind = format!("0.0.0.0:{CLIENT_PORT}");
        config.ring = ring.clone();
        config.members = members.clone();
        config.group = spec;
        config.peer_bind = (size > 1).then(|| format!("0.0.0.0:{PEER_PORT}"));
        config.part_size_bytes = world.part_size.clone();
        config.timing = timing(world);
        config.register_every = knobs.register_every;
        config.secret = Some(cluster_secret(world.seed));
        add_node(sim, world, name, config);
    }
    names
}

/// Starts one member with `config`. Its RNG is derived from (seed, host name, boot count)
/// at every boot. Its disk has the storage faults the runner arms. If the node stops with
/// an error, the error goes to the runner to judge rather than end the simulation (a node
/// that refuses to start on a corrupted disk is doing its job), and the host waits for
/// the runner to crash it. A node that refused to start for good boots into a machine
/// without the node program: it refuses connections at once, as a host whose process
/// has exited does.
fn add_node(sim: &mut turmoil::Sim<'_>, world: &mut World, name: &str, config: NodeConfig) {
    let trace = world.trace.clone();
    let seed = world.seed;
    let boots = Rc::new(Cell::new(0u64));
    let host = name.to_owned();
    let faults = world.storage.disk(name);
    let exits = world.storage.exits();
    sim.host(name, move || {
        boots.set(boots.get() + 1);
        faults.borrow_mut().new_boot(boots.get());
        let wipe = faults.borrow_mut().take_wipe();
        let replaced = faults.borrow().replaced();
        let retired = faults.borrow().retired();
        let disk = FaultyDisk::new(faults.clone());
        let rng = Rng::from_seed(seeds::derive(seed, &host, boots.get()));
        let net = SimNet::new(&host, trace.clone());
        let mut config = config.clone();
        config.group.raft.replaced_disk = replaced;
        let exits = exits.clone();
        let host = host.clone();
        async move {
            if wipe {
                // A replaced machine: nothing of the old disk is left.
                match turmoil::fs::shim::std::fs::remove_dir_all(&config.data_dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        panic!("erasing {}: {e}", config.data_dir.display())
                    }
                    _ => {}
                }
            }
            if !retired {
                if let Err(e) = node::server::run(net, disk, rng, config).await {
                    exits.borrow_mut().push(NodeExit::new(&host, &e));
                }
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });
}

/// Client addresses of the nodes that exist now.
fn seeds_now(world: &World) -> Vec<String> {
    world
        .nodes()
        .map(|n| format!("{n}:{CLIENT_PORT}"))
        .collect()
}

/// Host `audit`, started once the final reads are done and the cluster settled: asks the
/// node at each of `addrs` (client addresses) which cluster view it holds (the 'I' extension,
/// every node on its own), in rounds half a second apart, until every one answers
/// `version`. `checks::joins` judges the last answers. A member that took an older view
/// after a newer one (a held line delivered late) would still answer it here, where
/// nothing else it says on the wire need show it.
pub(crate) fn add_auditor(
    sim: &mut turmoil::Sim<'_>,
    world: &World,
    addrs: Vec<String>,
    version: u64,
) {
    let net = SimNet::new(AUDITOR, world.trace.clone());
    let rng = Rng::from_seed(seeds::derive(world.seed, AUDITOR, 1));
    let mut client =
        workload::sim_client(net, addrs.clone(), std::time::Duration::from_secs(1), rng);
    let done = world.audit_done.clone();
    sim.client(AUDITOR, async move {
        loop {
            let mut agreed = true;
            for addr in &addrs {
                let answer = client.group_info_at(addr).await;
                agreed &= answer.is_ok_and(|info| info.view_version == version);
            }
            if agreed {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        done.set(true);
        Ok(())
    });
}

/// The view auditor's host name.
pub(crate) const AUDITOR: &str = "audit";

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
    let keys = workload::all_keys(&world.scenario.workload);
    let net = SimNet::new("verify", world.trace.clone());
    let rng = Rng::from_seed(seeds::derive(world.seed, "verify", 1));
    let deadline = world.scenario.checks.recovery_deadline;
    let client = workload::sim_client(net, seeds_now(world), deadline, rng);
    let done = world.verifier_done.clone();
    let progress = world.verifier_progress.clone();
    let fut = workload::run_verifier(keys, client, world.history.clone(), deadline, progress);
    sim.client("verify", async move {
        fut.await;
        done.set(true);
        Ok(())
    });
}
