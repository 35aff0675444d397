//! Whether the cluster has settled (every started group joined, no group write-locked),
//! asked every 100 ms of the liveness phase once the final reads are done.
//!
//! The answer depends only on the ECS-protocol exchanges in the trace and on the groups
//! started, yet judging it reads the whole trace; asked from scratch every 100 ms it took
//! about a sixth of an explored case's wall time (perf, 20 cases of shard 1). So the
//! answer is kept, and judged again only when an event it depends on was traced since or a
//! group started. It changes no run: the same question gets the same answer.

use crate::checks;
use crate::runner::AUDITOR;
use crate::trace::{Message, Trace, What};

/// The last answer, and what it was judged on.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Trace events looked at so far.
    scanned: usize,
    /// The groups the answer was judged with.
    groups: Vec<Vec<String>>,
    /// The answer, once judged.
    answer: Option<bool>,
    /// How far the joins have come: the sum over hosts of the newest view version each
    /// accepted. It only grows, and grows whenever a group takes a newer view.
    views_accepted: u64,
    /// Whether `views_accepted` grew at the last judgement.
    progressed: bool,
}

impl Settled {
    /// Whether every started group in `groups` has finished joining and none is
    /// write-locked, by the trace so far.
    pub(crate) fn check(&mut self, groups: &[Vec<String>], trace: &Trace) -> bool {
        let fresh = trace.events[self.scanned..]
            .iter()
            .any(|e| judged_on(&e.what));
        self.scanned = trace.events.len();
        if let Some(answer) = self.answer {
            if !fresh && self.groups == groups {
                return answer;
            }
        }
        let views = checks::joins::last_views(trace);
        let answer = checks::joins::check_views(groups, trace, &views).is_empty()
            && checks::locks::check(groups, trace).is_empty();
        let views_accepted = views.values().map(|v| v.version).sum();
        // The first judgement is the baseline, not progress.
        self.progressed = self.answer.is_some() && views_accepted > self.views_accepted;
        self.views_accepted = views_accepted;
        self.groups = groups.to_vec();
        self.answer = Some(answer);
        answer
    }

    /// Whether the last [`check`](Settled::check) that judged afresh saw a group take a
    /// newer `cluster_view` than any judgement before: the joins are still moving.
    /// Cleared by the next call.
    pub(crate) fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progressed)
    }
}

/// Whether the joins and locks checks read this event: ECS-protocol requests received
/// and replies sent (`checks::exchanges`), and answers to the view audit.
fn judged_on(what: &What) -> bool {
    match what {
        What::Recv {
            msg: Message::AdminRequest(_),
            ..
        }
        | What::Send {
            msg: Message::AdminReply(_),
            ..
        } => true,
        What::Recv { host, .. } => &**host == AUDITOR,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use protocol::ecs::{Reply, Request};

    use super::Settled;
    use crate::trace::{Message, Trace, What};

    fn admin(trace: &mut Trace, at_ms: u64, request: Request) {
        let at = Duration::from_millis(at_ms);
        trace.push(
            at,
            What::Recv {
                host: "n1".into(),
                from: "ecs".into(),
                msg: Message::AdminRequest(request),
            },
        );
        trace.push(
            at,
            What::Send {
                from: "n1".into(),
                to: "ecs".into(),
                msg: Message::AdminReply(Reply::Ok),
            },
        );
    }

    /// A kept answer must not outlive the event that changes it: a lock taken after the
    /// cluster settled unsettles it, and its release settles it again.
    #[test]
    fn judged_again_after_an_admin_exchange() {
        let groups = vec![vec!["n1".to_string()]];
        let mut trace = Trace::default();
        let mut settled = Settled::default();
        assert!(!settled.check(&groups, &trace), "no view accepted yet");
        let n1 = protocol::ecs::HostPort::new("n1", crate::runtime::ADMIN_PORT).unwrap();
        let view = protocol::ecs::ClusterView {
            version: 1,
            nodes: vec![protocol::ecs::NodeEntry {
                id: 0,
                ring: n1.clone(),
                admin: n1.clone(),
                client: n1,
            }],
        };
        admin(&mut trace, 10, Request::ClusterView(view));
        assert!(settled.check(&groups, &trace));
        admin(&mut trace, 20, Request::WriteLock);
        assert!(!settled.check(&groups, &trace));
        assert!(!settled.check(&groups, &trace));
        admin(&mut trace, 30, Request::ReleaseLock);
        assert!(settled.check(&groups, &trace));
    }

    /// Progress is a group taking a newer view than before; the first look is the baseline,
    /// and a lock taken or an older view answered again is not progress.
    #[test]
    fn progress_is_a_newer_view_accepted() {
        let groups = vec![vec!["n1".to_string()], vec!["n2".to_string()]];
        let mut trace = Trace::default();
        let mut settled = Settled::default();
        let n1 = protocol::ecs::HostPort::new("n1", crate::runtime::ADMIN_PORT).unwrap();
        let view = |version| protocol::ecs::ClusterView {
            version,
            nodes: vec![protocol::ecs::NodeEntry {
                id: 0,
                ring: n1.clone(),
                admin: n1.clone(),
                client: n1.clone(),
            }],
        };
        admin(&mut trace, 10, Request::ClusterView(view(1)));
        assert!(!settled.check(&groups, &trace), "n2 has not joined");
        assert!(!settled.take_progress(), "the first look is the baseline");
        admin(&mut trace, 20, Request::ClusterView(view(2)));
        assert!(!settled.check(&groups, &trace));
        assert!(settled.take_progress(), "v2 accepted");
        assert!(!settled.take_progress(), "taken");
        admin(&mut trace, 30, Request::WriteLock);
        admin(&mut trace, 40, Request::ClusterView(view(1)));
        assert!(!settled.check(&groups, &trace));
        assert!(
            !settled.take_progress(),
            "a lock and an older view are no progress"
        );
    }

    /// A group that starts is judged at once, though no admin message was traced yet.
    #[test]
    fn judged_again_when_a_group_starts() {
        let mut groups = vec![vec!["n1".to_string()]];
        let trace = Trace::default();
        let mut settled = Settled::default();
        groups.clear();
        assert!(settled.check(&groups, &trace), "nothing started: settled");
        groups.push(vec!["n1".to_string()]);
        assert!(!settled.check(&groups, &trace), "n1 has not joined");
    }
}
