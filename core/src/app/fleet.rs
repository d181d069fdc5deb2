//! The connections of one run (a join, a leave, `rotate-credentials`), and what is read from
//! them before planning: API server addresses, the remotes' pilot address, the Sail API
//! version.

use crate::app::trust::Access;
use crate::cluster::{Cluster, ClusterError, Kube};
use crate::error::Error;
use crate::kubeconfig::KubeconfigSource;
use crate::labels::ISTIO_NAMESPACE;
use crate::manifests::{gateway, remote_secret};
use crate::mesh::{ClusterSpec, MeshSpec};
use crate::targets::connect_all;
use std::collections::BTreeMap;

/// Everything needed to talk to the mesh's clusters (connections, or in unit tests fakes).
pub struct Fleet<C = Kube> {
    /// The kubeconfig.
    pub source: KubeconfigSource,
    /// Connections by cluster name.
    pub kubes: BTreeMap<String, C>,
}

impl<C> std::fmt::Debug for Fleet<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("clusters", &self.kubes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Fleet {
    /// Connects to `names` (probing each), applying with `--force-conflicts` when `force`.
    pub async fn connect(
        mesh: &MeshSpec,
        access: &Access,
        names: &[String],
        force: bool,
    ) -> Result<Fleet, Error> {
        let source = KubeconfigSource::load(access.kubeconfig.as_deref())?;
        let pairs: Vec<(String, String)> = mesh
            .clusters
            .iter()
            .filter(|c| names.contains(&c.name))
            .map(|c| (c.name.clone(), c.context.clone()))
            .collect();
        let targets = connect_all(&source, &pairs, access.timeout).await?;
        let kubes = targets
            .into_iter()
            .map(|t| (t.name, t.kube.forcing_conflicts(force)))
            .collect();
        Ok(Fleet { source, kubes })
    }
}

impl<C> Fleet<C> {
    /// Clusters by name with an empty kubeconfig (unit tests over fakes).
    #[cfg(any(test, feature = "fake"))]
    pub fn of(kubes: impl IntoIterator<Item = (String, C)>) -> Self {
        Fleet {
            source: KubeconfigSource {
                config: Default::default(),
                origin: "no kubeconfig (fake clusters)".into(),
            },
            kubes: kubes.into_iter().collect(),
        }
    }

    /// The connection to `name`.
    pub fn kube(&self, name: &str) -> Result<&C, Error> {
        self.kubes.get(name).ok_or_else(|| {
            Error::input(
                format!("cluster '{name}' is not connected"),
                "report this as a bug",
            )
        })
    }

    /// The API server URL peers use for each source of `pairs`.
    pub fn servers(
        &self,
        mesh: &MeshSpec,
        pairs: &[(String, String)],
        allow_loopback: bool,
    ) -> Result<BTreeMap<String, String>, Error> {
        pairs
            .iter()
            .map(|(_, s)| {
                let sc = mesh.cluster(s).ok_or_else(|| {
                    Error::input(format!("cluster '{s}' missing"), "fix the mesh file")
                })?;
                Ok((s.clone(), server_of(sc, &self.source, allow_loopback)?))
            })
            .collect()
    }
}

/// The API server URL peers use for `cluster`.
pub fn server_of(
    c: &ClusterSpec,
    source: &KubeconfigSource,
    allow_loopback: bool,
) -> Result<String, Error> {
    let server = match &c.api_server {
        Some(s) => s.clone(),
        None => source.server(&c.context).ok_or_else(|| {
            Error::input(
                format!("context '{}' has no server in the kubeconfig", c.context),
                format!("set apiServer for cluster '{}' in the mesh file", c.name),
            )
        })?,
    };
    if remote_secret::is_loopback(&server) && !allow_loopback {
        return Err(Error::input(
            format!(
                "cluster '{}' would be read at {server}, a loopback address that istiod in another cluster cannot reach",
                c.name
            ),
            format!(
                "set apiServer for '{}' in the mesh file (or --server) to an address the other clusters reach; --allow-loopback accepts it when every cluster runs on this host",
                c.name
            ),
        ));
    }
    Ok(server.trim_end_matches('/').to_string())
}

/// The address remotes reach their primary's istiod at: `eastWestAddress`, else the primary's
/// east-west Service load balancer.
pub async fn remote_pilot_address(
    primary: &ClusterSpec,
    kube: Option<&impl Cluster>,
) -> Result<Option<String>, Error> {
    if let Some(a) = &primary.east_west_address {
        return Ok(Some(a.clone()));
    }
    if let Some(k) = kube
        && let Some(svc) = k
            .get("v1", "Service", Some(ISTIO_NAMESPACE), gateway::EAST_WEST)
            .await?
    {
        let ingress = &svc["status"]["loadBalancer"]["ingress"][0];
        if let Some(a) = ingress["ip"].as_str().or(ingress["hostname"].as_str()) {
            return Ok(Some(a.to_string()));
        }
    }
    Ok(None)
}

/// The Sail API version the cluster serves for `Istio`.
pub async fn istio_api_version(k: &impl Cluster) -> Result<String, Error> {
    for v in ["sailoperator.io/v1", "sailoperator.io/v1alpha1"] {
        if k.serves(v, "Istio").await? {
            return Ok(v.to_string());
        }
    }
    Err(ClusterError::NotServed {
        context: k.context().to_string(),
        api_version: "sailoperator.io/v1".into(),
        kind: "Istio".into(),
    }
    .into())
}
