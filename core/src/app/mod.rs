//! Commands as functions: resolved options in, a report printed, an exit status out.
//!
//! The plugins' `main` calls exactly one of these; everything a command does between parsing
//! and exiting lives here, so it is testable without spawning a process.

pub mod certs;
pub mod members;
pub mod trust;
