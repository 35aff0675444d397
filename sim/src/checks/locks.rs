//! Every lock released: for each group, the last lock request one of its members accepted
//! is a `release_lock`.
//!
//! The write lock is the group's (a command in its log), so a group is judged as one
//! unit: whichever member led when the ECS sent `write_lock` or `release_lock`, the one
//! that answered `ok` changed the group's lock. A follower's `error` changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::ecs::Request;

use super::joins::group_name;
use super::{accepted, Failure};
use crate::trace::Trace;

/// One holding of a group's write lock: the group's index, when its `ok` to
/// `write_lock` left, and when its `ok` to `release_lock` left (`None`: still held at the
/// end).
type LockSpan = (usize, Duration, Option<Duration>);

/// Every lock span of every group, in the order they ended (spans still held last, in
/// group order).
fn lock_spans(groups: &[Vec<String>], trace: &Trace) -> Vec<LockSpan> {
    let group_of = super::group_of(groups);
    // Per group: when the lock held now was taken.
    let mut since: BTreeMap<usize, Duration> = BTreeMap::new();
    let mut spans: Vec<LockSpan> = Vec::new();
    for a in accepted(trace) {
        let Some(&g) = group_of.get(a.host) else {
            continue;
        };
        let at = trace.events[a.answered].at;
        match a.request {
            Request::WriteLock => {
                since.entry(g).or_insert(at);
            }
            Request::ReleaseLock => {
                if let Some(from) = since.remove(&g) {
                    spans.push((g, from, Some(at)));
                }
            }
            _ => {}
        }
    }
    spans.extend(since.into_iter().map(|(g, from)| (g, from, None)));
    spans
}

/// Checks that no group ends write-locked. `groups` holds each started group's members.
pub fn check(groups: &[Vec<String>], trace: &Trace) -> Vec<Failure> {
    lock_spans(groups, trace)
        .into_iter()
        .filter(|(_, _, to)| to.is_none())
        .map(|(g, _, _)| {
            Failure::new(
                "locks_released",
                format!(
                    "{} is still write-locked at the end",
                    group_name(&groups[g])
                ),
            )
        })
        .collect()
}

/// Checks that no group holds its write lock longer than `max`: a join that cannot finish
/// must be resumed or abandoned, not leave its predecessor refusing writes. A lock still
/// held at the end counts until the trace's last event.
pub fn check_hold(groups: &[Vec<String>], trace: &Trace, max: Duration) -> Vec<Failure> {
    let end = trace.events.last().map_or(Duration::ZERO, |e| e.at);
    lock_spans(groups, trace)
        .into_iter()
        .filter(|(_, from, to)| to.unwrap_or(end).saturating_sub(*from) > max)
        .map(|(g, from, to)| {
            let held = to.unwrap_or(end).saturating_sub(from);
            let until = to.map_or("the end of the run".to_string(), |t| {
                format!("{:.3}s", t.as_secs_f64())
            });
            Failure::new(
                "locks_released",
                format!(
                    "{} held its write lock for {:.3}s (from {:.3}s to {until}), longer than \
                     max_lock_hold ({:.3}s)",
                    group_name(&groups[g]),
                    held.as_secs_f64(),
                    from.as_secs_f64(),
                    max.as_secs_f64()
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use protocol::ecs::{Reply, Request};

    use super::*;
    use crate::trace::{Message, What};

    fn exchange(trace: &mut Trace, host: &str, request: Request, reply: Reply) {
        trace.push(
            Duration::ZERO,
            What::Recv {
                host: host.into(),
                from: "ecs".into(),
                msg: Message::AdminRequest(request),
            },
        );
        trace.push(
            Duration::ZERO,
            What::Send {
                from: host.into(),
                to: "ecs".into(),
                msg: Message::AdminReply(reply),
            },
        );
    }

    #[test]
    fn a_lock_counts_once_accepted_and_until_an_accepted_release() {
        let groups = vec![vec!["n1a".to_string(), "n1b".to_string()]];
        let mut trace = Trace::default();
        // A follower refuses: nothing changes.
        exchange(
            &mut trace,
            "n1b",
            Request::WriteLock,
            Reply::NotLeader(None),
        );
        assert!(check(&groups, &trace).is_empty());
        exchange(&mut trace, "n1a", Request::WriteLock, Reply::Ok);
        let failures = check(&groups, &trace);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].detail.contains("write-locked"));
        // The release is accepted by another member (a new leader): the group is free.
        exchange(&mut trace, "n1b", Request::ReleaseLock, Reply::Ok);
        assert!(check(&groups, &trace).is_empty());
    }
}
