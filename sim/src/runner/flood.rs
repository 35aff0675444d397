//! Holding and releasing links without overflowing a listen queue at the release.
//!
//! Turmoil delivers every message a held link kept in the step after its release, and
//! panics when more SYNs reach one listen queue in a step than it holds ([`LISTEN_QUEUE`]),
//! where a kernel would drop the SYN (and would never queue the SYN of a connect its
//! client gave up on: turmoil's accept skips those, but only after they filled the queue).
//! The healthy retries of many hosts held for long enough always fill it: about 13 nodes
//! retrying an ECS paused for 35 s did (`sim explore`, seed 1493 of
//! ecs-held-half-a-minute-fills-listen-queue-47). So a release that would put more SYNs
//! on one listener than the queue holds, the only releases that made turmoil panic,
//! delivers that listener's SYNs [`BATCH`] per step instead (the listener accepts, or
//! skips, each batch before the next arrives); every other release is turmoil's own, so a
//! run that never made such a release runs as before, step for step.
//!
//! What the panic also caught was a reconnect storm: one host dialling a silent address
//! over and over (review-pipeline-held-link-to-receiver-leader: 264 to 328 SYNs of one
//! host when its probe gate is taken out). A storm is one host's, a pile-up of healthy
//! retries is many hosts' few each (about 13 nodes' 300; two clients' 132 each for five
//! lanes held 30 s), so the `connect_flood` check fails a run where one host alone put
//! more SYNs on the held links to one listener than its queue holds: the old panic, for
//! the overflows one host makes by itself. A count per hold grows with the hold's length
//! too (one task dialling every second for over four minutes would reach it), and with a
//! host's tasks: a client of 40 lanes, each waiting 1 s to 4 s between dials, in 30 s.
//!
//! While a release drains, its links stay held and the runner delivers what they keep
//! each step, so a message sent on one in that time arrives a step later, not after the
//! link's latency; this touches only runs that made such a release.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use turmoil::{Protocol, Segment};

use super::{fault, World};
use crate::checks::Failure;
use crate::scenario::duration::format_duration;

/// The listen queue of every simulated socket (turmoil's `tcp_capacity`, which also sizes
/// each stream's buffer). Turmoil's default of 64 was filled by one node's healthy retries
/// on a link to the ECS held for half a minute (regression
/// ecs-held-half-a-minute-fills-listen-queue-47); no shipped trace changed at 256.
pub(crate) const LISTEN_QUEUE: usize = 256;

/// SYNs a flooded listener gets per step while the release drains.
const BATCH: usize = 64;

/// Most SYNs one host may have put on the held links to one listener when they are
/// released in a flood: what would not overflow its queue by themselves.
const ONE_HOST_LIMIT: usize = LISTEN_QUEUE;

/// A host pair, in name order, as the runner holds and releases links.
type Pair = (String, String);

fn pair(a: &str, b: &str) -> Pair {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// Links the runner holds, releases not yet carried out, and a release being drained.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// Every pair held and not yet released (those draining included).
    pairs: BTreeSet<Pair>,
    /// Pairs to release before the next step, in the order asked: a release that spans
    /// several links (the ECS's, at a resume or the heal) is judged as a whole.
    releasing: Vec<Pair>,
    /// The pairs still held while their SYNs to `flooded` listeners go out in batches.
    draining: BTreeSet<Pair>,
    /// The listeners being fed in batches.
    flooded: BTreeSet<SocketAddr>,
    /// One-way cuts (from, to) of draining links, made again when the drain releases them
    /// (turmoil's release mends a cut).
    cut_after_drain: Vec<Pair>,
    /// `connect_flood` failures found at releases.
    failures: Vec<Failure>,
}

impl Held {
    /// The `connect_flood` failures found so far.
    pub(crate) fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    /// Forgets the one-way cut of `p` that a drain's end would make again.
    fn forget_cut(&mut self, p: &Pair) {
        self.cut_after_drain.retain(|(f, t)| pair(f, t) != *p);
    }
}

/// The pair of `a` and `b`, after carrying out the releases asked earlier in this step if
/// it is among them: a change of the link comes after its release, as it was asked.
fn released_first(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    a: &str,
    b: &str,
    now: Duration,
) -> Pair {
    let p = pair(a, b);
    if world.held.releasing.contains(&p) {
        flush(sim, world, now);
    }
    p
}

