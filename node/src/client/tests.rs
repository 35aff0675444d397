//! The client against a network whose every connect hangs: which failed connects hold an
//! address back from the next operations (`redial`).

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::DuplexStream;

use super::{Client, ClientConfig, ClientError};
use crate::io::{Network, NoListener, Rng};

/// A network where a connect never completes (a held link, a frozen host); it counts the
/// dials.
#[derive(Clone, Default)]
struct Silent {
    dials: Rc<Cell<u32>>,
}

impl Network for Silent {
    type Stream = DuplexStream;
    type Listener = NoListener;
    async fn bind(&self, _addr: &str) -> io::Result<NoListener> {
        Err(io::ErrorKind::Unsupported.into())
    }
    async fn connect(&self, _addr: &str) -> io::Result<DuplexStream> {
        self.dials.set(self.dials.get() + 1);
        std::future::pending().await
    }
}

fn client(net: &Silent, deadline: Duration, attempt_timeout: Duration) -> Client<Silent> {
    let config = ClientConfig {
        seeds: vec!["n1:7001".into()],
        deadline,
        attempt_timeout,
        ..ClientConfig::default()
    };
    Client::new(net.clone(), config, Rng::from_seed(5))
}

#[tokio::test(start_paused = true)]
async fn a_connect_cut_short_by_the_deadline_does_not_hold_the_address_back() {
    let net = Silent::default();
    let mut c = client(&net, Duration::from_millis(300), Duration::from_secs(2));
    assert!(matches!(c.get("k").await, Err(ClientError::Timeout { .. })));
    assert_eq!(net.dials.get(), 1);
    // The connect had 300 ms of a 2 s attempt: that says nothing of the node, so the
    // next operation dials it at once.
    assert!(matches!(c.get("k").await, Err(ClientError::Timeout { .. })));
    assert_eq!(net.dials.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_connect_silent_for_a_whole_attempt_holds_the_address_back() {
    let net = Silent::default();
    let mut c = client(&net, Duration::from_millis(500), Duration::from_millis(100));
    let err = c.get("k").await.unwrap_err().to_string();
    assert!(
        err.contains("no answer from n1:7001 within 100ms while connecting"),
        "{err}"
    );
    assert_eq!(
        net.dials.get(),
        1,
        "held back for 1 s after a whole attempt's silence"
    );
    assert!(c.get("k").await.is_err());
    assert_eq!(
        net.dials.get(),
        1,
        "still within the wait, across operations"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(c.get("k").await.is_err());
    assert_eq!(net.dials.get(), 2, "dialled again once the wait is over");
}
