//! The client library: talks the binary client protocol to the store's nodes, finds the
//! node that can serve each command, and retries until it gets a final answer or the
//! operation's deadline passes.
//!
//! [`Client`] is generic over [`Network`], so the same code runs over real TCP
//! ([`crate::io::TokioNet`]) and inside the simulation. All time is `tokio::time` and all
//! randomness comes from the injected [`Rng`], so a simulated client replays exactly.
//!
//! One operation goes like this (DESIGN.md §4):
//!
//! - Send 'C' to the node that last served, else to a seed. Connections are opened with
//!   the 'A'/'B' handshake and kept, one per node address.
//! - 'c': the answer; its kind must match the command's.
//! - 'l' with an id: resend to that node (its address comes from 'm'; metadata is fetched
//!   when the id is unknown). Every few redirects in a row the client backs off, so a
//!   redirect loop cannot spin.
//! - An 'e' whose message [`is_retryable`](protocol::client::is_retryable): back off and
//!   resend to the same node.
//! - 'l' -1 (no leader known; a node not yet on the ring never learns one), a connection
//!   error or an attempt timeout (the connection is dropped): move on to the next known
//!   node, backing off once per round of them rather than before each. An address whose
//!   connect failed is not dialled again for a while, across operations, the longer the
//!   more connects in a row failed (`redial`): a silent node gets few SYNs however many
//!   operations want it. Each attempt of
//!   an operation that got no answer doubles the time the next one waits (up to the
//!   deadline): a node slower to serve a command than the attempt timeout, such as a
//!   leader on slow disks under load, would otherwise never get to answer a read.
//! - Any other 'e' is final ([`ClientError::Server`]).
//!
//! Writes carry a [`SessionTag`]: a random client id and a sequence number that grows per
//! write operation and is reused by every resend of it, so a write resent after a lost
//! answer is not applied twice.
//!
//! Modules: `conn` (one connection), `route` (which node next), `backoff` (waits),
//! `redial` (addresses not to dial yet), `retry` (the loop above), `error`
//! ([`ClientError`]).

mod backoff;
mod conn;
mod error;
mod redial;
mod retry;
mod route;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use protocol::client::{Command, Packet, Request, Response, SessionTag};
pub use protocol::client::{GroupInfo, ViewNode};
use protocol::Limits;

pub use error::ClientError;

use crate::io::{Network, Rng};
use conn::Conn;
use redial::Redials;
use route::Route;

/// How a [`Client`] finds nodes and how long it keeps trying.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Client addresses (`host:port`) to start from; the cluster's full list is learned
    /// from the nodes.
    pub seeds: Vec<String>,
    /// How long one operation may take in all, retries included. Default 10 s.
    pub deadline: Duration,
    /// How long one connect (with handshake) or one request round trip may take before
    /// the client gives up on that node and moves on; an operation's round trips wait
    /// twice as long after each one that got no answer. Default 2 s.
    pub attempt_timeout: Duration,
    /// The first backoff wait. Default 10 ms.
    pub backoff_min: Duration,
    /// The longest backoff wait. Default 1 s.
    pub backoff_max: Duration,
    /// How long an address whose connect failed is not dialled again, across
    /// operations (other nodes are asked meanwhile); doubles with each failure in a row.
    /// Default 1 s.
    pub redial_min: Duration,
    /// The longest such wait. Default 4 s.
    pub redial_max: Duration,
    /// Size limits applied when decoding the nodes' packets.
    pub limits: Limits,
    /// Largest encoded command (key, value, framing) the client sends; larger ones fail
    /// at once with [`ClientError::TooLarge`]. Default: what a node accepts by default,
    /// [`MAX_REQUEST_BYTES`](crate::server::MAX_REQUEST_BYTES).
    pub max_request_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            seeds: Vec::new(),
            deadline: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(2),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_secs(1),
            redial_min: Duration::from_secs(1),
            redial_max: Duration::from_secs(4),
            limits: Limits::DEFAULT,
            max_request_bytes: crate::server::MAX_REQUEST_BYTES,
        }
    }
}

/// The answer to [`Client::compare_and_set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasOutcome {
    /// Whether the new value was written.
    pub swapped: bool,
    /// The key's value after the command (`None`: absent).
    pub current: Option<Bytes>,
}

/// The cluster as one node sees it: the answer to [`Client::metadata`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Client addresses of every node, indexed by node id.
    pub addresses: Vec<String>,
    /// The id of the answering node's group leader, -1 if it knows none.
    pub leader_id: i32,
    /// The id of the answering node.
    pub current_node_id: i32,
    /// The address the client reached the answering node at.
    pub answered_by: String,
}

/// A client of the store. Cheap to create (no I/O until the first operation); one
/// operation at a time (`&mut self`).
pub struct Client<N: Network> {
    net: N,
    config: ClientConfig,
    rng: Rng,
    client_id: u64,
    /// The sequence number the next write operation will carry.
    next_sequence: u64,
    route: Route,
    /// Open connections by node address; an entry is removed on any error.
    conns: BTreeMap<String, Conn<N::Stream>>,
    /// Addresses whose connects failed, not to be dialled again yet.
    redials: Redials,
}

impl<N: Network> Client<N> {
    /// A client that will contact `config.seeds` first. Draws its session client id from
    /// `rng` and uses the rest of `rng` for backoff jitter.
    pub fn new(net: N, config: ClientConfig, mut rng: Rng) -> Self {
        let client_id = rng.next_u64();
        Client {
            route: Route::new(config.seeds.clone()),
            redials: Redials::new(config.redial_min, config.redial_max),
            net,
            config,
            rng,
            client_id,
            next_sequence: 1,
            conns: BTreeMap::new(),
        }
    }

