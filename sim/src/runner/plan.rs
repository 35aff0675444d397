//! What happens when: the scripted and random events due at a time, the events armed on a
//! protocol step (`when` triggers), and the follow-ups an event schedules for later (the
//! release of a hold with `for`).
//!
//! Everything is queued by (time, order of scheduling), so events due at one time happen in
//! the order the timeline lists them, and a run's events depend only on the trace so far.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::scenario::{Event, TimedEvent, Trigger};
use crate::trace::{Trace, What};

/// An event waiting for its trigger.
struct Armed {
    /// Matches before this time do not count.
    from: Duration,
    trigger: Trigger,
    event: Event,
    /// Matches seen so far.
    count: u32,
}

/// The run's pending events.
pub(crate) struct Plan {
    queue: BTreeMap<(Duration, u64), Event>,
    /// Order of scheduling, to break ties in time.
    scheduled: u64,
    armed: Vec<Armed>,
    /// Trace events already matched against the triggers.
    seen: usize,
}

/// A trigger that matched: the trace line that says so, and when its event happens.
pub(crate) struct Fired {
    /// When the matching message was seen.
    pub(crate) seen_at: Duration,
    /// What the trace says.
    pub(crate) text: String,
}

impl Plan {
    /// The schedule (time-ordered; triggered entries are armed, not queued).
    pub(crate) fn new(schedule: Vec<TimedEvent>) -> Plan {
        let mut plan = Plan {
            queue: BTreeMap::new(),
            scheduled: 0,
            armed: Vec::new(),
            seen: 0,
        };
        for e in schedule {
            match e.when {
                Some(trigger) => plan.armed.push(Armed {
                    from: e.at,
                    trigger,
                    event: e.event,
                    count: 0,
                }),
                None => plan.at(e.at, e.event),
            }
        }
        plan
    }

    /// Queues `event` for time `at`.
    pub(crate) fn at(&mut self, at: Duration, event: Event) {
        self.queue.insert((at, self.scheduled), event);
        self.scheduled += 1;
    }

    /// The next event due at or before `now`, if any.
    pub(crate) fn next_due(&mut self, now: Duration) -> Option<Event> {
        let (&(at, _), _) = self.queue.first_key_value()?;
        if at > now {
            return None;
        }
        self.queue.pop_first().map(|(_, e)| e)
    }

