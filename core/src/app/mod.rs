//! Commands as functions: resolved options in, a report printed, an exit status out.
//!
//! The plugins' `main` calls exactly one of these; everything a command does between parsing
//! and exiting lives here, so it is testable without spawning a process.

pub mod certs;
pub mod join;
pub mod members;
pub mod trust;

use crate::error::Error;
use crate::exit::ExitStatus;

/// Runs a cluster-facing command on a small runtime (the work is network-bound).
pub fn block_on<F: std::future::Future<Output = Result<ExitStatus, Error>>>(
    future: F,
) -> Result<ExitStatus, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Error::input(
                format!("cannot start the async runtime: {e}"),
                "report this as a bug",
            )
        })?
        .block_on(future)
}
pub mod verify;
