//! What simulated clients do, and the history they record.
//!
//! Each client owns its keys (`c<i>-k<j>`), so every key has one writer whose operations
//! are sequential: that makes "the value a key must hold" exact to state, which the
//! no-lost-writes check relies on.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use node::client::{Client, ClientConfig, ClientError};
use node::io::Rng;
use protocol::client::SessionTag;

use crate::runtime::SimNet;
use crate::scenario::Scenario;

/// An operation a client issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Read.
    Get,
    /// Write this value.
    Put(Bytes),
    /// Remove.
    Delete,
    /// Write `new` if the key holds `expected` (`None`: absent).
    Cas {
        /// Expected current value.
        expected: Option<Bytes>,
        /// Value to write.
        new: Bytes,
    },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A get's answer.
    Value(Option<Bytes>),
    /// A put was acknowledged.
    Stored,
    /// A delete was acknowledged.
    Deleted(bool),
    /// A compare-and-set was answered.
    Cas {
        /// Whether it wrote.
        swapped: bool,
        /// The value after it.
        current: Option<Bytes>,
    },
    /// A definite refusal: the operation was not applied (see [`Outcome::kind`]).
    Failed(String),
    /// No answer: the operation may or may not have been applied.
    Unknown(String),
}

/// The three outcomes of a history record, as Jepsen names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutcomeKind {
    /// Answered: the result is what the store did.
    Ok,
    /// Definitely not applied.
    Fail,
    /// Unknown: it may have taken effect, at any point after its invocation, or never.
    Info,
}

impl OutcomeKind {
    /// `ok`, `fail` or `info`.
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Fail => "fail",
            OutcomeKind::Info => "info",
        }
    }
}

impl Outcome {
    /// Which of ok / fail / info this is.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Failed(_) => OutcomeKind::Fail,
            Outcome::Unknown(_) => OutcomeKind::Info,
            _ => OutcomeKind::Ok,
        }
    }

    /// The outcome of a client library error. Only errors that say nothing was applied
    /// are definite: a non-retryable 'e' from a node (the store refused the command), a
    /// handshake refusal, a configuration with no node and a command too large to send
    /// (nothing was sent). A timeout or a malformed answer leaves a write's effect unknown.
    pub fn from_error(e: &ClientError) -> Outcome {
        match e {
            ClientError::Server(_)
            | ClientError::Handshake { .. }
            | ClientError::NoSeeds
            | ClientError::TooLarge { .. } => Outcome::Failed(e.to_string()),
            ClientError::Timeout { .. } | ClientError::Protocol { .. } => {
                Outcome::Unknown(e.to_string())
            }
        }
    }
}

/// One operation from invocation to completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Client host number (from 1; 0 for the verifier).
    pub client: u32,
    /// The process that ran it, as Jepsen counts them: one per connection lane of a
    /// client (a client with `concurrency` N has N processes, each one operation at a
    /// time), the verifier last. Unique across the run.
    pub process: u32,
    /// The key.
    pub key: String,
    /// What was asked.
    pub op: Op,
    /// The session tag a write carried (client id, sequence); `None` for reads.
    pub session: Option<SessionTag>,
    /// Simulated time the client sent it.
    pub invoked: Duration,
    /// Simulated time the client got its answer or gave up.
    pub completed: Duration,
    /// Position of the invocation among all history events of the run (invocations and
    /// completions, counted from 0 in the order the simulation ran them). Finer than
    /// `invoked`: many events share one simulated tick, and this says which came first.
    pub invoke_seq: u64,
    /// Position of the completion among all history events of the run.
    pub complete_seq: u64,
    /// The answer.
    pub outcome: Outcome,
}

/// The verifier's read of one key after the run.
///
/// The verifier starts when the workload stops issuing operations, so a client's last
/// operation may still be in flight (up to `op_deadline`, longer than usual when the
/// cluster was disturbed): the read's window says which operations it may or may not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalRead {
    /// What it read (`Err`: it could not read the key before the recovery deadline).
    pub result: Result<Option<Bytes>, String>,
    /// Simulated time the verifier started reading the key (its first attempt).
    pub invoked: Duration,
    /// Simulated time it got the answer or gave up.
    pub completed: Duration,
    /// Position of its first attempt among all history events (see [`Record::invoke_seq`]).
    pub invoke_seq: u64,
    /// Position of its answer among all history events.
    pub complete_seq: u64,
}

/// Every operation of a run, in completion order.
#[derive(Debug, Default)]
pub struct History {
    /// The records.
    pub records: Vec<Record>,
    /// The verifier's final read of each key.
    pub final_reads: BTreeMap<String, FinalRead>,
    /// History events (invocations and completions) so far.
    pub events: u64,
    /// Operations invoked and not completed yet, by invocation position: each is already a
    /// record with an unknown outcome, so one still in flight when the run ends is
    /// judged as what it is (it may have taken effect), not forgotten.
    pub in_flight: BTreeMap<u64, Record>,
}

