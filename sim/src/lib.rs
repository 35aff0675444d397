//! The deterministic simulation harness. Empty until the harness issue lands: this crate
//! claims nothing yet.
#![warn(missing_docs)]
