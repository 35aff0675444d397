//! Carrying out the timeline's events (and the random faults) on the running simulation,
//! and healing everything before the liveness phase. Every action leaves a line in the
//! trace saying what was done to which host.

use std::time::Duration;

use super::plan::Plan;
use super::{fault, flood, hosts, operator, rogue, storage_faults, World};
use crate::scenario::duration::format_duration;
use crate::scenario::{Event, GroupLinks};
use crate::trace::leaders;

/// Repairs every cut link and releases every held one between the ECS, the nodes and
/// the clients.
fn heal_links(sim: &mut turmoil::Sim<'_>, world: &mut World) {
    let all = world.all_hosts();
    for a in &all {
        for b in &all {
            if a < b {
                flood::repair(sim, world, a, b);
                flood::release(world, a, b);
            }
        }
    }
}

/// Before the final reads: restart what is down and reconnect what is cut, so the
/// liveness phase runs on a healed cluster.
pub(super) fn heal_everything(sim: &mut turmoil::Sim<'_>, world: &mut World, now: Duration) {
    world.faults_over = true;
    storage_faults::disarm_io_errors(world);
    heal_links(sim, world);
    if world.ecs_down {
        sim.bounce("ecs");
        world.ecs_down = false;
    }
    let down: Vec<String> = std::mem::take(&mut world.down).into_iter().collect();
    for n in &down {
        if storage_faults::may_boot(sim, world, n, now, false) {
            sim.bounce(n.as_str());
        } else {
            world.down.insert(n.clone());
        }
    }
    if world.disturbed {
        fault(
            &world.trace,
            now,
            "faults end: every link healed, every host up".to_string(),
        );
    }
}

/// The started hosts of each side, and a note naming the others for the trace. A host a
/// fault names may not have started yet when its group joins on a trigger, or when the
/// explorer draws a fault for a group whose triggered join has not happened; turmoil
/// knows no link to it, so it is left out.
fn started_sides(world: &World, a: &[String], b: &[String]) -> (Vec<String>, Vec<String>, String) {
    let all = world.all_hosts();
    let (mut started, mut missing) = (Vec::new(), Vec::new());
    for side in [a, b] {
        let (s, m): (Vec<String>, Vec<String>) =
            side.iter().cloned().partition(|h| all.contains(h));
        started.push(s);
        missing.extend(m);
    }
    let note = if missing.is_empty() {
        String::new()
    } else {
        format!(" (not started yet, left out: {})", missing.join(" "))
    };
    let b = started.pop().unwrap_or_default();
    let a = started.pop().unwrap_or_default();
    (a, b, note)
}

/// Whether both hosts have started (see [`started_sides`]).
fn started_pair(world: &World, a: &str, b: &str) -> bool {
    let all = world.all_hosts();
    [a, b].iter().all(|h| all.iter().any(|x| x == h))
}

