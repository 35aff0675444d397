//! The running parts of the store. Empty until the working-cluster issue lands: this crate
//! claims nothing yet.
#![warn(missing_docs)]