impl History {
    /// The position of a new history event: the simulation runs on one thread, so the
    /// order events are counted in is the order they happened.
    pub fn next_event(&mut self) -> u64 {
        self.events += 1;
        self.events - 1
    }

    /// Ends the history at `end`: every operation still in flight becomes a record with an
    /// unknown outcome (`info`), completed then.
    pub fn close(&mut self, end: Duration) {
        for (_, mut record) in std::mem::take(&mut self.in_flight) {
            record.completed = end;
            record.complete_seq = self.next_event();
            self.records.push(record);
        }
    }
}

/// The history shared by the simulated clients.
pub type HistoryHandle = Rc<RefCell<History>>;

/// The keys client `i` owns.
pub fn keys_of(client: u32, keys: u32) -> Vec<String> {
    (0..keys).map(|j| format!("c{client}-k{j}")).collect()
}

/// The keys every client shares.
pub fn shared_keys(count: u32) -> Vec<String> {
    (0..count).map(|j| format!("s{j}")).collect()
}

/// Every key of the workload: each client's own, then the shared ones.
pub fn all_keys(w: &crate::scenario::Workload) -> Vec<String> {
    (1..=w.clients)
        .flat_map(|i| keys_of(i, w.keys))
        .chain(shared_keys(w.shared_keys))
        .collect()
}

