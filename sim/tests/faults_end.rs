//! The faults end at the heal before the final reads: a storage fault armed before it
//! must not strike after it, or a member may go down for good in a cluster nothing will
//! heal again, and the liveness checks blame the node (found by `sim explore`: seed 1890
//! of ring-ownership-release-sent-a-term-later-1937 had the view audit wait for a member
//! whose disk failed after the heal and whose restart read a corrupted byte).

mod common;

use protocol::peer::PeerMessage;
use sim::trace::{Message, What};

const FIXTURE: &str = "tests/faults_end/disk-error-armed-just-before-the-heal.toml";

#[test]
fn a_disk_error_armed_before_the_heal_never_strikes_after_it() {
    let report = common::run_fixture_passing(FIXTURE);

    let events = &report.trace.events;
    let fault_at = |text: &str| {
        events
            .iter()
            .position(|e| matches!(&e.what, What::Fault(f) if f.starts_with(text)))
    };
    let armed = fault_at("fail disk of n2b: one of its next writes fails")
        .expect("the disk error was never armed");
    let healed = fault_at("faults end").expect("the faults never ended");
    assert!(armed < healed, "the disk error was armed after the heal");
    let after: Vec<&String> = events[healed + 1..]
        .iter()
        .filter_map(|e| match &e.what {
            What::Fault(f) => Some(f),
            _ => None,
        })
        .collect();
    assert!(
        after.is_empty(),
        "faults after the heal: {after:#?} (the heal must disarm what was armed)"
    );

    // The window: n2b writes an entry at least three times after the heal, so the armed
    // error (one of the next three writes) would have struck.
    let writes_after = events[healed..]
        .iter()
        .filter(|e| {
            matches!(&e.what, What::Recv {
                host,
                msg: Message::Peer(PeerMessage::AppendEntries(a)),
                ..
            } if &**host == "n2b" && !a.entries.is_empty())
        })
        .count();
    assert!(
        writes_after >= 3,
        "n2b took {writes_after} AppendEntries with entries after the heal: the fixture no \
         longer reaches its window; move the join or the fault"
    );
}