/// Carries out one timeline event (or random fault) at simulated time `now`.
/// Follow-ups (the release of a hold with `for`) are queued in `plan`.
pub(super) fn apply(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    event: &Event,
    now: Duration,
    plan: &mut Plan,
) {
    let trace = world.trace.clone();
    world.disturbed |= !matches!(
        event,
        Event::Join { .. } | Event::Remove { .. } | Event::SetPartSize { .. } | Event::Rogue { .. }
    );
    match event {
        Event::Join { count } => {
            for _ in 0..*count {
                let names = hosts::add_group(sim, world);
                let text = match names.as_slice() {
                    [name] => format!("start {name} (joins)"),
                    _ => format!(
                        "start group {}: {} (joins)",
                        world.groups.len(),
                        names.join(" ")
                    ),
                };
                fault(&trace, now, text);
            }
        }
        Event::Remove { group } => operator::start(sim, world, *group, now),
        Event::Crash { node } => crash_node(sim, world, node, now, ""),
        Event::CrashLeader { group } => {
            if let Some((node, why)) = leader_of(world, *group, now) {
                crash_node(sim, world, &node, now, &why);
            }
        }
        Event::IsolateLeader { group, length } => {
            isolate_leader(sim, world, *group, None, *length, now, plan);
        }
        Event::IsolateLeaderFromFollowers { group, length } => {
            let members = world.group(*group).unwrap_or_default();
            isolate_leader(sim, world, *group, Some(members), *length, now, plan);
        }
        Event::CrashGroup { group } => {
            let Some(members) = world.group(*group) else {
                return;
            };
            let up: Vec<String> = members
                .into_iter()
                .filter(|m| !world.down.contains(m))
                .collect();
            for m in &up {
                sim.crash(m.as_str());
                world.down.insert(m.clone());
            }
            let text = if up.is_empty() {
                format!("crash group {group}: every member is down already")
            } else {
                format!("crash group {group}: {} (power loss)", up.join(" "))
            };
            fault(&trace, now, text);
        }
        Event::RestartGroup { group } => {
            let Some(members) = world.group(*group) else {
                return;
            };
            // Only the members that are down: after crash_leader this brings back just the
            // old leader, and running members are never bounced.
            let mut down = Vec::new();
            for m in members {
                if world.down.contains(&m) && storage_faults::may_boot(sim, world, &m, now, true) {
                    world.down.remove(&m);
                    sim.bounce(m.as_str());
                    down.push(m);
                }
            }
            let text = if down.is_empty() {
                format!("restart group {group}: no member is down")
            } else {
                format!("restart group {group}: {}", down.join(" "))
            };
            fault(&trace, now, text);
        }
        Event::HealAll => {
            heal_links(sim, world);
            fault(
                &trace,
                now,
                "heal all: every link repaired, every hold released".to_string(),
            );
        }
        Event::Restart { node } => {
            if world.is_node(node) && storage_faults::may_boot(sim, world, node, now, true) {
                storage_faults::power_cycle(sim, world, node);
                fault(&trace, now, format!("restart {node}"));
            }
        }
        Event::Wipe { node } => {
            if world.is_node(node) {
                storage_faults::wipe(sim, world, node, now);
            }
        }
        Event::CrashEcs => {
            if !world.ecs_down {
                sim.crash("ecs");
                world.ecs_down = true;
                fault(&trace, now, "crash ecs (power loss)".to_string());
            }
        }
        Event::RestartEcs => {
            sim.bounce("ecs");
            world.ecs_down = false;
            fault(&trace, now, "restart ecs".to_string());
        }
        Event::PauseEcs | Event::ResumeEcs => {
            let others: Vec<String> = world.nodes().cloned().chain(world.clients()).collect();
            for h in &others {
                if matches!(event, Event::PauseEcs) {
                    flood::hold(sim, world, "ecs", h, now);
                } else {
                    flood::release(world, "ecs", h);
                }
            }
            let verb = if matches!(event, Event::PauseEcs) {
                "pause"
            } else {
                "resume"
            };
            fault(&trace, now, format!("{verb} ecs (hold its links)"));
        }
        Event::Partition { a, b } | Event::Heal { a, b } => {
            let cut = matches!(event, Event::Partition { .. });
            let (a, b, missing) = started_sides(world, a, b);
            for x in &a {
                for y in &b {
                    if cut {
                        flood::partition(sim, world, x, y, now);
                    } else {
                        flood::repair(sim, world, x, y);
                    }
                }
            }
            let verb = if cut { "partition" } else { "heal" };
            fault(
                &trace,
                now,
                format!("{verb} [{}] | [{}]{missing}", a.join(" "), b.join(" ")),
            );
        }
        Event::PartitionOneway { a, b, length } => {
            let (a, b, missing) = started_sides(world, a, b);
            for x in &a {
                for y in &b {
                    flood::partition_oneway(sim, world, x, y, now);
                }
            }
            let heal = || Event::Heal {
                a: a.clone(),
                b: b.clone(),
            };
            let until = end_after(plan, now, *length, heal);
            fault(
                &trace,
                now,
                format!(
                    "partition one way [{}] -> [{}] (lost){until}{missing}",
                    a.join(" "),
                    b.join(" ")
                ),
            );
        }
        Event::Hold { a, b, .. } | Event::Release { a, b } if !started_pair(world, a, b) => {
            fault(
                &trace,
                now,
                format!("hold or release {a} <-> {b}: not both started yet, nothing done"),
            );
        }
        Event::Hold { a, b, length } => {
            flood::hold(sim, world, a, b, now);
            let release = || Event::Release {
                a: a.clone(),
                b: b.clone(),
            };
            let until = end_after(plan, now, *length, release);
            fault(&trace, now, format!("hold {a} <-> {b}{until}"));
        }
        Event::CrashFollower { group } => {
            if let Some((node, why)) = follower_of(world, *group, now) {
                crash_node(sim, world, &node, now, &why);
            }
        }
        Event::HoldGroupLinks {
            group,
            links,
            length,
        } => {
            let pairs = group_links(world, *group, *links, now);
            for (a, b) in &pairs {
                flood::hold(sim, world, a, b, now);
                let release = Event::Release {
                    a: a.clone(),
                    b: b.clone(),
                };
                plan.at(now + *length, release);
            }
            let listed: Vec<String> = pairs.iter().map(|(a, b)| format!("{a}<->{b}")).collect();
            fault(
                &trace,
                now,
                format!(
                    "hold group {group}'s {} links for {}: {}",
                    links.name(),
                    format_duration(*length),
                    if listed.is_empty() {
                        "none to hold".to_string()
                    } else {
                        listed.join(" ")
                    }
                ),
            );
        }
        Event::Release { a, b } => {
            flood::release(world, a, b);
            fault(&trace, now, format!("release {a} <-> {b}"));
        }
        Event::SetPartSize { bytes } => {
            world.part_size.set(*bytes);
            fault(&trace, now, format!("ecs_put part size set to {bytes} B"));
        }
        Event::FailDisk { node } => storage_faults::fail_disk(world, node, now),
        Event::Corrupt { node } => storage_faults::corrupt(world, node, now),
        Event::Rogue {
            kind,
            to,
            auth,
            lines,
        } => rogue::start(sim, world, *kind, to, *auth, lines, now),
    }
}

