//! The crate-wide error: one variant per area, each area's own `thiserror` enum underneath.
//!
//! Every error a user can fix carries a hint — the next command to run — kept beside the
//! message as data ([`Hinted::hint`]) and printed after it as `hint: …` by the
//! [`crate::render::Printer`]. All of them end a command with exit code 2.

use crate::ca::CaError;
use crate::cluster::ClusterError;
use crate::hint::Hinted;
use crate::kubeconfig::KubeconfigError;
use crate::mesh::MeshError;
use crate::names::NameError;

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
    /// Kubeconfig.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The mesh file.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// Talking to a cluster.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Invalid input that is not about one of the areas above (flags, files).
    #[error("{message}")]
    Input {
        /// What is wrong, naming the flag or file.
        message: String,
        /// The next step.
        hint: Option<String>,
    },
    /// A stage of a run over several clusters failed in one of them; what finished elsewhere
    /// is said. Typed so that a caller can decide on the cluster's error (an unserved webhook
    /// is waited for) without reading the message.
    #[error("{stage} failed in cluster '{cluster}': {source}\n{finished}")]
    Stage {
        /// The stage (`apply control planes`, …).
        stage: String,
        /// The cluster it failed in.
        cluster: String,
        /// What the cluster answered.
        #[source]
        source: Box<ClusterError>,
        /// Which clusters finished the stage.
        finished: String,
    },
    /// Writing output failed (stdout closed, disk full).
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

impl Hinted for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Ca(e) => e.hint(),
            Error::Name(e) => e.hint(),
            Error::Kubeconfig(e) => e.hint(),
            Error::Cluster(e) => e.hint(),
            Error::Mesh(e) => e.hint(),
            Error::Input { hint, .. } => hint.clone(),
            Error::Stage { .. } => Some(
                "fix the cause and run the same command again: it applies only what is missing"
                    .into(),
            ),
            Error::Output(_) => None,
        }
    }
}

impl Error {
    /// Invalid input, with a hint.
    pub fn input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Input {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// True when the error is only that the reader of stdout went away (`| head`): a clean exit.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
