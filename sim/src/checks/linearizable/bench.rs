//! Large valid histories for timing the checker.
//!
//! Clients issue operations on shared keys, each one at a time; an operation takes effect
//! at a random instant inside its window (an unanswered one anywhere after its
//! invocation, even after the client gave up, or never), and the answers come from
//! applying the operations to real registers in the order of those instants. The history
//! is therefore linearizable by construction.

use std::time::Duration;

use bytes::Bytes;
use node::io::Rng;
use protocol::client::SessionTag;

use crate::workload::{FinalRead, History, Op, Outcome, Record};

/// How long a client waits before giving up on an operation.
const DEADLINE_US: u64 = 20_000;

/// An operation being generated.
struct Planned {
    client: usize,
    key: usize,
    op: Op,
    sequence: u64,
    invoked: Duration,
    completed: Duration,
    unanswered: bool,
    /// When it takes effect, if it does.
    point: Option<Duration>,
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// A valid concurrent history of `ops` operations over `keys` keys (`k0`, `k1`, ...) by
/// `clients` clients, a fraction `info_fraction` of them unanswered, with a final read of
/// every key; the same `seed` gives the same history. The mix is 40% get, 30% put, 10%
/// delete, 20% compare-and-set (mostly expecting a recent value of the key). Latencies
/// are 0.1–3 ms, one in twenty 5–50 ms, so operations on a key sometimes overlap.
pub fn bench_history(
    ops: usize,
    keys: usize,
    clients: usize,
    info_fraction: f64,
    seed: u64,
) -> History {
    let mut rng = Rng::from_seed(seed);
    let (keys, clients) = (keys.max(1), clients.max(1));
    let mut clock: Vec<Duration> = (0..clients).map(|_| us(rng.range(0, 1_000))).collect();
    let mut sequence = vec![0u64; clients];
    // The last few values written to each key, for compare-and-set to expect.
    let mut recent: Vec<Vec<Bytes>> = vec![Vec::new(); keys];
    let mut planned: Vec<Planned> = Vec::with_capacity(ops);
    for _ in 0..ops {
        // The client free first goes next, so the clients' operations interleave.
        let client = (0..clients).min_by_key(|&c| (clock[c], c)).unwrap_or(0);
        let invoked = clock[client];
        let key = rng.range(0, keys as u64) as usize;
        let mut value = |rng: &mut Rng| {
            sequence[client] += 1;
            let mut v = format!("c{}-v{}-", client + 1, sequence[client]);
            while v.len() < 16 {
                v.push((b'a' + rng.range(0, 26) as u8) as char);
            }
            Bytes::from(v)
        };
        let op = match rng.range(0, 10) {
            0..=3 => Op::Get,
            4..=6 => Op::Put(value(&mut rng)),
            7 => Op::Delete,
            _ => {
                let r = &recent[key];
                let expected = match rng.range(0, 4) {
                    0 => None,
                    _ if r.is_empty() => None,
                    _ => Some(r[rng.range(0, r.len() as u64) as usize].clone()),
                };
                Op::Cas {
                    expected,
                    new: value(&mut rng),
                }
            }
        };
        if let Op::Put(v) | Op::Cas { new: v, .. } = &op {
            let r = &mut recent[key];
            if r.len() == 3 {
                r.remove(0);
            }
            r.push(v.clone());
        }
        // A uniform draw in [0, 1) from the top 53 bits.
        let draw = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let unanswered = draw < info_fraction;
        let (completed, point) = if unanswered {
            let completed = invoked + us(DEADLINE_US);
            let point = (rng.range(0, 2) == 0).then(|| invoked + us(rng.range(0, 2 * DEADLINE_US)));
            (completed, point)
        } else {
            let latency = if rng.range(0, 20) == 0 {
                rng.range(5_000, 50_000)
            } else {
                rng.range(100, 3_000)
            };
            (
                invoked + us(latency),
                Some(invoked + us(rng.range(0, latency + 1))),
            )
        };
        clock[client] = completed + us(rng.range(0, 500));
        let seq = sequence[client];
        planned.push(Planned {
            client,
            key,
            op,
            sequence: seq,
            invoked,
            completed,
            unanswered,
            point,
        });
    }

    // Apply the operations in the order they took effect to get the answers.
    let mut order: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].point.is_some())
        .collect();
    order.sort_by_key(|&i| (planned[i].point, i));
    let mut state: Vec<Option<Bytes>> = vec![None; keys];
    let mut outcomes: Vec<Outcome> = vec![Outcome::Unknown("timed out".to_string()); planned.len()];
    for i in order {
        let p = &planned[i];
        let outcome = apply(&p.op, &mut state[p.key]);
        if !p.unanswered {
            outcomes[i] = outcome;
        }
    }

    let mut records: Vec<Record> = planned
        .iter()
        .zip(outcomes)
        .map(|(p, outcome)| Record {
            client: p.client as u32 + 1,
            process: p.client as u32,
            key: format!("k{}", p.key),
            session: (p.op != Op::Get).then_some(SessionTag {
                client_id: p.client as u64 + 1,
                sequence: p.sequence,
            }),
            op: p.op.clone(),
            invoked: p.invoked,
            completed: p.completed,
            // Generated times are exact, so their order is the event order (equal times
            // count as concurrent).
            invoke_seq: nanos(p.invoked),
            complete_seq: nanos(p.completed),
            outcome,
        })
        .collect();
    // A history lists operations in completion order.
    records.sort_by_key(|r| r.completed);

    // The verifier reads every key once everything, late effects included, is over.
    let end = planned
        .iter()
        .flat_map(|p| [Some(p.completed), p.point])
        .flatten()
        .max()
        .unwrap_or_default();
    let final_reads = (0..keys)
        .map(|k| {
            let invoked = end + us(1_000 + 100 * k as u64);
            let read = FinalRead {
                result: Ok(state[k].clone()),
                invoked,
                completed: invoked + us(50),
                invoke_seq: nanos(invoked),
                complete_seq: nanos(invoked + us(50)),
            };
            (format!("k{k}"), read)
        })
        .collect();
    History {
        records,
        final_reads,
        events: 0,
        in_flight: Default::default(),
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What `op` answers on a register holding `state`, and what it leaves there: the store's
/// semantics, which generated histories follow.
pub(super) fn apply(op: &Op, state: &mut Option<Bytes>) -> Outcome {
    match op {
        Op::Get => Outcome::Value(state.clone()),
        Op::Put(v) => {
            *state = Some(v.clone());
            Outcome::Stored
        }
        Op::Delete => Outcome::Deleted(state.take().is_some()),
        Op::Cas { expected, new } => {
            let swapped = state == expected;
            if swapped {
                *state = Some(new.clone());
            }
            Outcome::Cas {
                swapped,
                current: state.clone(),
            }
        }
    }
}