    /// The random id this client puts in its writes' session tags.
    pub fn client_id(&self) -> u64 {
        self.client_id
    }

    /// The sequence number the next write operation will carry in its session tag.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// Reads `key`: its value, or `None` if it is absent.
    pub async fn get(&mut self, key: impl Into<Bytes>) -> Result<Option<Bytes>, ClientError> {
        match self.command(Command::Get { key: key.into() }).await? {
            (Response::Value(value), _) => Ok(value),
            (other, addr) => Err(mismatch(addr, "a value", &other)),
        }
    }

    /// Writes `value` under `key`; returns once the write is durable.
    pub async fn put(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        let command = Command::Put {
            key: key.into(),
            value: value.into(),
        };
        match self.command(command).await? {
            (Response::Stored, _) => Ok(()),
            (other, addr) => Err(mismatch(addr, "stored", &other)),
        }
    }

    /// Removes `key`; `true` if it existed.
    pub async fn delete(&mut self, key: impl Into<Bytes>) -> Result<bool, ClientError> {
        match self.command(Command::Delete { key: key.into() }).await? {
            (Response::Deleted(existed), _) => Ok(existed),
            (other, addr) => Err(mismatch(addr, "deleted", &other)),
        }
    }

    /// Writes `new` under `key` only if the key now holds `expected` (`None`: only if the
    /// key is absent).
    pub async fn compare_and_set(
        &mut self,
        key: impl Into<Bytes>,
        expected: Option<Bytes>,
        new: impl Into<Bytes>,
    ) -> Result<CasOutcome, ClientError> {
        let command = Command::CompareAndSet {
            key: key.into(),
            expected,
            new: new.into(),
        };
        match self.command(command).await? {
            (Response::CompareAndSet { swapped, current }, _) => {
                Ok(CasOutcome { swapped, current })
            }
            (other, addr) => Err(mismatch(addr, "a compare-and-set result", &other)),
        }
    }

    /// Asks any node what it knows of its group and of the cluster view (the 'I'
    /// extension), retrying like any request; returns the answer and who gave it.
    pub async fn group_info(&mut self) -> Result<(GroupInfo, String), ClientError> {
        let (answer, addr) = self.exchange(&Packet::GroupInfoRequest).await?;
        match answer {
            Packet::GroupInfoResponse(info) => Ok((info, addr)),
            other => Err(mismatch_packet(addr, 'i', &other)),
        }
    }

    /// Asks the node at `addr`, and only it, once (within the attempt timeout): what an
    /// inspection tool needs to hear each member's own view.
    pub async fn group_info_at(&mut self, addr: &str) -> Result<GroupInfo, ClientError> {
        match self.ask_once(addr, &Packet::GroupInfoRequest).await? {
            Packet::GroupInfoResponse(info) => Ok(info),
            other => Err(mismatch_packet(addr.to_owned(), 'i', &other)),
        }
    }

    /// Asks a node for the cluster's address list and leader, and remembers the list for
    /// routing.
    pub async fn metadata(&mut self) -> Result<Metadata, ClientError> {
        let (answer, addr) = self.exchange(&Packet::ClusterMetadataRequest).await?;
        match answer {
            Packet::ClusterMetadataResponse {
                addresses,
                leader_id,
                current_node_id,
            } => {
                self.route.set_addresses(addresses.clone());
                Ok(Metadata {
                    addresses,
                    leader_id,
                    current_node_id,
                    answered_by: addr,
                })
            }
            other => Err(mismatch_packet(addr, 'm', &other)),
        }
    }

    /// Sends one command until a node answers it; returns the decoded answer and the
    /// address of the node that gave it.
    async fn command(&mut self, command: Command) -> Result<(Response, String), ClientError> {
        let session = command.is_write().then(|| {
            let tag = SessionTag {
                client_id: self.client_id,
                sequence: self.next_sequence,
            };
            self.next_sequence = self.next_sequence.wrapping_add(1);
            tag
        });
        let body = Request { session, command }.to_bytes();
        if body.len() > self.config.max_request_bytes {
            // Refused here, not by a node that would close the connection and leave the
            // client retrying until its deadline; the sequence number was never sent.
            if let Some(tag) = session {
                self.next_sequence = tag.sequence;
            }
            return Err(ClientError::TooLarge {
                bytes: body.len(),
                limit: self.config.max_request_bytes,
            });
        }
        let (answer, addr) = self.exchange(&Packet::CommandRequest(body)).await?;
        let Packet::CommandResponse(body) = answer else {
            return Err(ClientError::Protocol {
                addr,
                detail: format!("expected 'c', got '{}'", char::from(answer.marker())),
            });
        };
        match Response::decode(&body, &self.config.limits) {
            Ok(response) => Ok((response, addr)),
            Err(e) => Err(ClientError::Protocol {
                addr,
                detail: format!("bad command response: {e}"),
            }),
        }
    }
}

fn mismatch(addr: String, wanted: &str, got: &Response) -> ClientError {
    let got = match got {
        Response::Value(_) => "a value",
        Response::Stored => "stored",
        Response::Deleted(_) => "deleted",
        Response::CompareAndSet { .. } => "a compare-and-set result",
    };
    ClientError::Protocol {
        addr,
        detail: format!("answer does not match the command: wanted {wanted}, got {got}"),
    }
}

/// A packet of the wrong kind from `addr`.
fn mismatch_packet(addr: String, expected: char, got: &Packet) -> ClientError {
    ClientError::Protocol {
        addr,
        detail: format!("expected '{expected}', got '{}'", char::from(got.marker())),
    }
}
