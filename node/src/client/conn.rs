//! One client connection to one node: connect, the 'A' -> 'a', 'B' -> 'b' handshake, and
//! request/answer round trips of whole packets.
//!
//! It knows nothing of retries, deadlines or routing; the caller wraps each call in a
//! timeout and drops the connection on any error.

use bytes::BytesMut;
use protocol::client::{AuthMethod, Outcome, Packet, PROTOCOL_VERSION};
use protocol::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::ConnError;
use crate::io::{Network, Stream};

/// An open, handshaken connection.
pub(crate) struct Conn<S> {
    stream: S,
    buf: BytesMut,
    limits: Limits,
    /// A request was sent and its answer not yet read: if the caller gave up in between
    /// (a timeout, a dropped future), a late answer could be mistaken for the next one's,
    /// so such a connection must not be reused.
    in_flight: bool,
}

impl<S: Stream> Conn<S> {
    /// Connects to `addr` and performs the handshake.
    pub(crate) async fn open<N>(net: &N, addr: &str, limits: Limits) -> Result<Self, ConnError>
    where
        N: Network<Stream = S>,
    {
        let stream = net.connect(addr).await?;
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            limits,
            in_flight: false,
        };
        let auth = conn
            .round_trip(&Packet::AuthorizationRequest(AuthMethod::None))
            .await?;
        check_handshake(auth, "authorization", 'a')?;
        let (major, minor, patch) = PROTOCOL_VERSION;
        let boot = conn
            .round_trip(&Packet::BootstrapRequest {
                major,
                minor,
                patch,
            })
            .await?;
        check_handshake(boot, "bootstrap", 'b')?;
        Ok(conn)
    }

    /// Whether the connection is between exchanges and may carry a new request.
    pub(crate) fn is_idle(&self) -> bool {
        !self.in_flight
    }

    /// Sends `packet` and reads the one packet that answers it.
    pub(crate) async fn round_trip(&mut self, packet: &Packet) -> Result<Packet, ConnError> {
        self.in_flight = true;
        let mut out = BytesMut::new();
        packet.encode(&mut out);
        self.stream.write_all(&out).await?;
        self.stream.flush().await?;
        let answer = self.read_packet().await?;
        self.in_flight = false;
        Ok(answer)
    }

    async fn read_packet(&mut self) -> Result<Packet, ConnError> {
        loop {
            if let Some((packet, used)) = Packet::decode(&self.buf, &self.limits)? {
                let _ = self.buf.split_to(used);
                return Ok(packet);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ConnError::Closed);
            }
        }
    }
}

fn check_handshake(answer: Packet, stage: &'static str, expected: char) -> Result<(), ConnError> {
    match answer {
        Packet::AuthorizationResponse(outcome) if expected == 'a' => outcome_ok(outcome, stage),
        Packet::BootstrapResponse(outcome) if expected == 'b' => outcome_ok(outcome, stage),
        Packet::ErrorResponse(message) => Err(ConnError::HandshakeError { stage, message }),
        other => Err(ConnError::Unexpected {
            expected,
            got: char::from(other.marker()),
        }),
    }
}

fn outcome_ok(outcome: Outcome, stage: &'static str) -> Result<(), ConnError> {
    match outcome {
        Outcome::Accepted => Ok(()),
        Outcome::Rejected(reason) => Err(ConnError::Rejected { stage, reason }),
    }
}
