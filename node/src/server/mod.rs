//! The node program: a replica group of one node serving the client protocol on one port
//! and the ECS protocol on another.
//!
//! [`run`] opens the group's storage, binds both ports, registers with the ECS if the
//! group is not yet on the ring, resumes an unfinished hand-off, and serves until the
//! listeners fail. Every state change goes through [`GroupHandle::propose`].

mod admin_port;
mod client_port;
mod transfer;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;

use protocol::ecs::{HostPort, Member, Register, Request as EcsRequest};
use protocol::Limits;
use thiserror::Error;

use crate::admin_link::{AdminLink, LinkTiming};
use crate::group::{DurableGroup, GroupError, GroupHandle};
use crate::io::{Disk, Listener, Network, Rng};

/// Everything a node needs to know at start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Advertised admin address; also the group's ring address.
    pub admin: HostPort,
    /// Advertised client address.
    pub client: HostPort,
    /// Address the admin listener binds (often `0.0.0.0:<port>`).
    pub admin_bind: String,
    /// Address the client listener binds.
    pub client_bind: String,
    /// The ECS's admin address.
    pub ecs: String,
    /// Where the node keeps its log and snapshot.
    pub data_dir: PathBuf,
    /// Longest `ecs_put` line this node sends during a hand-off. Shared, so whoever
    /// started the node (the simulation harness) can change it while the node runs.
    pub part_size_bytes: Rc<Cell<usize>>,
    /// Bounds on client packets.
    pub limits: Limits,
    /// Longest ECS-protocol line accepted.
    pub max_line_len: usize,
    /// Timeouts and pauses for requests to other hosts.
    pub timing: LinkTiming,
}

impl NodeConfig {
    /// A config with defaults for everything but the addresses and the data directory;
    /// listeners bind the advertised addresses.
    pub fn new(admin: HostPort, client: HostPort, ecs: String, data_dir: PathBuf) -> Self {
        NodeConfig {
            admin_bind: admin.to_string(),
            client_bind: client.to_string(),
            admin,
            client,
            ecs,
            data_dir,
            part_size_bytes: Rc::new(Cell::new(64 * 1024)),
            limits: Limits::DEFAULT,
            max_line_len: protocol::ecs::DEFAULT_MAX_LINE_LEN,
            timing: LinkTiming::default(),
        }
    }
}

/// Why a node stopped.
#[derive(Debug, Error)]
pub enum NodeError {
    /// Its storage could not be opened.
    #[error("opening storage in {dir}: {source}")]
    Storage {
        /// The data directory.
        dir: PathBuf,
        /// What failed.
        source: GroupError,
    },
    /// A port could not be bound or stopped accepting.
    #[error("{what} port {addr}: {source}")]
    Listen {
        /// "client" or "admin".
        what: &'static str,
        /// The bind address.
        addr: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// State shared by a node's tasks.
pub(crate) struct Node<N: Network, D: Disk> {
    pub(crate) config: NodeConfig,
    pub(crate) net: N,
    pub(crate) group: GroupHandle<D>,
    pub(crate) rng: RefCell<Rng>,
    /// The running hand-off task, if any, so a resent `transfer_range` does not start a
    /// second one.
    pub(crate) transfer_task: RefCell<Option<tokio::task::JoinHandle<()>>>,
}

impl<N: Network, D: Disk> Node<N, D> {
    pub(crate) fn link(&self) -> AdminLink<N> {
        AdminLink::new(
            self.net.clone(),
            self.config.timing,
            self.config.max_line_len,
        )
    }
}

/// Runs a node until one of its listeners fails.
pub async fn run<N: Network, D: Disk>(
    net: N,
    disk: D,
    rng: Rng,
    config: NodeConfig,
) -> Result<(), NodeError> {
    let group = DurableGroup::open(disk, &config.data_dir, config.admin.clone()).map_err(|e| {
        NodeError::Storage {
            dir: config.data_dir.clone(),
            source: e,
        }
    })?;
    tracing::info!(admin = %config.admin, client = %config.client, applied = group.applied(), "node starting");
    let listen = |what: &'static str, addr: &String| {
        let addr = addr.clone();
        move |source| NodeError::Listen { what, addr, source }
    };
    let mut admin_listener = net
        .bind(&config.admin_bind)
        .await
        .map_err(listen("admin", &config.admin_bind))?;
    let mut client_listener = net
        .bind(&config.client_bind)
        .await
        .map_err(listen("client", &config.client_bind))?;

    let node = Rc::new(Node {
        group: GroupHandle::start(group),
        net,
        rng: RefCell::new(rng),
        transfer_task: RefCell::new(None),
        config,
    });
    resume(&node);

    let admin_loop = {
        let node = node.clone();
        async move {
            loop {
                match admin_listener.accept().await {
                    Ok((stream, peer)) => {
                        tokio::task::spawn_local(admin_port::serve(node.clone(), stream, peer));
                    }
                    Err(e) => return e,
                }
            }
        }
    };
    let client_loop = {
        let node = node.clone();
        async move {
            loop {
                match client_listener.accept().await {
                    Ok((stream, peer)) => {
                        tokio::task::spawn_local(client_port::serve(node.clone(), stream, peer));
                    }
                    Err(e) => return e,
                }
            }
        }
    };
    let admin_bind = node.config.admin_bind.clone();
    let client_bind = node.config.client_bind.clone();
    Err(tokio::select! {
        e = admin_loop => listen("admin", &admin_bind)(e),
        e = client_loop => listen("client", &client_bind)(e),
    })
}

/// Picks up what a restart interrupted: registration, or a hand-off.
fn resume<N: Network, D: Disk>(node: &Rc<Node<N, D>>) {
    let (member, transfer) = node
        .group
        .with_state(|s| (s.is_member(), s.transfer.is_some()));
    if transfer {
        transfer::ensure_running(node);
    }
    if !member {
        let node = node.clone();
        tokio::task::spawn_local(async move { register(&node).await });
    }
}

/// Asks the ECS to admit this node's group until it says `ok`.
async fn register<N: Network, D: Disk>(node: &Node<N, D>) {
    let request = EcsRequest::Register(Register {
        ring: node.config.admin.clone(),
        members: vec![Member {
            admin: node.config.admin.clone(),
            client: node.config.client.clone(),
        }],
    });
    node.link()
        .send_until_ok(&node.config.ecs, &request, "register")
        .await;
    tracing::info!(ecs = %node.config.ecs, "registered with the ECS");
}
