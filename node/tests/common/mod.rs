//! What several real-socket tests share: free ports and one ECS with one node, started as
//! tasks on the test's LocalSet.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;

use node::ecs::EcsConfig;
use node::io::{Rng, StdDisk, TokioNet};
use node::server::NodeConfig;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