/// The member of group `group` that leads it now, with the reason it was chosen (for the
/// trace): the member that sent `AppendEntries` in the highest term seen, or member `a`
/// when none has led yet. A group of one: its node, with no reason (its trace reads as it
/// always did). `None`, with a note in the trace, when the group has not started or its
/// last leader is down.
fn leader_of(world: &World, group: u32, now: Duration) -> Option<(String, String)> {
    let members = world.group(group)?;
    if let [only] = members.as_slice() {
        return Some((only.clone(), String::new()));
    }
    let found = leaders::current_leader(&world.trace.borrow(), &members);
    let (node, why) = match found {
        Some((node, term)) => (node, format!("leader of group {group} in term {term}")),
        None => (
            members[0].clone(),
            format!("group {group} has had no leader yet: its first member"),
        ),
    };
    if world.down.contains(&node) {
        fault(
            &world.trace,
            now,
            format!("no leader of group {group} to reach: {node} ({why}) is down"),
        );
        return None;
    }
    Some((node, why))
}

/// Cuts the current leader of `group` off from `from` (every other host if `None`); with
/// `length`, heals exactly those links after it.
fn isolate_leader(
    sim: &mut turmoil::Sim<'_>,
    world: &mut World,
    group: u32,
    from: Option<Vec<String>>,
    length: Option<Duration>,
    now: Duration,
    plan: &mut Plan,
) {
    let Some((node, why)) = leader_of(world, group, now) else {
        return;
    };
    let only = from.is_some();
    let others: Vec<String> = from
        .unwrap_or_else(|| world.all_hosts())
        .into_iter()
        .filter(|h| *h != node)
        .collect();
    for other in &others {
        flood::partition(sim, world, &node, other, now);
    }
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    let whom = if only {
        format!("[{}] only", others.join(" "))
    } else {
        "every other host".to_string()
    };
    let heal = || Event::Heal {
        a: vec![node.clone()],
        b: others,
    };
    let until = end_after(plan, now, length, heal);
    fault(
        &world.trace,
        now,
        format!("isolate {node}{why} from {whom}{until}"),
    );
}

