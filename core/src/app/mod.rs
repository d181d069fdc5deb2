//! Commands as functions: resolved options in, a report printed, an exit status out.
//!
//! The plugins' `main` calls exactly one of these; everything a command does between parsing
//! and exiting lives here, so it is testable without spawning a process.

pub mod certs;
pub mod credentials;
mod discovery;
pub(crate) mod fleet;
pub mod join;
pub mod members;
pub mod rotation;
pub mod tokens;
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
pub mod watch;

/// The `main` of every plugin: completion requests first, then parse, run, print the error
/// (with its hint) and exit 0/1/2; a closed stdout (`| head`) is not an error.
pub fn plugin_main<C: clap::Parser + clap::CommandFactory>(
    run: impl FnOnce(C, &crate::render::Printer) -> Result<ExitStatus, Error>,
) -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(code) = crate::completion::intercept(C::command(), &argv) {
        return code;
    }
    let cli = C::parse();
    let printer = crate::render::Printer::terminal();
    let status = match run(cli, &printer) {
        Ok(status) => status,
        Err(e) if e.is_broken_pipe() => ExitStatus::Success,
        Err(e) => {
            printer.error(&e);
            ExitStatus::Failure
        }
    };
    status.into()
}