/// Holds the link between `a` and `b`.
pub(crate) fn hold(sim: &mut turmoil::Sim<'_>, world: &mut World, a: &str, b: &str, now: Duration) {
    let p = released_first(sim, world, a, b, now);
    sim.hold(a, b);
    // A new hold of a draining link holds what is left of it again (and, as turmoil's
    // hold does, both ways: a one-way cut is not made again).
    world.held.draining.remove(&p);
    world.held.forget_cut(&p);
    world.held.pairs.insert(p);
}

/// Cuts the link between `a` and `b` both ways. A release asked earlier in this step is
/// carried out first; the link is no longer drained (turmoil drops what it kept), since
/// the drain's release would mend the cut.
pub(crate) fn partition(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    a: &str,
    b: &str,
    now: Duration,
) {
    let p = released_first(sim, world, a, b, now);
    world.held.draining.remove(&p);
    world.held.pairs.remove(&p);
    world.held.forget_cut(&p);
    sim.partition(a, b);
}

/// Cuts the link from `a` to `b`. A release asked earlier in this step is carried out
/// first; a draining link still drains the other way, and is cut again once the drain
/// releases it.
pub(crate) fn partition_oneway(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    a: &str,
    b: &str,
    now: Duration,
) {
    let p = released_first(sim, world, a, b, now);
    if world.held.draining.contains(&p) {
        world
            .held
            .cut_after_drain
            .push((a.to_string(), b.to_string()));
    }
    sim.partition_oneway(a, b);
}

/// Mends the link between `a` and `b` without releasing what it holds; a one-way cut it
/// had is not made again after a drain.
pub(crate) fn repair(sim: &mut turmoil::Sim<'_>, world: &mut World, a: &str, b: &str) {
    world.held.forget_cut(&pair(a, b));
    sim.repair(a, b);
}

/// Releases the link between `a` and `b` before the next step (see [`flush`]).
pub(crate) fn release(world: &mut World, a: &str, b: &str) {
    let p = pair(a, b);
    if !world.held.releasing.contains(&p) {
        world.held.releasing.push(p);
    }
}

/// The IP addresses of a pair's hosts, in turmoil's order. Every name here was held or
/// released already, so turmoil knows it (a lookup of an unknown name would give it the
/// next address).
fn ips(sim: &turmoil::Sim<'_>, p: &Pair) -> (IpAddr, IpAddr) {
    let (a, b) = (sim.lookup(p.0.as_str()), sim.lookup(p.1.as_str()));
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Turmoil's address pair of each of `pairs`, to find their links among all of them.
fn by_ip<'p>(
    sim: &turmoil::Sim<'_>,
    pairs: impl Iterator<Item = &'p Pair>,
) -> BTreeMap<(IpAddr, IpAddr), Pair> {
    pairs.map(|p| (ips(sim, p), p.clone())).collect()
}

/// Calls `f` with each message kept on the links of `links` (sent, not yet delivered),
/// and the pair of its link.
fn each_sent<'p>(
    sim: &turmoil::Sim<'_>,
    links: &'p BTreeMap<(IpAddr, IpAddr), Pair>,
    mut f: impl FnMut(&'p Pair, turmoil::SentRef<'_>),
) {
    if links.is_empty() {
        return;
    }
    sim.links(|all| {
        for link in all {
            if let Some(p) = links.get(&link.pair()) {
                for sent in link {
                    f(p, sent);
                }
            }
        }
    });
}

fn is_syn(protocol: &Protocol) -> bool {
    matches!(protocol, Protocol::Tcp(Segment::Syn(_)))
}

fn host_port(sim: &turmoil::Sim<'_>, addr: SocketAddr) -> String {
    match sim.reverse_lookup(addr.ip()) {
        Some(host) => format!("{host}:{}", addr.port()),
        None => addr.to_string(),
    }
}

/// Before each step: carries out the releases asked since the last one, as turmoil does,
/// unless they would put more SYNs on one listener in one step than its queue holds (see
/// the module's doc); then feeds a draining release's next batch.
pub(crate) fn flush(sim: &mut turmoil::Sim<'_>, world: &mut World, now: Duration) {
    if !world.held.releasing.is_empty() {
        let asked = std::mem::take(&mut world.held.releasing);
        release_now(sim, world, &asked, now);
    }
    if !world.held.draining.is_empty() {
        drain_step(sim, world, now);
    } else if !world.held.flooded.is_empty() {
        // Every draining link was held again or cut: nothing is fed in batches any more.
        world.held.flooded.clear();
    }
}