/// The Jepsen process number of lane `lane` of client `client` (from 1): lanes of one
/// client are consecutive, clients in order, from 0.
pub fn process_of(client: u32, lane: u32, concurrency: u32) -> u32 {
    (client - 1) * concurrency + lane
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// Runs `op` on `key` through `client` and records it as process `process` of client
/// host `id`.
pub async fn perform(
    client: &mut Client<SimNet>,
    (id, process): (u32, u32),
    key: &str,
    op: Op,
    history: &HistoryHandle,
) -> Outcome {
    let invoked = now();
    let invoke_seq = history.borrow_mut().next_event();
    let session = (!matches!(op, Op::Get)).then(|| SessionTag {
        client_id: client.client_id(),
        sequence: client.next_sequence(),
    });
    let pending = Record {
        client: id,
        process,
        key: key.to_string(),
        op: op.clone(),
        session,
        invoked,
        completed: invoked,
        invoke_seq,
        complete_seq: invoke_seq,
        outcome: Outcome::Unknown("still in flight when the run ended".to_string()),
    };
    history.borrow_mut().in_flight.insert(invoke_seq, pending);
    let k = Bytes::copy_from_slice(key.as_bytes());
    let result: Result<Outcome, ClientError> = match &op {
        Op::Get => client.get(k).await.map(Outcome::Value),
        Op::Put(v) => client.put(k, v.clone()).await.map(|()| Outcome::Stored),
        Op::Delete => client.delete(k).await.map(Outcome::Deleted),
        Op::Cas { expected, new } => client
            .compare_and_set(k, expected.clone(), new.clone())
            .await
            .map(|c| Outcome::Cas {
                swapped: c.swapped,
                current: c.current,
            }),
    };
    let outcome = result.unwrap_or_else(|e| Outcome::from_error(&e));
    let mut history = history.borrow_mut();
    history.in_flight.remove(&invoke_seq);
    let complete_seq = history.next_event();
    history.records.push(Record {
        client: id,
        process,
        key: key.to_string(),
        op,
        session,
        invoked,
        completed: now(),
        invoke_seq,
        complete_seq,
        outcome: outcome.clone(),
    });
    outcome
}

/// A client library configured for the simulation.
pub fn sim_client(net: SimNet, seeds: Vec<String>, deadline: Duration, rng: Rng) -> Client<SimNet> {
    let config = ClientConfig {
        seeds,
        deadline,
        attempt_timeout: Duration::from_secs(1),
        ..ClientConfig::default()
    };
    Client::new(net, config, rng)
}

/// The body of client host `c<id>`: `concurrency` lanes, each its own connection and
/// session, running at once (see [`run_lane`]).
pub async fn run_client(
    scenario: Rc<Scenario>,
    id: u32,
    net: SimNet,
    seeds: Vec<String>,
    mut rng: Rng,
    history: HistoryHandle,
) {
    let lanes: Vec<_> = (0..scenario.workload.concurrency.max(1))
        .map(|lane| {
            let lane_rng = rng.fork();
            let fut = run_lane(
                scenario.clone(),
                (id, lane),
                net.clone(),
                seeds.clone(),
                lane_rng,
                history.clone(),
            );
            // Lanes hold `Rc`s (the trace, the history), so they are local tasks; the
            // host runs on turmoil's single-threaded, seeded runtime.
            tokio::task::spawn_local(fut)
        })
        .collect();
    for lane in lanes {
        // A lane's panic is caught by the harness's panic hook and reported there.
        let _ = lane.await;
    }
}

/// One lane of client `c<id>`: write every key it owns once (client `id`'s keys `j` with
/// `j % concurrency == lane`, so each owned key has one sequential writer), then random
/// operations on its own keys and the shared keys at its share of the client's rate until
/// the workload stops. Every value written is unique: `c<id>.<lane>-v<n>-` then padding.
pub async fn run_lane(
    scenario: Rc<Scenario>,
    (id, lane): (u32, u32),
    net: SimNet,
    seeds: Vec<String>,
    mut rng: Rng,
    history: HistoryHandle,
) {
    let w = &scenario.workload;
    let lanes = w.concurrency.max(1);
    let who = (id, process_of(id, lane, lanes));
    let mut client = sim_client(net, seeds, w.op_deadline, rng.fork());
    tokio::time::sleep(w.start).await;
    let owned: Vec<String> = keys_of(id, w.keys)
        .into_iter()
        .enumerate()
        .filter(|(j, _)| *j as u32 % lanes == lane)
        .map(|(_, k)| k)
        .collect();
    let keys: Vec<String> = owned
        .iter()
        .cloned()
        .chain(shared_keys(w.shared_keys))
        .collect();
    let mut seq = 0u64;
    let mut value = |rng: &mut Rng| {
        seq += 1;
        let mut v = format!("c{id}.{lane}-v{seq}-");
        while v.len() < w.value_size {
            v.push((b'a' + (rng.next_u64() % 26) as u8) as char);
        }
        Bytes::from(v)
    };
    // What this lane last saw each key hold: exact for its own keys, a guess for shared.
    let mut known: BTreeMap<String, Option<Bytes>> = BTreeMap::new();
    for key in &owned {
        let v = value(&mut rng);
        if perform(&mut client, who, key, Op::Put(v.clone()), &history).await == Outcome::Stored {
            known.insert(key.clone(), Some(v));
        }
    }
    let stop = scenario.workload_stop();
    let interval_us = (1e6 * f64::from(lanes) / w.rate).max(1.0) as u64;
    let (get, put, delete, cas) = (
        u64::from(w.mix.get),
        u64::from(w.mix.put),
        u64::from(w.mix.delete),
        u64::from(w.mix.cas),
    );
    let total = (get + put + delete + cas).max(1);
    while now() < stop && !keys.is_empty() {
        let key = &keys[rng.range(0, keys.len() as u64) as usize];
        let pick = rng.range(0, total);
        let op = if pick < get {
            Op::Get
        } else if pick < get + put {
            Op::Put(value(&mut rng))
        } else if pick < get + put + delete {
            Op::Delete
        } else {
            // Mostly the value the lane believes is there, sometimes a stale guess.
            let believed = known.get(key).cloned().flatten();
            let expected = if rng.range(0, 4) == 0 { None } else { believed };
            Op::Cas {
                expected,
                new: value(&mut rng),
            }
        };
        let outcome = perform(&mut client, who, key, op.clone(), &history).await;
        match (&op, &outcome) {
            (_, Outcome::Value(v)) => {
                known.insert(key.clone(), v.clone());
            }
            (Op::Put(v), Outcome::Stored) => {
                known.insert(key.clone(), Some(v.clone()));
            }
            (_, Outcome::Deleted(_)) => {
                known.insert(key.clone(), None);
            }
            (_, Outcome::Cas { current, .. }) => {
                known.insert(key.clone(), current.clone());
            }
            (_, Outcome::Failed(_)) => {}
            _ => {
                known.remove(key);
            }
        }
        let pause = interval_us / 2 + rng.range(0, interval_us);
        tokio::time::sleep(Duration::from_micros(pause)).await;
    }
}

/// The body of the verifier host: read every key once the run is over.
///
/// Each key has `deadline` from when its read starts, so a run with many keys and slow
/// links is not failed for the sum of its reads. Once one key could not be read, the keys
/// after it share one last `deadline`: a cluster that stays down costs two deadlines, not
/// one per key. `progress` is set to the time of every read finished.
pub async fn run_verifier(
    keys: Vec<String>,
    mut client: Client<SimNet>,
    history: HistoryHandle,
    deadline: Duration,
    progress: Rc<Cell<Duration>>,
) {
    let mut shared_give_up = None;
    for key in keys {
        let invoked = now();
        let give_up = shared_give_up.unwrap_or(invoked + deadline);
        let invoke_seq = history.borrow_mut().next_event();
        let mut last = String::new();
        let mut result = None;
        while now() < give_up {
            match client.get(Bytes::copy_from_slice(key.as_bytes())).await {
                Ok(v) => {
                    result = Some(Ok(v));
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        if result.is_none() && shared_give_up.is_none() {
            shared_give_up = Some(now() + deadline);
        }
        progress.set(now());
        let result = result.unwrap_or_else(|| {
            Err(if last.is_empty() {
                "the recovery deadline passed before it could be read".to_string()
            } else {
                format!("could not read it before the recovery deadline: {last}")
            })
        });
        let mut history = history.borrow_mut();
        let read = FinalRead {
            result,
            invoked,
            completed: now(),
            invoke_seq,
            complete_seq: history.next_event(),
        };
        history.final_reads.insert(key, read);
    }
}
