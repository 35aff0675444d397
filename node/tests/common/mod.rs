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
/// the kernel gives outgoing connections and `bind(0)`.
///
/// A port from `bind(0)` was picked, released, and bound by a node later (or again on a
/// restart). Meanwhile another pick of a test running in parallel could return the same
/// port, or an outgoing connection be given it, and the node failed to start on a busy
/// port: a three-node group one node short loses its quorum when the test kills its
/// leader. Ports below that range are handed out here only, each once per test binary.
pub fn free_ports(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    // Shared by the tests of one binary, which run in parallel: each takes its own run.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let high = below_ephemeral();
    let span = high - LOWEST_TEST_PORT - u32::from(n);
    // Binaries run one after the other, but a developer may run two at once.
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let base =
            LOWEST_TEST_PORT + (start + NEXT.fetch_add(u32::from(n), Ordering::Relaxed)) % span;
        let base = u16::try_from(base).expect("below 32768");
        if (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no run of {n} free ports between {LOWEST_TEST_PORT} and {high}");
}

/// The lowest port [`free_ports`] hands out.
const LOWEST_TEST_PORT: u32 = 10_000;

/// The end (excluded) of the ports [`free_ports`] hands out: where the kernel's ephemeral
/// range starts (Linux; 32768 where unknown), read and judged once per test binary.
fn below_ephemeral() -> u32 {
    static HIGH: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *HIGH.get_or_init(|| {
        let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(32_768);
        if ephemeral < LOWEST_TEST_PORT + 1_000 {
            eprintln!(
                "warning: the kernel's ephemeral ports start at {ephemeral}: test ports may be \
                 taken by outgoing connections"
            );
        }
        ephemeral.clamp(LOWEST_TEST_PORT + 1_000, 32_768)
    })
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
