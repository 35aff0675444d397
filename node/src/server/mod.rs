//! The node program: one member of a replica group, serving the client protocol on one
//! port, the ECS protocol on another, and (in groups of more than one) the peer protocol
//! on a third.
//!
//! [`run`] opens the member's storage, starts its replica, binds the ports, registers the
//! group with the ECS until it is on the ring, and, whenever this member becomes the
//! leader, resumes an unfinished hand-off. Every state change goes through
//! [`GroupHandle::propose`].

mod admin_port;
mod client_port;
mod transfer;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use protocol::ecs::{HostPort, Member, Register, Request as EcsRequest};
use protocol::peer::PeerId;
use protocol::Limits;
use thiserror::Error;

use crate::admin_link::{AdminLink, LinkTiming};
use crate::auth::{self, Gate, Secret};
use crate::group::{GroupError, GroupHandle, GroupSpec, PeerPort};
use crate::io::accept::accept_forever;
use crate::io::{Disk, Network, Rng};

/// The largest client command a node accepts by default (the body of a `C` packet):
/// 256 KiB. A put's key and value together may take this less
/// [`PUT_FRAMING_BYTES`]; a larger request is refused by the client library before it
/// is sent.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// What a put adds to its key and value in a `C` body: the session tag (marker, client
/// id, sequence: 17 bytes), the command marker (1) and two 4-byte lengths.
pub const PUT_FRAMING_BYTES: usize = 17 + 1 + 4 + 4;

/// Everything a node needs to know at start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's advertised admin address.
    pub admin: HostPort,
    /// This node's advertised client address.
    pub client: HostPort,
    /// Address the admin listener binds (often `0.0.0.0:<port>`).
    pub admin_bind: String,
    /// Address the client listener binds.
    pub client_bind: String,
    /// The group's ring address: its first member's admin address.
    pub ring: HostPort,
    /// Every member of the group in member-id order, this node included.
    pub members: Vec<Member>,
    /// Raft settings and the other members' peer addresses.
    pub group: GroupSpec,
    /// Address the peer listener binds (groups of more than one).
    pub peer_bind: Option<String>,
    /// The ECS's admin address.
    pub ecs: String,
    /// Where the node keeps its log and snapshot.
    pub data_dir: PathBuf,
    /// Longest `ecs_put` line this node sends during a hand-off. Shared, so whoever
    /// started the node (the simulation harness) can change it while the node runs.
    pub part_size_bytes: Rc<Cell<usize>>,
    /// Bounds on client packets. A node keeps fields small enough that any value it
    /// accepts also fits in one `ecs_put` line.
    pub limits: Limits,
    /// Longest ECS-protocol line accepted.
    pub max_line_len: usize,
    /// Timeouts and pauses for requests to other hosts.
    pub timing: LinkTiming,
    /// How often a group not yet on the ring registers again. The ECS may abandon a join
    /// (its newcomer or predecessor did not answer in time) and forgets the newcomer; a
    /// newcomer that is still alive asks again, and is queued for another try.
    pub register_every: Duration,
    /// The cluster secret. With it, every connection to the admin port must authenticate
    /// and every connection this node opens to another admin port or the ECS does
    /// ([`crate::auth`]); without it the port is open to anyone who reaches it, as in the
    /// seed protocol, and may only bind a loopback address.
    pub secret: Option<Secret>,
}

