//! A run's verdict as the harness reports it: each violation becomes a `linearizable`
//! failure carrying the explanation, the timeline of the minimal failing sub-history and
//! the trace lines of its operations.

use super::{check_history, Config, Violation};
use crate::checks::Failure;
use protocol::client::{Packet, Request as ClientRequest};
use protocol::Limits;

use crate::trace::{render, Message, Trace, What};
use crate::workload::History;

/// Most trace lines shown per operation of a violation.
const LINES_PER_OPERATION: usize = 12;

/// The failures and the undecided keys (with the steps each took) of `history`.
pub fn judge(
    history: &History,
    trace: &Trace,
    config: &Config,
) -> (Vec<Failure>, Vec<(String, u64)>) {
    let report = check_history(history, config);
    let failures = report
        .violations
        .iter()
        .map(|v| Failure::new("linearizable", describe(v, history, trace)))
        .collect();
    (failures, report.undecided)
}

fn describe(v: &Violation, history: &History, trace: &Trace) -> String {
    let mut out = format!("{v}");
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(
        "trace of these operations (client side: every packet of the operation's client host \
         in its time window; a host's lanes share it, so answers of other lanes appear too):\n",
    );
    for &i in &v.records {
        let r = &history.records[i];
        let host = format!("c{}", r.client);
        let lines: Vec<String> = trace
            .events
            .iter()
            .filter(|e| e.at >= r.invoked && e.at <= r.completed)
            .filter(|e| match &e.what {
                What::Send {
                    from,
                    msg: msg @ Message::Client(_),
                    ..
                } => **from == *host && mentions(msg, r.key.as_bytes()),
                What::Recv {
                    host: h,
                    msg: Message::Client(_),
                    ..
                } => **h == *host,
                _ => false,
            })
            .map(render::line)
            .collect();
        out.push_str(&format!(
            "  p{} {} (record {i}):\n",
            r.process,
            crate::trace::printable(r.key.as_bytes())
        ));
        let shown = lines.len().min(LINES_PER_OPERATION);
        for line in &lines[..shown] {
            out.push_str(&format!("    {line}\n"));
        }
        if lines.len() > shown {
            out.push_str(&format!(
                "    ... {} more (sim replay --clients full shows all)\n",
                lines.len() - shown
            ));
        }
    }
    out
}

/// Whether a client request names `key` (answers do not; they are kept by host and time).
fn mentions(msg: &Message, key: &[u8]) -> bool {
    let Message::Client(Packet::CommandRequest(body)) = msg else {
        return false;
    };
    ClientRequest::decode(body, &Limits::DEFAULT).is_ok_and(|r| &r.command.key()[..] == key)
}
