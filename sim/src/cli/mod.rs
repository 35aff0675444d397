//! The pieces of the `sim` command-line tool (`src/bin/sim.rs`) that are worth testing on
//! their own. The binary owns argument parsing, printing and exit codes; nothing here
//! prints.
//!
//! - [`explore`]: `sim explore`'s shards, JSON summary and merging of shards.
//! - [`coverage`]: which cases (scenario, seed) a run of `sim explore` covered.
//! - [`floor`]: what turmoil alone costs per simulated second (`sim bench`'s floor).
//! - [`files`]: which scenario files a run covers (named paths, or the `scenarios/`
//!   directory found by walking up).
//! - [`seeds`]: which seeds: a scenario's own list, one seed, or a range `A..B` / `A..=B`.
//! - [`progress`]: plain progress lines for logs, where indicatif draws no bar.
//! - [`pool`]: running many (scenario, seed) cases on worker threads, one whole simulation
//!   per thread, with outcomes returned in case order.
//! - [`summary`]: the per-scenario table of counts, simulated and wall-clock seconds.
//! - [`regression`]: a failing case as a replayable scenario file.
//! - [`replay`]: what `sim replay` prints: the scenario, the trace's renderings, the verdict.
//!
//! This is the one part of the crate that reads the wall clock (to report speed); it
//! never does so inside a simulation.

pub mod coverage;
pub mod explore;
pub mod files;
pub mod floor;
pub mod pool;
pub mod progress;
pub mod regression;
pub mod replay;
pub mod seeds;
pub mod summary;
