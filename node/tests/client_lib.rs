//! The client library against scripted fake nodes over real loopback TCP: redirects,
//! retryable refusals, session tags on resends, backoff, deadlines and final errors.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use node::client::{CasOutcome, Client, ClientConfig, ClientError};
use node::io::{Listener, Network, Rng, TokioListener, TokioNet};
use protocol::client::{Command, Outcome, Packet, Request, Response};
use protocol::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

type TestResult = Result<(), Box<dyn Error>>;

/// What a fake node does with one packet.
enum Act {
    Reply(Packet),
    ReplyAndClose(Packet),
    /// Answers only after this long (a busy node).
    ReplyAfter(Duration, Packet),
}

/// A fake node: every non-handshake packet it got, and how many connections it accepted.
struct Fake {
    log: Rc<RefCell<Vec<Packet>>>,
    conns: Rc<Cell<usize>>,
}

impl Fake {
    fn commands(&self) -> Vec<Request> {
        self.log
            .borrow()
            .iter()
            .filter_map(|p| match p {
                Packet::CommandRequest(body) => Request::decode(body, &Limits::DEFAULT).ok(),
                _ => None,
            })
            .collect()
    }

    fn count(&self, marker: u8) -> usize {
        self.log
            .borrow()
            .iter()
            .filter(|p| p.marker() == marker)
            .count()
    }
}

/// Runs `f` on a current-thread runtime inside a LocalSet, as the node's programs do.
fn run<F: Future<Output = TestResult>>(f: F) -> TestResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::LocalSet::new().block_on(&rt, f)
}

async fn bind() -> Result<(TokioListener, String), Box<dyn Error>> {
    let listener = TokioNet.bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    Ok((listener, addr))
}