fn release_now(sim: &mut turmoil::Sim<'_>, world: &mut World, asked: &[Pair], now: Duration) {
    // The held links among them (draining ones are left to their drain).
    let held = by_ip(
        sim,
        asked
            .iter()
            .filter(|p| world.held.pairs.contains(*p) && !world.held.draining.contains(*p)),
    );
    // SYNs the release would deliver, per listener and per sending host; and the
    // listeners each link has SYNs for.
    let mut syns: BTreeMap<SocketAddr, BTreeMap<IpAddr, usize>> = BTreeMap::new();
    let mut listeners: BTreeMap<&Pair, BTreeSet<SocketAddr>> = BTreeMap::new();
    each_sent(sim, &held, |p, sent| {
        if is_syn(sent.protocol()) {
            let (src, dst) = sent.pair();
            *syns.entry(dst).or_default().entry(src.ip()).or_default() += 1;
            listeners.entry(p).or_default().insert(dst);
        }
    });
    // A listener being drained takes any more SYNs through its drain too: on top of a
    // batch, even a release its queue would hold alone could overflow it (found by review).
    let mut flooded = BTreeSet::new();
    for (dst, from) in &syns {
        let over = from.values().sum::<usize>() > LISTEN_QUEUE;
        if (over || world.held.flooded.contains(dst)) && sim.is_host_running(dst.ip()) {
            flooded.insert(*dst);
        }
    }
    let draining: BTreeSet<Pair> = listeners
        .into_iter()
        .filter(|(_, to)| !to.is_disjoint(&flooded))
        .map(|(p, _)| p.clone())
        .collect();
    for p in asked {
        if world.held.draining.contains(p) || draining.contains(p) {
            continue;
        }
        sim.release(p.0.as_str(), p.1.as_str());
        world.held.pairs.remove(p);
    }
    for dst in &flooded {
        let from = &syns[dst];
        let total: usize = from.values().sum();
        let to = host_port(sim, *dst);
        if world.held.flooded.contains(dst) {
            fault(
                &world.trace,
                now,
                format!(
                    "release: {total} more held SYNs to {to}, which is being drained: they join it"
                ),
            );
            continue;
        }
        fault(
            &world.trace,
            now,
            format!(
                "release: {total} held SYNs to {to}, over its listen queue of {LISTEN_QUEUE}: \
                 delivered {BATCH} per step"
            ),
        );
        for (src, count) in from {
            if *count > ONE_HOST_LIMIT {
                let host = sim.reverse_lookup(*src).unwrap_or_else(|| src.to_string());
                world.held.failures.push(Failure::new(
                    "connect_flood",
                    format!(
                        "{host} put {count} connection attempts to {to} on held links, \
                         released at {}: more than its listen queue of {ONE_HOST_LIMIT} holds \
                         (a reconnect storm)",
                        format_duration(now)
                    ),
                ));
            }
        }
    }
    world.held.draining.extend(draining);
    world.held.flooded.extend(flooded);
}

/// Delivers what the draining links kept, but at most [`BATCH`] SYNs per flooded
/// listener; once none is left, releases the links.
fn drain_step(sim: &mut turmoil::Sim<'_>, world: &mut World, now: Duration) {
    let draining = by_ip(sim, world.held.draining.iter());
    let mut budget: BTreeMap<SocketAddr, usize> =
        world.held.flooded.iter().map(|d| (*d, BATCH)).collect();
    let mut left = 0;
    each_sent(sim, &draining, |_, sent| {
        if is_syn(sent.protocol()) {
            if let Some(b) = budget.get_mut(&sent.pair().1) {
                if *b == 0 {
                    left += 1;
                    return;
                }
                *b -= 1;
            }
        }
        sent.deliver();
    });
    if left == 0 {
        let released = std::mem::take(&mut world.held.draining);
        for p in &released {
            sim.release(p.0.as_str(), p.1.as_str());
            world.held.pairs.remove(p);
        }
        for (from, to) in std::mem::take(&mut world.held.cut_after_drain) {
            if released.contains(&pair(&from, &to)) {
                sim.partition_oneway(from.as_str(), to.as_str());
            }
        }
        world.held.flooded.clear();
        fault(
            &world.trace,
            now,
            "release: every held SYN delivered, the links released".to_string(),
        );
    }
}
