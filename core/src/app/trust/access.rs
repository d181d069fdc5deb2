//! Where the clusters are and how to talk to them.

use super::Member;
use crate::cluster::Kube;
use crate::error::Error;
use crate::kubeconfig::KubeconfigSource;
use crate::targets::connect_all;
use std::path::PathBuf;
use std::time::Duration;

/// Where the clusters are and how to talk to them.
#[derive(Debug, Clone)]
pub struct Access {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--request-timeout` (`None`: no limit).
    pub timeout: Option<Duration>,
}

impl Access {
    /// From the shared `--kubeconfig` / `--request-timeout` flags.
    pub fn from_args(args: &crate::cli::KubeArgs) -> Result<Access, Error> {
        Ok(Access {
            kubeconfig: args.kubeconfig.clone(),
            timeout: args.request_timeout(),
        })
    }

    /// One client per member, in the members' order; every context must answer.
    pub(crate) async fn connect(&self, members: &[Member]) -> Result<Vec<Kube>, Error> {
        let source = KubeconfigSource::load(self.kubeconfig.as_deref())?;
        let pairs: Vec<(String, String)> = members
            .iter()
            .map(|m| (m.cluster.to_string(), m.context.clone()))
            .collect();
        Ok(connect_all(&source, &pairs, self.timeout)
            .await?
            .into_iter()
            .map(|t| t.kube)
            .collect())
    }
}