/// Serves `listener`: the handshake is accepted (unless `bootstrap` says otherwise) and
/// every other packet goes to `script`.
fn serve(
    mut listener: TokioListener,
    bootstrap: Outcome,
    script: impl FnMut(&Packet) -> Act + 'static,
) -> Fake {
    let log = Rc::new(RefCell::new(Vec::new()));
    let conns = Rc::new(Cell::new(0));
    let script = Rc::new(RefCell::new(script));
    let fake = Fake {
        log: log.clone(),
        conns: conns.clone(),
    };
    tokio::task::spawn_local(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            conns.set(conns.get() + 1);
            let (log, script, bootstrap) = (log.clone(), script.clone(), bootstrap.clone());
            tokio::task::spawn_local(async move {
                let mut buf = BytesMut::new();
                loop {
                    let (packet, used) = match Packet::decode(&buf, &Limits::DEFAULT) {
                        Ok(Some(decoded)) => decoded,
                        Ok(None) => match stream.read_buf(&mut buf).await {
                            Ok(n) if n > 0 => continue,
                            _ => return,
                        },
                        Err(_) => return,
                    };
                    buf.advance(used);
                    let act = match packet {
                        Packet::AuthorizationRequest(_) => {
                            Act::Reply(Packet::AuthorizationResponse(Outcome::Accepted))
                        }
                        Packet::BootstrapRequest { .. } => match &bootstrap {
                            Outcome::Accepted => {
                                Act::Reply(Packet::BootstrapResponse(Outcome::Accepted))
                            }
                            rejected => {
                                Act::ReplyAndClose(Packet::BootstrapResponse(rejected.clone()))
                            }
                        },
                        other => {
                            log.borrow_mut().push(other.clone());
                            (script.borrow_mut())(&other)
                        }
                    };
                    let (reply, close) = match act {
                        Act::Reply(p) => (p, false),
                        Act::ReplyAndClose(p) => (p, true),
                        Act::ReplyAfter(delay, p) => {
                            tokio::time::sleep(delay).await;
                            (p, false)
                        }
                    };
                    if stream.write_all(&reply.to_bytes()).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    fake
}

fn config(seeds: &[&str], deadline: Duration) -> ClientConfig {
    ClientConfig {
        seeds: seeds.iter().map(|s| s.to_string()).collect(),
        deadline,
        attempt_timeout: Duration::from_millis(500),
        ..ClientConfig::default()
    }
}

fn client(config: ClientConfig) -> Client<TokioNet> {
    Client::new(TokioNet, config, Rng::from_seed(42))
}

fn metadata(addresses: &[&str], leader_id: i32, current_node_id: i32) -> Packet {
    Packet::ClusterMetadataResponse {
        addresses: addresses.iter().map(|s| s.to_string()).collect(),
        leader_id,
        current_node_id,
    }
}

fn answer(response: Response) -> Act {
    Act::Reply(Packet::CommandResponse(response.to_bytes()))
}

fn timeout_reason(result: Result<impl std::fmt::Debug, ClientError>) -> String {
    match result {
        Err(ClientError::Timeout { last_error, .. }) => last_error,
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn put_follows_a_redirect_then_retries_a_locked_range() -> TestResult {
    run(async {
        let (la, a) = bind().await?;
        let (lb, b) = bind().await?;
        let list = [a.as_str(), b.as_str()];
        let meta = metadata(&list, 1, 0);
        let fake_a = serve(la, Outcome::Accepted, move |p| match p {
            Packet::ClusterMetadataRequest => Act::Reply(meta.clone()),
            _ => Act::Reply(Packet::NotLeader(1)),
        });
        let mut refused = false;
        let fake_b = serve(lb, Outcome::Accepted, move |_| {
            if !refused {
                refused = true;
                return Act::Reply(Packet::ErrorResponse("retry: locked".into()));
            }
            answer(Response::Stored)
        });

        let mut c = client(config(&[&a], Duration::from_secs(5)));
        c.put("k", "v").await?;
        // A redirected and then told B's address; B refused once, then stored.
        assert_eq!(fake_a.count(b'C'), 1);
        assert_eq!(fake_a.count(b'M'), 1);
        let sent = fake_b.commands();
        assert_eq!(sent.len(), 2);
        let tag = sent[0].session.ok_or("a write must carry a session tag")?;
        assert_eq!(
            sent[1].session,
            Some(tag),
            "a resend reuses the session tag"
        );
        assert_eq!(tag.client_id, c.client_id());

        // The next write goes straight to B, on the same connection, with the next number.
        c.put("k", "w").await?;
        assert_eq!(fake_a.count(b'C'), 1);
        let sent = fake_b.commands();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[2].session.map(|t| t.sequence), Some(tag.sequence + 1));
        assert_eq!(fake_b.conns.get(), 1, "the connection is reused");
        Ok(())
    })
}

#[test]
fn no_leader_anywhere_times_out_with_the_reason_after_backing_off() -> TestResult {
    run(async {
        let (l, a) = bind().await?;
        let meta = metadata(&[a.as_str()], -1, 0);
        let fake = serve(l, Outcome::Accepted, move |p| match p {
            Packet::ClusterMetadataRequest => Act::Reply(meta.clone()),
            _ => Act::Reply(Packet::NotLeader(-1)),
        });
        let deadline = Duration::from_millis(300);
        let mut c = client(config(&[&a], deadline));
        let started = Instant::now();
        let reason = timeout_reason(c.get("k").await);
        let took = started.elapsed();
        assert!(reason.contains("knows no leader"), "{reason}");
        assert!(took >= deadline && took < deadline * 3, "took {took:?}");
        // Backoff from 10 ms doubling: a handful of tries in 300 ms, not thousands.
        let tries = fake.count(b'C');
        assert!((2..=15).contains(&tries), "{tries} tries");
        Ok(())
    })
}

#[test]
fn when_no_seed_answers_the_timeout_names_every_address_and_why() -> TestResult {
    run(async {
        let (la, a) = bind().await?;
        let (lb, b) = bind().await?;
        drop((la, lb));
        let mut c = client(config(&[&a, &b], Duration::from_millis(200)));
        let reason = timeout_reason(c.get("k").await);
        for addr in [&a, &b] {
            assert!(
                reason.contains(&format!("no node reachable at {addr}")),
                "{reason}"
            );
        }
        Ok(())
    })
}

#[test]
fn an_unreachable_seed_times_out_naming_the_address() -> TestResult {
    run(async {
        let (l, a) = bind().await?;
        drop(l);
        let mut c = client(config(&[&a], Duration::from_millis(200)));
        let reason = timeout_reason(c.put("k", "v").await);
        assert!(
            reason.contains(&format!("no node reachable at {a}")),
            "{reason}"
        );
        Ok(())
    })
}

#[test]
fn a_redirect_loop_backs_off_instead_of_spinning() -> TestResult {
    run(async {
        let (la, a) = bind().await?;
        let (lb, b) = bind().await?;
        let list = [a.as_str(), b.as_str()];
        let (meta_a, meta_b) = (metadata(&list, 1, 0), metadata(&list, 0, 1));
        let fake_a = serve(la, Outcome::Accepted, move |p| match p {
            Packet::ClusterMetadataRequest => Act::Reply(meta_a.clone()),
            _ => Act::Reply(Packet::NotLeader(1)),
        });
        let fake_b = serve(lb, Outcome::Accepted, move |p| match p {
            Packet::ClusterMetadataRequest => Act::Reply(meta_b.clone()),
            _ => Act::Reply(Packet::NotLeader(0)),
        });
        let mut c = client(config(&[&a], Duration::from_millis(300)));
        let reason = timeout_reason(c.delete("k").await);
        assert!(reason.contains("redirected to node"), "{reason}");
        let tries = fake_a.count(b'C') + fake_b.count(b'C');
        assert!((4..=60).contains(&tries), "{tries} tries in 300 ms");
        Ok(())
    })
}

#[test]
fn a_rejected_bootstrap_is_a_handshake_error() -> TestResult {
    run(async {
        let (l, a) = bind().await?;
        let rejected = Outcome::Rejected("major version 2 required".into());
        let _fake = serve(l, rejected, |_| answer(Response::Stored));
        let mut c = client(config(&[&a], Duration::from_secs(5)));
        match c.put("k", "v").await {
            Err(ClientError::Handshake {
                addr,
                stage,
                reason,
            }) => {
                assert_eq!((addr.as_str(), stage), (a.as_str(), "bootstrap"));
                assert_eq!(reason, "major version 2 required");
            }
            other => panic!("expected a handshake error, got {other:?}"),
        }
        Ok(())
    })
}

#[test]
fn a_non_retryable_error_is_final_and_a_wrong_answer_is_a_protocol_error() -> TestResult {
    run(async {
        let (l, a) = bind().await?;
        let fake = serve(l, Outcome::Accepted, |p| match p {
            Packet::CommandRequest(body) => match Request::decode(body, &Limits::DEFAULT) {
                Ok(Request {
                    command: Command::Put { .. },
                    ..
                }) => Act::Reply(Packet::ErrorResponse("value too large".into())),
                _ => answer(Response::Stored),
            },
            _ => Act::Reply(Packet::ErrorResponse("unexpected".into())),
        });
        let mut c = client(config(&[&a], Duration::from_secs(5)));
        match c.put("k", "v").await {
            Err(ClientError::Server(message)) => assert_eq!(message, "value too large"),
            other => panic!("expected a server error, got {other:?}"),
        }
        assert_eq!(fake.count(b'C'), 1, "a final error is not retried");
        match c.get("k").await {
            Err(ClientError::Protocol { detail, .. }) => {
                assert!(detail.contains("wanted a value, got stored"), "{detail}")
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
        Ok(())
    })
}

#[test]
fn answers_of_every_kind_are_decoded_and_reads_carry_no_session() -> TestResult {
    run(async {
        let (l, a) = bind().await?;
        let meta = metadata(&[a.as_str(), "10.0.0.2:7001"], 1, 0);
        let fake = serve(l, Outcome::Accepted, move |p| {
            let Packet::CommandRequest(body) = p else {
                return Act::Reply(meta.clone());
            };
            match Request::decode(body, &Limits::DEFAULT).map(|r| r.command) {
                Ok(Command::Get { .. }) => answer(Response::Value(Some(Bytes::from("v")))),
                Ok(Command::Delete { .. }) => answer(Response::Deleted(true)),
                Ok(Command::CompareAndSet { .. }) => answer(Response::CompareAndSet {
                    swapped: false,
                    current: Some(Bytes::from("x")),
                }),
                _ => Act::Reply(Packet::ErrorResponse("unexpected".into())),
            }
        });
        let mut c = client(config(&[&a], Duration::from_secs(5)));
        assert_eq!(c.get("k").await?, Some(Bytes::from("v")));
        assert!(c.delete("k").await?);
        let cas = c.compare_and_set("k", None, "n").await?;
        let expected = CasOutcome {
            swapped: false,
            current: Some(Bytes::from("x")),
        };
        assert_eq!(cas, expected);
        let m = c.metadata().await?;
        assert_eq!(m.addresses, vec![a.clone(), "10.0.0.2:7001".to_string()]);
        assert_eq!((m.leader_id, m.current_node_id), (1, 0));
        assert_eq!(m.answered_by, a);

        let sessions: Vec<_> = fake.commands().iter().map(|r| r.session).collect();
        assert!(sessions[0].is_none(), "a read carries no session tag");
        let seqs: Vec<_> = sessions[1..]
            .iter()
            .map(|s| s.map(|t| t.sequence))
            .collect();
        assert_eq!(seqs, vec![Some(1), Some(2)]);
        Ok(())
    })
}

/// A node that takes longer than the attempt timeout to answer a read (a leader busy
/// syncing): each resend is served from the start, so waiting the same short time again
/// never gets the answer. The client waits twice as long after each unanswered attempt.
#[test]
fn a_read_slower_than_the_attempt_timeout_is_answered_on_a_longer_attempt() -> TestResult {
    run(async {
        let (l, a) = bind().await?;
        let fake = serve(l, Outcome::Accepted, |_| {
            let value = Response::Value(Some(Bytes::from_static(b"v")));
            Act::ReplyAfter(
                Duration::from_millis(800),
                Packet::CommandResponse(value.to_bytes()),
            )
        });
        let mut config = config(&[&a], Duration::from_secs(4));
        config.attempt_timeout = Duration::from_millis(300);
        let mut c = client(config);
        assert_eq!(c.get("k").await?, Some(Bytes::from_static(b"v")));
        // 300 ms and 600 ms went unanswered; 1.2 s was long enough.
        assert_eq!(fake.commands().len(), 3);
        Ok(())
    })
}

#[test]
fn a_connection_the_node_closed_is_reopened() -> TestResult {
    run(async {
        let (l, a) = bind().await?;
        let fake = serve(l, Outcome::Accepted, |_| {
            Act::ReplyAndClose(Packet::CommandResponse(Response::Value(None).to_bytes()))
        });
        let mut c = client(config(&[&a], Duration::from_secs(5)));
        assert_eq!(c.get("k").await?, None);
        assert_eq!(c.get("k").await?, None);
        assert_eq!(fake.conns.get(), 2);
        Ok(())
    })
}

#[test]
fn no_seeds_is_an_immediate_error() -> TestResult {
    run(async {
        let mut c = client(ClientConfig::default());
        assert!(matches!(c.get("k").await, Err(ClientError::NoSeeds)));
        Ok(())
    })
}
