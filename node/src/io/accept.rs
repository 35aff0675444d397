//! The accept loop of the node's client, admin and peer ports and of the ECS's port.
//!
//! A failed `accept` is a passing condition of the machine, not of the listener: the
//! process is out of file descriptors for a moment, or a connection was aborted before it
//! was taken. The loop says so, waits and accepts again. It used to return the error, and
//! the node (or the ECS) stopped whole with it: a burst of connections on one port took a
//! replica out of its group and its group out of the ring. (The peer port already paused and
//! accepted again, a fixed 200 ms and silently; it now logs and backs off the same way.)

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use super::Listener;

/// The first wait after a failed accept; it doubles while accepts keep failing.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest wait between two accepts that fail.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Accepts connections on `listener` for ever and serves each on its own task. `port`
/// names the port in the warning a failed accept logs.
pub(crate) async fn accept_forever<L, F, Fut>(
    mut listener: L,
    port: &'static str,
    serve: F,
) -> Infallible
where
    L: Listener,
    F: Fn(L::Stream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let mut pause = FIRST_PAUSE;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                pause = FIRST_PAUSE;
                tokio::task::spawn_local(serve(stream, peer));
            }
            Err(error) => {
                tracing::warn!(%port, %error, ?pause, "accept failed; accepting again after a pause");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::io;
    use std::rc::Rc;

    use super::*;

    /// Hands out the scripted results in order, then waits for ever.
    struct Scripted(VecDeque<io::Result<tokio::io::DuplexStream>>);

    impl Listener for Scripted {
        type Stream = tokio::io::DuplexStream;

        async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
            match self.0.pop_front() {
                Some(result) => result.map(|s| (s, SocketAddr::from(([127, 0, 0, 1], 9)))),
                None => std::future::pending().await,
            }
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([127, 0, 0, 1], 1)))
        }
    }

    fn stream() -> io::Result<tokio::io::DuplexStream> {
        Ok(tokio::io::duplex(16).0)
    }

    fn failure(kind: io::ErrorKind) -> io::Result<tokio::io::DuplexStream> {
        Err(io::Error::new(kind, "scripted"))
    }

    /// Connections after failed accepts are still served: out of file descriptors
    /// (EMFILE has no error kind of its own) and an aborted connection, between two good
    /// ones, and the waits double while the failures go on.
    #[tokio::test(start_paused = true)]
    async fn failed_accepts_pause_the_loop_and_do_not_end_it() {
        let script = VecDeque::from([
            stream(),
            Err(io::Error::from_raw_os_error(24)),
            failure(io::ErrorKind::ConnectionAborted),
            failure(io::ErrorKind::Other),
            stream(),
        ]);
        let served = Rc::new(RefCell::new(Vec::new()));
        let log = served.clone();
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let looping = tokio::task::spawn_local(accept_forever(
                    Scripted(script),
                    "test",
                    move |_, _| {
                        log.borrow_mut().push(tokio::time::Instant::now());
                        async {}
                    },
                ));
                tokio::time::sleep(Duration::from_secs(5)).await;
                assert!(!looping.is_finished(), "the accept loop ended");
            })
            .await;
        let served = served.borrow();
        assert_eq!(served.len(), 2, "both connections served");
        // Paused time: the three waits are exactly 10, 20 and 40 ms.
        assert_eq!(served[1] - served[0], Duration::from_millis(70));
    }
}
