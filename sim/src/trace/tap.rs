//! A stream wrapper that decodes what crosses it and records it in the trace.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use protocol::client::Packet;
use protocol::ecs::{split_line_bytes, AuthLine, Reply, Request};
use protocol::peer::PeerMessage;
use protocol::Limits;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Message, SentRequests, TraceHandle, What, SENT_REQUESTS_KEPT};

/// Which protocol a connection speaks (known from the port it was made to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The binary client protocol.
    Client,
    /// The ECS text protocol.
    Admin,
    /// The peer (Raft) protocol between members of one group.
    Peer,
}

/// Decodes one direction of one connection.
struct Tap {
    protocol: Protocol,
    /// Lines from the side that opened the connection are requests; the other side's are
    /// replies.
    requests: bool,
    buf: BytesMut,
    broken: bool,
}

impl Tap {
    /// Records one binary frame's decoding; false when the buffer holds no more frames
    /// (or never will: garbage stops the tap).
    fn take<M>(
        &mut self,
        decoded: Result<Option<(M, usize)>, protocol::DecodeError>,
        wrap: impl FnOnce(M) -> Message,
        out: &mut Vec<Message>,
    ) -> bool {
        match decoded {
            Ok(Some((m, used))) => {
                let _ = self.buf.split_to(used);
                out.push(wrap(m));
                true
            }
            Ok(None) => false,
            Err(e) => {
                out.push(Message::Garbage(e.to_string()));
                self.broken = true;
                false
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        if self.broken {
            return out;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            match self.protocol {
                Protocol::Client => {
                    let decoded = Packet::decode(&self.buf, &Limits::DEFAULT);
                    if !self.take(decoded, Message::Client, &mut out) {
                        return out;
                    }
                }
                // The harness configures every member with the default limits, so this
                // decodes exactly what the receiving member accepts.
                Protocol::Peer => {
                    let decoded = PeerMessage::decode(&self.buf, &Limits::DEFAULT);
                    if !self.take(decoded, Message::Peer, &mut out) {
                        return out;
                    }
                }
                Protocol::Admin => {
                    match split_line_bytes(&self.buf, protocol::ecs::DEFAULT_MAX_LINE_LEN) {
                        Ok(Some((line, used))) => {
                            let text = String::from_utf8_lossy(line).into_owned();
                            let _ = self.buf.split_to(used);
                            if text.trim().is_empty() {
                                continue;
                            }
                            let msg = if let Ok(auth) = AuthLine::parse(&text) {
                                Ok(Message::Auth(auth))
                            } else if self.requests {
                                Request::parse(&text).map(Message::AdminRequest)
                            } else {
                                Reply::parse(&text).map(Message::AdminReply)
                            };
                            out.push(
                                msg.unwrap_or_else(|e| Message::Garbage(format!("{text:?}: {e}"))),
                            );
                        }
                        Ok(None) => return out,
                        Err(e) => {
                            out.push(Message::Garbage(e.to_string()));
                            self.broken = true;
                            return out;
                        }
                    }
                }
            }
        }
    }
}

/// A stream that records every message written to and read from it.
pub struct TracedStream<S> {
    inner: S,
    trace: TraceHandle,
    host: Rc<str>,
    peer: Rc<str>,
    /// This end's number (see [`crate::trace::Event::conn`]).
    conn: u32,
    sent: Tap,
    received: Tap,
}

impl<S> TracedStream<S> {
    /// Wraps `inner`, a connection between `host` (this end) and `peer`. `opened_here`
    /// says whether this end opened the connection (and so sends the requests).
    pub fn new(
        inner: S,
        trace: TraceHandle,
        host: Rc<str>,
        peer: Rc<str>,
        protocol: Protocol,
        opened_here: bool,
    ) -> Self {
        let tap = |requests| Tap {
            protocol,
            requests,
            buf: BytesMut::new(),
            broken: false,
        };
        let conn = trace.borrow_mut().next_conn();
        TracedStream {
            inner,
            conn,
            trace,
            host,
            peer,
            sent: tap(opened_here),
            received: tap(!opened_here),
        }
    }
}

impl<S> TracedStream<S> {
    /// Appends `msgs` to the trace at the current simulated time, each made an event by
    /// `event(this host, the peer, message)`.
    fn record(&self, msgs: Vec<Message>, event: impl Fn(Rc<str>, Rc<str>, Message) -> What) {
        if msgs.is_empty() {
            return;
        }
        let at = now();
        let mut trace = self.trace.borrow_mut();
        for msg in msgs {
            trace.push_on(
                at,
                event(self.host.clone(), self.peer.clone(), msg),
                self.conn,
            );
        }
    }
}

impl<S> TracedStream<S> {
    /// Keeps the first bytes of the requests this end writes (see
    /// [`crate::trace::Trace::sent_requests`]).
    fn keep_sent(&self, bytes: &[u8]) {
        let mut trace = self.trace.borrow_mut();
        let kept = trace
            .sent_requests
            .entry(self.conn)
            .or_insert_with(|| SentRequests {
                at: now(),
                host: self.host.clone(),
                peer: self.peer.clone(),
                bytes: Vec::new(),
            });
        let room = SENT_REQUESTS_KEPT.saturating_sub(kept.bytes.len());
        kept.bytes
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

impl<S: AsyncRead + Unpin> AsyncRead for TracedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            let msgs = this.received.feed(&buf.filled()[before..]);
            this.record(msgs, |host, peer, msg| What::Recv {
                host,
                from: peer,
                msg,
            });
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TracedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &result {
            // Control and peer connections alike: a rogue may replay either.
            if this.sent.protocol != Protocol::Client && this.sent.requests {
                this.keep_sent(&data[..*n]);
            }
            let msgs = this.sent.feed(&data[..*n]);
            this.record(msgs, |host, peer, msg| What::Send {
                from: host,
                to: peer,
                msg,
            });
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
