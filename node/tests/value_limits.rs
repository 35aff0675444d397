//! The documented size limit of a command, end to end on a real node: the largest put
//! the limit allows is stored and read back whole, one byte more fails in the client
//! with `TooLarge` (nothing sent; not a timeout after retrying a node that hangs up).

use std::time::Duration;

use bytes::Bytes;
use node::client::{Client, ClientConfig, ClientError};
use node::io::{Rng, TokioNet};
use node::server::{MAX_REQUEST_BYTES, PUT_FRAMING_BYTES};

mod common;

#[test]
fn the_largest_put_the_limit_allows_round_trips_and_one_byte_more_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    node::cli::run_local(async {
        let client_addr = common::start_ecs_and_node(dir.path()).client;
        let config = ClientConfig {
            seeds: vec![client_addr.clone()],
            deadline: Duration::from_secs(20),
            ..ClientConfig::default()
        };
        let mut client = Client::new(TokioNet, config, Rng::from_seed(2));
        let key = Bytes::from_static(b"k");
        let largest = MAX_REQUEST_BYTES - PUT_FRAMING_BYTES - key.len();
        let value: Bytes = (0..largest).map(|i| (i % 251) as u8).collect();
        client.put(key.clone(), value.clone()).await.unwrap();
        assert_eq!(client.get(key.clone()).await.unwrap(), Some(value));

        let too_large: Bytes = vec![7u8; largest + 1].into();
        let err = client.put(key.clone(), too_large).await.unwrap_err();
        assert!(
            matches!(err, ClientError::TooLarge { bytes, limit } if bytes == MAX_REQUEST_BYTES + 1 && limit == MAX_REQUEST_BYTES),
            "{err}"
        );
        // The refused put took no sequence number: the session goes on.
        client.put(key.clone(), Bytes::from_static(b"after")).await.unwrap();
        assert_eq!(
            client.get(key).await.unwrap(),
            Some(Bytes::from_static(b"after"))
        );
    })
    .expect("a current-thread runtime");
}
