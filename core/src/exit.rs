//! The exit-code contract shared by all three plugins.
//!
//! Scripts and CI pipelines branch on these, so they never change meaning:
//! `0` the command did its job and found nothing wrong; `1` it completed and found problems
//! (a failed check, a certificate about to expire, drift); `2` it could not do its job at all
//! (bad input, unreadable files, an unreachable cluster, missing permission).

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done, nothing wrong.
    Success,
    /// Done, and problems were found and reported.
    Problems,
    /// Could not do the job (the error was reported).
    Failure,
}

impl ExitStatus {
    /// The process exit code for this status.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Problems => 1,
            ExitStatus::Failure => 2,
        }
    }

    /// `Problems` when `found` is true, else `Success`.
    pub fn problems_if(found: bool) -> Self {
        if found {
            ExitStatus::Problems
        } else {
            ExitStatus::Success
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}