    /// Matches the trace events recorded since the last call against the armed triggers;
    /// queues the events whose trigger fired and says which fired.
    pub(crate) fn observe(&mut self, trace: &Trace) -> Vec<Fired> {
        let events = &trace.events[self.seen.min(trace.events.len())..];
        self.seen = trace.events.len();
        if self.armed.is_empty() {
            return Vec::new();
        }
        let mut fired = Vec::new();
        for e in events {
            let (host, peer, msg, sent) = match &e.what {
                What::Send { from, to, msg } => (from, to, msg, true),
                What::Recv { host, from, msg } => (host, from, msg, false),
                What::Fault(_) => continue,
            };
            // The message's kind, worked out once per event and only if a trigger gets
            // that far (a client packet's is decoded from its body).
            let mut msg_kind = None;
            let mut k = 0;
            while k < self.armed.len() {
                let a = &mut self.armed[k];
                let (wanted, sends) = a.trigger.kind();
                let hit = e.at >= a.from
                    && sends == sent
                    && a.trigger.host.as_deref().is_none_or(|h| h == &**host)
                    && a.trigger.peer.as_deref().is_none_or(|p| p == &**peer)
                    && *msg_kind.get_or_insert_with(|| msg.kind()) == wanted;
                if hit {
                    a.count += 1;
                }
                if hit && a.count >= a.trigger.nth {
                    let kind = msg_kind.unwrap_or_default();
                    let a = self.armed.remove(k);
                    let verb = if sent { "sends" } else { "receives" };
                    let delay = a.trigger.delay;
                    let text = format!(
                        "trigger: {host} {verb} {kind} (match {} of {}, {} {peer}); {} in {}",
                        a.count,
                        a.trigger.nth,
                        if sent { "to" } else { "from" },
                        a.event.name(),
                        crate::scenario::duration::format_duration(delay),
                    );
                    fired.push(Fired {
                        seen_at: e.at,
                        text,
                    });
                    self.at(e.at + delay, a.event);
                } else {
                    k += 1;
                }
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use protocol::ecs::{Reply, Request};

    use super::*;
    use crate::trace::{Event as TraceEvent, Message};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn recv(at: u64, host: &str, from: &str, msg: Message) -> TraceEvent {
        TraceEvent {
            at: ms(at),
            what: What::Recv {
                host: Rc::from(host),
                from: Rc::from(from),
                msg,
            },
            conn: 0,
        }
    }

    fn send(at: u64, from: &str, to: &str, msg: Message) -> TraceEvent {
        TraceEvent {
            at: ms(at),
            what: What::Send {
                from: Rc::from(from),
                to: Rc::from(to),
                msg,
            },
            conn: 0,
        }
    }

    fn lock() -> Message {
        Message::AdminRequest(Request::WriteLock.for_join(3))
    }

    fn trigger(host: Option<&str>, receives: &str, nth: u32, delay: u64) -> Trigger {
        Trigger {
            host: host.map(str::to_owned),
            peer: None,
            sends: None,
            receives: Some(receives.to_owned()),
            nth,
            delay: ms(delay),
        }
    }

    fn armed(from: u64, when: Trigger) -> Plan {
        Plan::new(vec![TimedEvent {
            at: ms(from),
            when: Some(when),
            event: Event::CrashEcs,
        }])
    }

    #[test]
    fn the_nth_match_fires_after_its_delay_and_only_once() {
        let mut plan = armed(0, trigger(Some("n1a"), "write_lock", 2, 30));
        let mut trace = Trace::default();
        trace.events.push(recv(10, "n1a", "ecs", lock()));
        // Another host, the sending side and another kind do not count.
        trace.events.push(recv(11, "n1b", "ecs", lock()));
        trace.events.push(send(12, "n1a", "ecs", lock()));
        trace
            .events
            .push(recv(13, "n1a", "ecs", Message::AdminReply(Reply::Ok)));
        assert!(plan.observe(&trace).is_empty());
        assert!(plan.next_due(ms(1_000)).is_none());
        trace.events.push(recv(20, "n1a", "ecs", lock()));
        trace.events.push(recv(25, "n1a", "ecs", lock()));
        let fired = plan.observe(&trace);
        assert_eq!(fired.len(), 1, "fires once, on the second match");
        assert_eq!(fired[0].seen_at, ms(20));
        assert!(fired[0].text.contains("n1a receives write_lock"));
        assert!(plan.next_due(ms(49)).is_none(), "not before the delay");
        assert_eq!(plan.next_due(ms(50)), Some(Event::CrashEcs));
        assert!(plan.next_due(ms(1_000)).is_none());
    }

    #[test]
    fn matches_before_the_arming_time_do_not_count() {
        let mut plan = armed(100, trigger(None, "write_lock", 1, 0));
        let mut trace = Trace::default();
        trace.events.push(recv(50, "n1a", "ecs", lock()));
        assert!(plan.observe(&trace).is_empty());
        trace.events.push(recv(150, "n2a", "ecs", lock()));
        assert_eq!(plan.observe(&trace).len(), 1);
        assert_eq!(plan.next_due(ms(150)), Some(Event::CrashEcs));
    }

    #[test]
    fn peer_and_direction_filter_matches() {
        let mut when = trigger(None, "write_lock", 1, 0);
        when.peer = Some("ecs".to_owned());
        when.sends = Some("write_lock".to_owned());
        when.receives = None;
        let mut plan = armed(0, when);
        let mut trace = Trace::default();
        trace.events.push(send(10, "rogue", "n1a", lock()));
        trace.events.push(recv(11, "n1a", "ecs", lock()));
        assert!(plan.observe(&trace).is_empty());
        trace.events.push(send(12, "n9", "ecs", lock()));
        assert_eq!(plan.observe(&trace).len(), 1);
    }

    #[test]
    fn timed_events_come_out_in_time_then_listing_order() {
        let at = |t: u64, event: Event| TimedEvent {
            at: ms(t),
            when: None,
            event,
        };
        let mut plan = Plan::new(vec![
            at(10, Event::CrashEcs),
            at(10, Event::RestartEcs),
            at(20, Event::HealAll),
        ]);
        plan.at(ms(10), Event::PauseEcs);
        assert_eq!(plan.next_due(ms(10)), Some(Event::CrashEcs));
        assert_eq!(plan.next_due(ms(10)), Some(Event::RestartEcs));
        assert_eq!(plan.next_due(ms(10)), Some(Event::PauseEcs));
        assert_eq!(plan.next_due(ms(10)), None);
        assert_eq!(plan.next_due(ms(20)), Some(Event::HealAll));
    }
}
