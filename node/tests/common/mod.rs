//! What several real-socket tests share: free ports and one ECS with one node, started as
//! tasks on the test's LocalSet.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;

use node::ecs::EcsConfig;
use node::io::{Rng, StdDisk, TokioNet};
use node::server::NodeConfig;

/// A port nothing listens on right now, below the kernel's ephemeral range (see
/// [`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive ports nothing listens on right now, all below the range
/// the kernel gives outgoing connections.
///
/// A port from `bind(0)` comes from that range too: between the moment a test picks it and
/// the moment a node binds it (or binds it again on a restart), an outgoing connection of
/// any process, such as a node of a test running in parallel dialling its peers, can be
/// given it as its local port, and the node fails to start on a busy port. A three-node
/// group one node short then loses its quorum when the test kills its leader.
pub fn free_ports(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    // Shared by the tests of one binary, which run in parallel: each takes its own run.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let ephemeral = ephemeral_start();
    if ephemeral < LOW + 1_000 {
        eprintln!(
            "warning: the kernel's ephemeral ports start at {ephemeral}: test ports may be \
             taken by outgoing connections"
        );
    }
    let high = ephemeral.clamp(LOW + 1_000, 32_768);
    let span = high - LOW - u32::from(n);
    // Binaries run one after the other, but a developer may run two at once.
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let base = LOW + (start + NEXT.fetch_add(u32::from(n), Ordering::Relaxed)) % span;
        let base = u16::try_from(base).expect("below 32768");
        if (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no run of {n} free ports between {LOW} and {high}");
}

/// The lowest port the kernel gives outgoing connections (Linux); 32768 where unknown.
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The addresses of an ECS and a single-node group started by [`start_ecs_and_node`].
pub struct SingleNode {
    /// The ECS's address.
    pub ecs: String,
    /// The node's admin (ECS protocol) address.
    pub admin: String,
    /// The node's client address.
    pub client: String,
}

/// Starts an ECS and one node (data under `dir`) as local tasks; call inside a LocalSet.
/// No secret: the ports speak the seed's protocol, as without `--secret-file`.
pub fn start_ecs_and_node(dir: &Path) -> SingleNode {
    let addrs = SingleNode {
        ecs: format!("127.0.0.1:{}", free_port()),
        admin: format!("127.0.0.1:{}", free_port()),
        client: format!("127.0.0.1:{}", free_port()),
    };
    let ecs_config = EcsConfig::new(addrs.ecs.clone(), dir.join("ecs"));
    tokio::task::spawn_local(node::ecs::run(
        TokioNet,
        StdDisk,
        Rng::from_seed(2),
        ecs_config,
    ));
    let node_config = NodeConfig::new(
        addrs.admin.parse().unwrap(),
        addrs.client.parse().unwrap(),
        addrs.ecs.clone(),
        dir.join("node"),
    );
    tokio::task::spawn_local(node::server::run(
        TokioNet,
        StdDisk,
        Rng::from_seed(1),
        node_config,
    ));
    addrs
}
