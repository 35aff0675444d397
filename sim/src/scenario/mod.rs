//! Scenario files: what a simulation run does, as TOML a person can write.
//!
//! - [`model`]: the validated scenario the runner reads.
//! - [`duration`]: durations written as `"1.5s"`, `"200ms"`, `"2m"`.
//! - [`names`]: host names (`ecs`, `n<k>` or `n<k>a`.., `c<i>`) and the allowed group sizes.
//! - [`parse`](mod@parse): reading and validating a file, with errors that name the file, line and
//!   field.
//!
//! `scenarios/README.md` documents the format.

pub mod duration;
pub mod model;
pub mod names;
pub mod parse;

pub use model::*;
pub use parse::{load, parse, ScenarioError};
