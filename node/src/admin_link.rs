//! Outgoing ECS-protocol requests: one cached connection per address, a timeout on every
//! step, and a retry loop for requests that must eventually succeed.

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::ecs::{Reply, Request};

use crate::io::Network;
use crate::lines::{LineConn, LineError};

/// How an [`AdminLink`] waits and retries.
#[derive(Debug, Clone, Copy)]
pub struct LinkTiming {
    /// Longest wait for a connect or for one reply.
    pub attempt_timeout: Duration,
    /// Pause before retrying after a failure.
    pub retry_pause: Duration,
}

impl Default for LinkTiming {
    fn default() -> Self {
        LinkTiming {
            attempt_timeout: Duration::from_secs(2),
            retry_pause: Duration::from_millis(200),
        }
    }
}

/// Sends requests to other hosts' admin ports.
pub struct AdminLink<N: Network> {
    net: N,
    timing: LinkTiming,
    max_line_len: usize,
    conns: BTreeMap<String, LineConn<N::Stream>>,
}

impl<N: Network> AdminLink<N> {
    /// A link with no open connections.
    pub fn new(net: N, timing: LinkTiming, max_line_len: usize) -> Self {
        AdminLink {
            net,
            timing,
            max_line_len,
            conns: BTreeMap::new(),
        }
    }

    /// Sends one request to `addr` and returns its reply. A failed connection is dropped,
    /// so the next call reconnects.
    pub async fn send(&mut self, addr: &str, request: &Request) -> Result<Reply, LineError> {
        if !self.conns.contains_key(addr) {
            let stream = tokio::time::timeout(self.timing.attempt_timeout, self.net.connect(addr))
                .await
                .map_err(|_| timed_out("connect"))??;
            self.conns
                .insert(addr.to_owned(), LineConn::new(stream, self.max_line_len));
        }
        let conn = self.conns.get_mut(addr).expect("inserted above");
        let result =
            match tokio::time::timeout(self.timing.attempt_timeout, conn.request(request)).await {
                Ok(r) => r,
                Err(_) => Err(timed_out("reply")),
            };
        if result.is_err() {
            self.conns.remove(addr);
        }
        result
    }

    /// Sends `request` to `addr` until it is answered `ok`, pausing between attempts.
    /// Every failure is logged with `what` for context.
    pub async fn send_until_ok(&mut self, addr: &str, request: &Request, what: &str) {
        loop {
            match self.send(addr, request).await {
                Ok(Reply::Ok) => return,
                Ok(other) => {
                    tracing::warn!(to = addr, %what, reply = %other.to_line(), "refused; retrying")
                }
                Err(e) => tracing::debug!(to = addr, %what, error = %e, "failed; retrying"),
            }
            tokio::time::sleep(self.timing.retry_pause).await;
        }
    }

    /// Closes the connection to `addr`, if any.
    pub fn forget(&mut self, addr: &str) {
        self.conns.remove(addr);
    }
}

fn timed_out(step: &str) -> LineError {
    LineError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{step} timed out"),
    ))
}
