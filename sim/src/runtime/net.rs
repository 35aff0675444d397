//! [`Network`] over turmoil's simulated TCP, tracing every stream.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use node::io::{Listener, Network};

use super::{ADMIN_PORT, CLIENT_PORT, ECS_PORT, PEER_PORT};
use crate::trace::tap::{Protocol, TracedStream};
use crate::trace::TraceHandle;

/// The network as seen from one simulated host.
#[derive(Clone)]
pub struct SimNet {
    host: Rc<str>,
    trace: TraceHandle,
}

impl SimNet {
    /// The network of host `host`, recording into `trace`.
    pub fn new(host: &str, trace: TraceHandle) -> Self {
        SimNet {
            host: host.into(),
            trace,
        }
    }
}

/// A simulated listener whose streams are traced.
pub struct SimListener {
    inner: turmoil::net::TcpListener,
    host: Rc<str>,
    trace: TraceHandle,
}

fn protocol_of(port: u16) -> Protocol {
    if port == CLIENT_PORT {
        Protocol::Client
    } else if port == PEER_PORT {
        Protocol::Peer
    } else {
        // The ECS port and nodes' admin ports speak the ECS protocol.
        debug_assert!(port == ECS_PORT || port == ADMIN_PORT);
        Protocol::Admin
    }
}

fn split_host_port(addr: &str) -> io::Result<(&str, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: no port")))?;
    let port = port
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: bad port")))?;
    Ok((host, port))
}

impl Network for SimNet {
    type Stream = TracedStream<turmoil::net::TcpStream>;
    type Listener = SimListener;

    async fn bind(&self, addr: &str) -> io::Result<SimListener> {
        let inner = turmoil::net::TcpListener::bind(addr).await?;
        Ok(SimListener {
            inner,
            host: self.host.clone(),
            trace: self.trace.clone(),
        })
    }

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let (peer, port) = split_host_port(addr)?;
        let stream = turmoil::net::TcpStream::connect(addr).await?;
        Ok(TracedStream::new(
            stream,
            self.trace.clone(),
            self.host.clone(),
            peer.into(),
            protocol_of(port),
            true,
        ))
    }
}

impl Listener for SimListener {
    type Stream = TracedStream<turmoil::net::TcpStream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        let peer_name: Rc<str> = turmoil::reverse_lookup(peer.ip())
            .unwrap_or_else(|| peer.ip().to_string())
            .into();
        let protocol = protocol_of(self.inner.local_addr()?.port());
        Ok((
            TracedStream::new(
                stream,
                self.trace.clone(),
                self.host.clone(),
                peer_name,
                protocol,
                false,
            ),
            peer,
        ))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}
