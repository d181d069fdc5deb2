//! The crate-wide error: one variant per area, each area's own `thiserror` enum underneath.
//!
//! Every error a user can fix carries a hint — the next command to run — kept beside the
//! message as data ([`Hinted::hint`]) and printed after it as `hint: …` by the
//! [`crate::render::Printer`]. All of them end a command with exit code 2.

use crate::ca::CaError;
use crate::names::NameError;

/// An error that may know the user's next step.
pub trait Hinted {
    /// The next step, phrased as advice (`run … to …`), if there is one.
    fn hint(&self) -> Option<String>;
}

/// Any error a kubectl-mesh command can end with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Certificate authority on disk.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// A cluster or mesh name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Writing output failed (stdout closed, disk full).
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

impl Hinted for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Ca(e) => e.hint(),
            Error::Name(e) => e.hint(),
            Error::Output(_) => None,
        }
    }
}

impl Error {
    /// True when the error is only that the reader of stdout went away (`| head`): a clean exit.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