impl NodeConfig {
    /// A node that is a group of one, with defaults for everything but the addresses and
    /// the data directory; listeners bind the advertised addresses.
    pub fn new(admin: HostPort, client: HostPort, ecs: String, data_dir: PathBuf) -> Self {
        NodeConfig {
            admin_bind: admin.to_string(),
            client_bind: client.to_string(),
            ring: admin.clone(),
            members: vec![Member {
                admin: admin.clone(),
                client: client.clone(),
            }],
            group: GroupSpec::single(),
            peer_bind: None,
            admin,
            client,
            ecs,
            data_dir,
            part_size_bytes: Rc::new(Cell::new(64 * 1024)),
            limits: Limits {
                max_field_len: MAX_REQUEST_BYTES,
                ..Limits::DEFAULT
            },
            max_line_len: protocol::ecs::DEFAULT_MAX_LINE_LEN,
            timing: LinkTiming::default(),
            register_every: Duration::from_secs(60),
            secret: None,
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
    /// Its replica stopped after a write or sync failed. The node exits rather than run
    /// on: what the failed write left on disk is unknown until a restart reads it back.
    #[error("storage failed in {dir}; the node stops: {source}")]
    StorageFailed {
        /// The data directory.
        dir: PathBuf,
        /// What failed.
        source: Arc<GroupError>,
    },
    /// The admin port would accept control lines from other machines without a secret.
    #[error(
        "refusing to bind the admin port to {addr} without a cluster secret: anyone who \
         reaches it could lock, re-point or drop this node's data; give --secret-file, or \
         bind a loopback address"
    )]
    OpenAdminPort {
        /// The bind address.
        addr: String,
    },
    /// The peer port would be open beyond this machine with no secret to authenticate
    /// the group's members.
    #[error(
        "refusing to bind the peer port to {addr} without a cluster secret: anyone who \
         reaches it could write the group's log; give --secret-file, or bind a loopback \
         address"
    )]
    OpenPeerPort {
        /// The bind address.
        addr: String,
    },
    /// A port could not be bound.
    #[error("{what} port {addr}: {source}")]
    Listen {
        /// "client", "admin" or "peer".
        what: &'static str,
        /// The bind address.
        addr: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// State shared by a node's tasks.
pub(crate) struct Node<N: Network> {
    pub(crate) config: NodeConfig,
    pub(crate) net: N,
    pub(crate) group: GroupHandle,
    pub(crate) rng: RefCell<Rng>,
    /// Who may speak on the admin port.
    pub(crate) gate: Gate,
    /// Nonces of the connections this node opens (each link gets a fork).
    link_nonces: RefCell<Rng>,
    /// The running hand-off task, if any, so a resent `transfer_range` does not start a
    /// second one.
    pub(crate) transfer_task: RefCell<Option<tokio::task::JoinHandle<()>>>,
    /// The transfer that task is sending, once it has read it from the state.
    pub(crate) transfer_sending: Cell<Option<u64>>,
}

impl<N: Network> Node<N> {
    pub(crate) fn link(&self) -> AdminLink<N> {
        AdminLink::new(
            self.net.clone(),
            self.config.timing,
            self.config.max_line_len,
            self.config.secret.clone(),
            self.link_nonces.borrow_mut().fork(),
        )
        .with_ecs(&self.config.ecs)
    }

    /// The admin address of group member `peer`.
    pub(crate) fn member_admin(&self, peer: PeerId) -> Option<HostPort> {
        self.config
            .members
            .get(peer.0 as usize)
            .map(|m| m.admin.clone())
    }

    /// The global node id (client protocol) of group member `peer`, -1 if unknown.
    pub(crate) fn global_id(&self, peer: Option<PeerId>) -> i32 {
        let Some(admin) = peer.and_then(|p| self.member_admin(p)) else {
            return -1;
        };
        self.group.with_state(|s| {
            s.view
                .as_ref()
                .and_then(|v| v.nodes.iter().find(|n| n.admin == admin))
                .map_or(-1, |n| n.id as i32)
        })
    }
}

/// Runs a node until its storage fails (it stops rather than answer from state that may
/// not be durable); fails at once if one of its ports cannot be bound. A failed accept
/// only pauses that port (`io::accept`).
pub async fn run<N: Network, D: Disk>(
    net: N,
    disk: D,
    mut rng: Rng,
    config: NodeConfig,
) -> Result<(), NodeError> {
    let listen = |what: &'static str, addr: &String| {
        let addr = addr.clone();
        move |source| NodeError::Listen { what, addr, source }
    };
    if config.secret.is_none() {
        if !auth::is_loopback_bind(&config.admin_bind) {
            return Err(NodeError::OpenAdminPort {
                addr: config.admin_bind.clone(),
            });
        }
        tracing::warn!(
            admin = %config.admin_bind,
            "no cluster secret: the admin port takes control lines from anyone who reaches it"
        );
    }
    let peer_port = match &config.peer_bind {
        Some(bind) if config.members.len() > 1 => {
            // Without a secret the peer handshake proves nothing: whoever reaches the
            // port could write the group's log, so only this machine may.
            if config.secret.is_none() && !auth::is_loopback_bind(bind) {
                return Err(NodeError::OpenPeerPort { addr: bind.clone() });
            }
            Some(PeerPort {
                listener: net.bind(bind).await.map_err(listen("peer", bind))?,
                secret: config.secret.clone(),
                // A stream of their own: connections never shift the group's draws.
                nonces: rng.fork(),
                own_addr: config.group.own_peer_addr.clone(),
                group: config.ring.to_string(),
            })
        }
        _ => None,
    };
    let group = GroupHandle::start(
        net.clone(),
        disk,
        &config.data_dir,
        config.ring.clone(),
        config.group.clone(),
        peer_port,
        rng.fork(),
    )
    .map_err(|e| NodeError::Storage {
        dir: config.data_dir.clone(),
        source: e,
    })?;
    tracing::info!(admin = %config.admin, client = %config.client, ring = %config.ring, "node starting");
    let admin_listener = net
        .bind(&config.admin_bind)
        .await
        .map_err(listen("admin", &config.admin_bind))?;
    let client_listener = net
        .bind(&config.client_bind)
        .await
        .map_err(listen("client", &config.client_bind))?;

    // Nonces from streams of their own, so connections do not shift transfer ids.
    let gate = Gate::new(config.secret.clone(), rng.fork(), config.admin.to_string());
    let link_nonces = RefCell::new(rng.fork());
    let node = Rc::new(Node {
        group,
        gate,
        net,
        link_nonces,
        rng: RefCell::new(rng),
        transfer_task: RefCell::new(None),
        transfer_sending: Cell::new(None),
        config,
    });
    tokio::task::spawn_local(follow_leadership(node.clone()));
    {
        let node = node.clone();
        tokio::task::spawn_local(async move { register(&node).await });
    }

    let admin_loop = accept_forever(admin_listener, "admin", |stream, peer| {
        admin_port::serve(node.clone(), stream, peer)
    });
    let client_loop = accept_forever(client_listener, "client", |stream, peer| {
        client_port::serve(node.clone(), stream, peer)
    });
    let serve = async {
        tokio::select! {
            never = admin_loop => never,
            never = client_loop => never,
        }
    };
    // Biased, and around the listeners' own select rather than a branch of it: this
    // select draws nothing from the runtime's RNG, so a simulation's other draws do not
    // shift.
    Err(tokio::select! {
        biased;
        source = node.group.failed() => NodeError::StorageFailed {
            dir: node.config.data_dir.clone(),
            source,
        },
        never = serve => match never {},
    })
}

