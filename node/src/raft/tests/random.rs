//! The property test: many seeds, each drawing a cluster size and a random schedule of
//! partitions, message loss and delay, crashes (also in the middle of handling a `Ready`,
//! and power losses after a few more disk calls, which can strike in the middle of a
//! write), restarts, proposals, reads and compactions. Members persist through the node's
//! `RaftStore` on disks that keep only what was synced.
//!
//! Safety phase: faults on; the harness asserts on every step that no term has two
//! leaders, that no index is ever applied with two different entries, and that no read
//! misses a commit seen before it started. Liveness phase: faults off, every member up;
//! the cluster must elect a leader, commit a new entry everywhere, and end with every
//! applied sequence a prefix of the longest.

use protocol::peer::PeerId;

use super::harness::{ids, Cluster, Net};
use super::host::PowerLoss;
use crate::io::Rng;

/// Seeds run by `random_schedules_keep_raft_safe`. `RAFT_SEEDS=n` runs seeds `0..n`
/// instead, `RAFT_SEED=s` only seed `s`, printing its options (add `RAFT_TRACE=1` for a
/// line per `Ready`).
const SEEDS: u64 = 200;
/// Ticks of the safety phase.
const FAULT_TICKS: u64 = 600;

#[derive(Debug, Default)]
struct Totals {
    elections: usize,
    applied: usize,
    crashes: usize,
    power_losses: usize,
    snapshots: usize,
    reads: usize,
    lost_reads: usize,
}

fn pick(rng: &mut Rng, from: &[PeerId]) -> Option<PeerId> {
    (!from.is_empty()).then(|| from[rng.range(0, from.len() as u64) as usize])
}

fn run_schedule(seed: u64, totals: &mut Totals) {
    let mut rng = Rng::from_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let n = [1, 3, 3, 5, 5][rng.range(0, 5) as usize];
    let chunk = rng.range(16, 200) as usize;
    let mut c = Cluster::with_config(n, seed, |cfg| {
        cfg.snapshot_chunk_bytes = chunk;
        cfg.max_append_entries = 8;
    });
    c.net = Net {
        drop_per_mille: rng.range(0, 150),
        delay_ticks: (0, rng.range(0, 4)),
    };
    if std::env::var_os("RAFT_SEED").is_some() {
        eprintln!(
            "seed {seed}: {n} members, snapshot chunks of {chunk} bytes, {:?}",
            c.net
        );
    }
    let members = ids(n);
    let mut next_cmd = 0u64;
    let mut next_read = 0u64;
    for _ in 0..FAULT_TICKS {
        let roll = rng.range(0, 1000);
        let up = c.up();
        let down: Vec<PeerId> = members.iter().copied().filter(|m| !c.is_up(*m)).collect();
        match roll {
            0..=9 => {
                // A random split into two sides.
                c.heal();
                let side: Vec<PeerId> = members
                    .iter()
                    .copied()
                    .filter(|_| rng.range(0, 2) == 0)
                    .collect();
                let rest: Vec<PeerId> = members
                    .iter()
                    .copied()
                    .filter(|m| !side.contains(m))
                    .collect();
                c.partition(&side, &rest);
            }
            10..=19 => c.heal(),
            20..=24 if down.len() < members.len() / 2 + 1 => {
                if let Some(victim) = pick(&mut rng, &up) {
                    totals.crashes += 1;
                    let node = c.nodes.get_mut(&victim).expect("member");
                    // A Ready's entries take two disk calls, a snapshot fourteen: some
                    // power losses strike in the middle of the write, some later.
                    match rng.range(0, 4) {
                        0 => c.crash(victim),
                        1 => node.crash_in_ready = true,
                        2 => node.power_loss = Some(PowerLoss::InWrite(rng.range(0, 3))),
                        _ => node.power_loss = Some(PowerLoss::InSnapshot(rng.range(0, 15))),
                    }
                }
            }
            25..=39 => {
                if let Some(back) = pick(&mut rng, &down) {
                    c.restart(back);
                }
            }
            40..=49 => {
                if let Some(m) = pick(&mut rng, &up) {
                    c.compact(m);
                }
            }
            _ => {}
        }
        if rng.range(0, 100) < 30 {
            if let Some(leader) = pick(&mut rng, &c.leaders()) {
                next_cmd += 1;
                c.propose(leader, &format!("s{seed}c{next_cmd}"));
            }
        }
        if rng.range(0, 100) < 10 {
            if let Some(leader) = pick(&mut rng, &c.leaders()) {
                next_read += 1;
                c.read(leader, next_read);
            }
        }
        c.tick();
    }

    // Liveness: no faults, everyone up.
    c.heal();
    c.net = Net::RELIABLE;
    for m in &members {
        if !c.is_up(*m) {
            c.restart(*m);
        } else {
            let node = c.nodes.get_mut(m).expect("member");
            node.crash_in_ready = false;
            node.power_loss = None;
            node.disk.keep_power();
        }
    }
    // A leader elected during the faults may still step down (check-quorum looks back one
    // election timeout), so a proposal may be lost: retry like a client would.
    let mut committed = None;
    for _ in 0..5 {
        let leader = c.elect(400);
        let (index, term) = c.propose(leader, "final").expect("leader accepts");
        let settled = c.run_until(200, |c| {
            members.iter().all(|m| c.nodes[m].app.last() >= index.0)
                || c.raft(leader).term() != term
        });
        let everywhere = members.iter().all(|m| c.nodes[m].app.last() >= index.0);
        let kept = c
            .history
            .applied
            .get(&index)
            .is_some_and(|e| e.data == "final");
        if settled && everywhere && kept {
            committed = Some(index);
            break;
        }
    }
    let Some(index) = committed else {
        panic!("seed {seed}: the cluster did not converge once faults stopped");
    };
    for m in &members {
        assert_eq!(
            c.nodes[m].app.applied.len() as u64,
            index.0,
            "seed {seed}: {m} has gaps"
        );
    }
    c.assert_prefixes();

    totals.elections += c.history.leaders.len();
    totals.applied += c.history.applied.len();
    totals.power_losses += c.nodes.values().map(|n| n.power_losses).sum::<usize>();
    totals.snapshots += c.history.delivered.get(&'S').copied().unwrap_or(0);
    totals.reads += c.nodes.values().map(|n| n.reads.len()).sum::<usize>();
    totals.lost_reads += c.nodes.values().map(|n| n.lost_reads.len()).sum::<usize>();
}

#[test]
fn random_schedules_keep_raft_safe() {
    let mut totals = Totals::default();
    let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    let seeds = match (env("RAFT_SEED"), env("RAFT_SEEDS")) {
        (Some(one), _) => one..one + 1,
        (None, Some(count)) => 0..count,
        (None, None) => 0..SEEDS,
    };
    let count = seeds.end - seeds.start;
    for seed in seeds {
        run_schedule(seed, &mut totals);
    }
    println!("{count} schedules: {totals:?}");
    if count < SEEDS {
        return;
    }
    // The schedules must actually exercise the machinery they are meant to test.
    assert!(totals.elections > SEEDS as usize * 2, "{totals:?}");
    assert!(totals.crashes > SEEDS as usize, "{totals:?}");
    assert!(totals.power_losses > SEEDS as usize / 4, "{totals:?}");
    assert!(totals.snapshots > 0, "{totals:?}");
    assert!(totals.reads > 0 && totals.lost_reads > 0, "{totals:?}");
}
