//! The join driver: the async shell of the join machine ([`crate::join::Coordinator`]).
//! It carries out what the machine asks for (write the state, send a line until it is
//! answered `ok`, wait for `done`, idle) and feeds back what happened; an abandonable step
//! is raced against the join's deadline and an operator's abort.

use std::collections::BTreeMap;
use std::rc::Rc;

use protocol::ecs::Request;
use tokio::time::Instant;

use super::Ecs;
use crate::admin_link::AdminLink;
use crate::io::{Disk, Network};
use crate::join::coordinator::{Input, Output, Persist};

/// The member of each group (by its admin addresses) that last answered `ok`: the next
/// line to that group starts there, most likely its leader. Starting each line at the
/// group's first member cost a connect timeout per line while that node was down
/// (review-retry-ecs-crash-in-stretched-transfer-range: a lock held 20.3 s).
type LastAnswered = BTreeMap<Vec<String>, String>;

/// What the driver does next for the machine.
enum Effect {
    /// Send `request` to a group (its nodes' `admins`) until one answers `ok`.
    Send {
        admins: Vec<String>,
        request: Request,
    },
    /// Wait for the predecessor's `done`, at most the transfer timeout.
    AwaitDone,
    /// Wait for a registration.
    Idle,
}

/// The step being performed: its join, and whether it is raced against the deadline and
/// an operator's abort.
#[derive(Clone, Copy)]
struct Begun {
    join: u64,
    abandonable: bool,
}

/// Runs joins forever; returns only if the state can no longer be persisted.
pub(crate) async fn drive<N: Network, D: Disk>(ecs: Rc<Ecs<N, D>>) -> Result<(), std::io::Error> {
    let mut link = ecs.link();
    let mut answered = LastAnswered::new();
    // The join this process is driving and when its current step began (or resumed): the
    // deadline counts from there, or from its hand-off's last headway (tokio's clock:
    // virtual inside the simulation). Counted per step, not from the join's start: on
    // slow disks the steps before the hand-off (a commit each, up to ~2.5 s on 1200 ms
    // syncs) took most of a 15 s deadline, and a join whose every step moved was
    // abandoned try after try (explore, seed 448 of
    // review-five-node-newcomer-at-bare-majority-on-1200ms-syncs).
    let mut clock: Option<(u64, Instant)> = None;
    let mut begun: Option<Begun> = None;
    let mut outputs = ecs.step(Input::Poll);
    loop {
        let (began, effect) = carry_out(&ecs, outputs)?;
        ecs.note_step();
        if let Some(b) = began {
            clock = Some((b.join, Instant::now()));
            begun = Some(b);
        }
        outputs = match (effect, begun, clock) {
            (Effect::Idle, ..) => {
                ecs.wake.notified().await;
                ecs.step(Input::Poll)
            }
            // Until the new ring is announced the join can be abandoned.
            (effect, Some(b), Some((_, since))) if b.abandonable => {
                let deadline = ecs.config.join_deadline;
                tokio::select! {
                    outputs = run_step(&ecs, &mut link, &mut answered, effect) => outputs,
                    () = deadline_passes(&ecs, b.join, since, deadline) => {
                        tracing::debug!(join = b.join, ?deadline, "join deadline");
                        ecs.step(Input::DeadlinePassed)
                    }
                    () = ecs.abort.notified() => ecs.step(Input::AbortWoken),
                }
            }
            (effect, ..) => run_step(&ecs, &mut link, &mut answered, effect).await,
        };
    }
}

/// Returns once `deadline` has passed since `since` (the step's start) and since the last
/// headway of join `join`'s hand-off, so a join whose hand-off keeps moving is not
/// abandoned.
async fn deadline_passes<N: Network, D: Disk>(
    ecs: &Ecs<N, D>,
    join: u64,
    since: Instant,
    deadline: std::time::Duration,
) {
    loop {
        let from = ecs.progress_at(join).map_or(since, |at| at.max(since));
        if Instant::now() >= from + deadline {
            return;
        }
        tokio::time::sleep_until(from + deadline).await;
    }
}

/// Performs the effects of one step and feeds back their results until the machine ends
/// the step; returns the outputs that end it.
async fn run_step<N: Network, D: Disk>(
    ecs: &Ecs<N, D>,
    link: &mut AdminLink<N>,
    answered: &mut LastAnswered,
    mut effect: Effect,
) -> Vec<Output> {
    loop {
        let input = match effect {
            Effect::Send { admins, request } => {
                let first = answered.get(&admins).cloned();
                let what = request.keyword();
                if let Some(who) = link
                    .send_to_group(&admins, first.as_deref(), &request, what, || true)
                    .await
                {
                    answered.insert(admins, who);
                }
                Input::Acked
            }
            Effect::AwaitDone => {
                let waited = tokio::time::timeout(ecs.config.transfer_timeout, async {
                    while ecs.transfer_pending() {
                        ecs.wake.notified().await;
                    }
                })
                .await;
                match waited {
                    Ok(()) => Input::DoneSeen,
                    Err(_) => Input::TimedOut,
                }
            }
            Effect::Idle => return vec![Output::Idle],
        };
        let outputs = ecs.step(input);
        let ends_step = outputs
            .iter()
            .any(|o| matches!(o, Output::Begin { .. } | Output::Idle | Output::Persist(_)));
        if ends_step {
            return outputs;
        }
        effect = match outputs.into_iter().last() {
            Some(Output::Send {
                admins, request, ..
            }) => Effect::Send { admins, request },
            Some(Output::AwaitDone) => Effect::AwaitDone,
            _ => Effect::Idle,
        };
    }
}

/// Carries out the machine's outputs up to its next effect: writes the state (a failure
/// is fatal where the machine says so: the ECS must not act on a step it could not
/// record), and notes the step begun.
fn carry_out<N: Network, D: Disk>(
    ecs: &Ecs<N, D>,
    outputs: Vec<Output>,
) -> Result<(Option<Begun>, Effect), std::io::Error> {
    let mut began = None;
    let mut effect = Effect::Idle;
    for output in outputs {
        match output {
            Output::Persist(Persist::BestEffort) => {
                if let Err(e) = ecs.persist() {
                    tracing::error!(error = %e, "could not record the new member");
                }
            }
            Output::Persist(_) => ecs.persist()?,
            Output::Begin {
                join, abandonable, ..
            } => began = Some(Begun { join, abandonable }),
            Output::Send {
                admins, request, ..
            } => effect = Effect::Send { admins, request },
            Output::AwaitDone => effect = Effect::AwaitDone,
            Output::Idle => effect = Effect::Idle,
            // Logged by the machine; the answers and wake-ups are the admin port's.
            Output::Closed { .. } | Output::Wake | Output::SignalAbort | Output::Reply(_) => {}
        }
    }
    Ok((began, effect))
}