/// Starts the leader's duties whenever this member becomes leader (resume a hand-off the
/// log says is unfinished, once the log is applied) and stops them when it no longer is.
async fn follow_leadership<N: Network>(node: Rc<Node<N>>) {
    let mut watch = node.group.watch_leadership();
    loop {
        let lead = *watch.borrow_and_update();
        if lead.is_me {
            // Not `transfer.is_some()` now: a member that just restarted may not have
            // applied its log yet, and would miss a hand-off it has to resume. The task
            // waits for a read barrier (every committed command applied), then looks,
            // and ends at once if there is nothing to send.
            transfer::ensure_running(&node);
        } else if let Some(task) = node.transfer_task.borrow_mut().take() {
            task.abort();
        }
        if watch.changed().await.is_err() {
            return;
        }
    }
}

/// Asks the ECS to admit this node's group until it says `ok` (any member may ask; the
/// ECS knows the group by its ring address).
///
/// Until the group is on the ring it asks again every `register_every`: a join the ECS
/// abandoned forgets the newcomer, and the ECS queues a group that asks during its own
/// join for another try.
async fn register<N: Network>(node: &Node<N>) {
    let request = EcsRequest::Register(Register {
        ring: node.config.ring.clone(),
        members: node.config.members.clone(),
    });
    let mut first = true;
    // A group removed from the ring stays off it: its address is retired at the ECS,
    // which refuses it; stop asking once the log shows the removal.
    let left = || node.group.with_state(|s| s.has_left());
    while !node.group.with_state(|s| s.is_member()) && !left() {
        let ecs = [node.config.ecs.clone()];
        let sent = node
            .link()
            .send_to_group(&ecs, None, &request, "register", || !left())
            .await;
        if sent.is_none() {
            tracing::info!("this group was removed from the ring; not registering again");
            return;
        }
        if first {
            tracing::info!(ecs = %node.config.ecs, "registered with the ECS");
            first = false;
        }
        tokio::time::sleep(node.config.register_every).await;
    }
}