/// With a `for`, queues the event that ends a fault (`end`) that long after `now`, and
/// says so for the trace (`" for 2s"`); without one, nothing.
fn end_after(
    plan: &mut Plan,
    now: Duration,
    length: Option<Duration>,
    end: impl FnOnce() -> Event,
) -> String {
    match length {
        Some(length) => {
            plan.at(now + length, end());
            format!(" for {}", format_duration(length))
        }
        None => String::new(),
    }
}

/// A member of group `group` that does not lead it: the first one up after the leader,
/// in member order (wrapping around), with the reason (for the trace).
fn follower_of(world: &World, group: u32, now: Duration) -> Option<(String, String)> {
    let members = world.group(group)?;
    if members.len() < 2 {
        fault(
            &world.trace,
            now,
            format!("group {group} has no follower to crash"),
        );
        return None;
    }
    let found = leaders::current_leader(&world.trace.borrow(), &members);
    let (leader, term) = match found {
        Some((node, term)) => (node, Some(term)),
        None => (members[0].clone(), None),
    };
    let at = members.iter().position(|m| *m == leader).unwrap_or(0);
    let chosen = (1..members.len())
        .map(|k| &members[(at + k) % members.len()])
        .find(|m| !world.down.contains(*m));
    let Some(node) = chosen else {
        fault(
            &world.trace,
            now,
            format!("no follower of group {group} is up"),
        );
        return None;
    };
    let why = match term {
        Some(term) => format!("follower of {leader}, leader of group {group} in term {term}"),
        None => format!("group {group} has had no leader yet: a member after {leader}"),
    };
    Some((node.clone(), why))
}

/// The host pairs of group `group`'s links of kind `links`, found now.
fn group_links(
    world: &World,
    group: u32,
    links: GroupLinks,
    now: Duration,
) -> Vec<(String, String)> {
    let Some(members) = world.group(group) else {
        return Vec::new();
    };
    match links {
        GroupLinks::Ecs => members
            .iter()
            .map(|m| ("ecs".to_string(), m.clone()))
            .collect(),
        GroupLinks::Clients => world
            .clients()
            .flat_map(|c| members.iter().map(move |m| (c.clone(), m.clone())))
            .collect(),
        GroupLinks::EcsLeader | GroupLinks::LeaderFollowers => {
            let Some((leader, _)) = leader_of(world, group, now) else {
                return Vec::new();
            };
            if links == GroupLinks::EcsLeader {
                return vec![("ecs".to_string(), leader)];
            }
            members
                .iter()
                .filter(|m| **m != leader)
                .map(|m| (leader.clone(), m.clone()))
                .collect()
        }
    }
}

/// Power loss of `node`; `why` (if not empty) says why this node, in the trace.
fn crash_node(sim: &mut turmoil::Sim<'_>, world: &mut World, node: &str, now: Duration, why: &str) {
    if world.is_node(node) && !world.down.contains(node) {
        if storage_faults::tear_instead(world, node, now, why) {
            return;
        }
        sim.crash(node);
        world.down.insert(node.to_string());
        let text = if why.is_empty() {
            format!("crash {node} (power loss)")
        } else {
            format!("crash {node} ({why}, power loss)")
        };
        fault(&world.trace, now, text);
    }
}
