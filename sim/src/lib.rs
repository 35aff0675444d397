//! The deterministic simulation harness: the real node and ECS code inside turmoil's
//! simulated network, driven by one seed.
//!
//! - [`scenario`]: scenario files (TOML) and their validation.
//! - [`runtime`]: turmoil implementations of node's network and disk seams.
//! - [`trace`]: the message trace, recorded from every simulated stream, and its renderings.
//! - [`workload`]: what simulated clients do, and the history they record.
//! - [`explore`]: a scenario plus a swarm fault plan drawn from a seed, as a plain scenario.
//! - [`export`]: the history as JSON lines and as Jepsen-style EDN.
//! - [`runner`]: one run of one scenario with one seed.
//! - [`fnv`]: the stable hash behind seed derivation and trace hashes.
//! - [`shrink`]: a failing case reduced to a short scenario that fails the same way.
//! - [`report`]: a run as one self-contained HTML page (timeline, operations, plot).
//! - [`checks`]: the checks that judge a run.
//! - [`cli`]: the parts of the `sim` command-line tool (many seeds on worker threads,
//!   summaries, regression files).
#![warn(missing_docs)]

pub mod checks;
pub mod cli;
pub mod explore;
pub mod export;
pub mod fnv;
pub mod report;
pub mod runner;
pub mod runtime;
pub mod scenario;
pub mod shrink;
pub mod trace;
pub mod workload;
