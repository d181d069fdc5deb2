//! `kubectl mesh-certs apply | status | rotate`: the mesh's trust in the clusters.
//!
//! `apply` puts each cluster's `cacerts` (never the root key) into `istio-system`, after
//! checking every cluster first: an identical Secret is left alone, another intermediate under
//! the same root is replaced only with `--force`, a Secret from another root is refused with
//! both fingerprints. Nothing is written anywhere while any cluster is refused, and every
//! write is first sent to every API server as a dry run.
//!
//! `status` is the live inventory: each cluster's intermediate, the roots it trusts, whether
//! it chains, whether every cluster shares one root, whether the `istio-ca-root-cert`
//! ConfigMaps carry it, and whether it is the root on the operator's disk.
//!
//! `rotate` issues a new intermediate under the same root with the settings the directory
//! was created with, and applies it.
//!
//! One file per step: [`access`] (connecting), [`plan`] (what each cluster needs and what is
//! refused), [`preflight`] (local and server-side validation before the first write),
//! [`apply`], [`status`] with its [`table`], and [`rotate`].

mod access;
mod apply;
mod plan;
mod preflight;
mod rotate;
mod status;
mod table;

pub use access::Access;
pub use apply::{ApplyOptions, apply};
pub(crate) use preflight::server_dry_run;
pub use rotate::{RotateOptions, RotateReport, rotate};
pub use status::{ClusterTrust, StatusOptions, TrustStatus, judge_trust, observe_trust, status};

use crate::cluster::{Cluster, ClusterError};
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE};
use crate::names::ClusterName;
use serde_json::Value;

/// One cluster a command concerns.
#[derive(Debug, Clone)]
pub struct Member {
    /// Cluster name (the directory in the certificate store, the mesh's cluster ID).
    pub cluster: ClusterName,
    /// Kube context.
    pub context: String,
    /// Network label for its Istio namespace.
    pub network: Option<String>,
}

/// The Secret a cluster has now, read through the API.
async fn live_cacerts(kube: &impl Cluster) -> Result<Option<Value>, ClusterError> {
    kube.get("v1", "Secret", Some(ISTIO_NAMESPACE), CACERTS_SECRET)
        .await
}

/// `context C: istio-system/cacerts`, for messages.
fn origin(kube: &impl Cluster) -> String {
    format!(
        "context {}: {ISTIO_NAMESPACE}/{CACERTS_SECRET}",
        kube.context()
    )
}
