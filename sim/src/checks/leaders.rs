//! At most one leader per term in each group (Raft's election safety).
//!
//! Only a leader sends `AppendEntries` and `InstallSnapshot`, in its own term, so the
//! members of a group that sent either in one term must be at most one. The trace records
//! a frame when it is written, delivered or not, so a deposed leader cut off from its group
//! counts too; a member that kept sending in an old term after a newer one began is fine,
//! as long as nobody else sent in that old term.

use super::joins::group_name;
use super::Failure;
use crate::trace::leaders::senders_by_term;
use crate::trace::Trace;

/// Checks every group's terms. `groups` holds each started group's members.
pub fn check(groups: &[Vec<String>], trace: &Trace) -> Vec<Failure> {
    let mut out = Vec::new();
    for (i, members) in groups.iter().enumerate() {
        for (term, senders) in senders_by_term(trace, members) {
            if senders.len() > 1 {
                out.push(Failure::new(
                    "one_leader_per_term",
                    format!(
                        "group {} ({}) had {} leaders in term {term}: {}",
                        i + 1,
                        group_name(members),
                        senders.len(),
                        senders.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::trace::leaders::append_sent;

    fn heartbeat(trace: &mut Trace, from: &str, to: &str, term: u64) {
        trace.push(Duration::ZERO, append_sent(from, to, term, 0));
    }

    fn groups() -> Vec<Vec<String>> {
        let g = |k: u32| crate::scenario::names::group_members(k, 3);
        vec![g(1), g(2)]
    }

    #[test]
    fn one_sender_per_term_passes() {
        let mut t = Trace::default();
        heartbeat(&mut t, "n1a", "n1b", 1);
        heartbeat(&mut t, "n1b", "n1a", 2);
        // The old leader, deposed but not yet aware, still writes in term 1.
        heartbeat(&mut t, "n1a", "n1c", 1);
        // Another group's term 2 is its own.
        heartbeat(&mut t, "n2c", "n2a", 2);
        assert!(check(&groups(), &t).is_empty());
    }

    #[test]
    fn two_senders_in_one_term_name_the_group_term_and_members() {
        let mut t = Trace::default();
        heartbeat(&mut t, "n2a", "n2b", 3);
        heartbeat(&mut t, "n2c", "n2b", 3);
        let failures = check(&groups(), &t);
        assert_eq!(failures.len(), 1);
        assert_eq!(
            failures[0].to_string(),
            "one_leader_per_term: group 2 (group n2a..n2c) had 2 leaders in term 3: n2a, n2c"
        );
    }
}
