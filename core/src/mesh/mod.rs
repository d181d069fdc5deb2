//! The mesh file (`mesh.yaml`): the whole mesh described once, read by all three plugins.
//!
//! ```yaml
//! meshID: mesh1
//! certs: ./mesh-certs
//! istio: { version: v1.30.3 }
//! clusters:
//!   - { name: east, context: kind-east, network: network1, role: primary }
//!   - { name: west, context: kind-west, network: network2, role: remote, primary: east }
//! ```
//! Parsing rejects unknown keys (a typo is an error, not a silent default) and checks the
//! invariants a mesh needs before anything touches a cluster: unique DNS-1123 cluster names,
//! unique contexts, every remote names an existing primary.

mod rules;

pub use rules::{Violation, is_label_value, violations};

use crate::hint::Hinted;
use crate::names::ClusterName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The default Istio version for new control planes.
pub const DEFAULT_ISTIO_VERSION: &str = "v1.30.3";

/// A cluster's role in the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs istiod.
    Primary,
    /// Uses a primary's istiod.
    Remote,
}

/// Istio settings shared by all clusters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioSpec {
    /// Istio version for the `Istio` resources. Unset: `mesh-join` takes the newest version the
    /// served operator installs (every selected cluster's), elsewhere [`DEFAULT_ISTIO_VERSION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Also install `IstioCNI`.
    #[serde(default)]
    pub cni: bool,
    /// CNI configuration directory for `IstioCNI` (`/etc/cni/multus/net.d` with Multus); unset
    /// leaves the operator's profile default (OpenShift's differs from upstream's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_conf_dir: Option<String>,
    /// Run east-west gateways on infra nodes (`node-role.kubernetes.io/infra`).
    #[serde(default)]
    pub gateways_on_infra_nodes: bool,
}

impl IstioSpec {
    /// The version to install: the file's, else [`DEFAULT_ISTIO_VERSION`].
    pub fn version(&self) -> &str {
        self.version.as_deref().unwrap_or(DEFAULT_ISTIO_VERSION)
    }
}

/// One cluster of the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Cluster ID: clusterName, remote-secret key, injection path.
    pub name: String,
    /// Kubeconfig context.
    pub context: String,
    /// Network name (`topology.istio.io/network`).
    pub network: String,
    /// Primary or remote.
    pub role: Role,
    /// For a remote: its primary's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// The east-west gateway address, where no load balancer reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub east_west_address: Option<String>,
    /// API server URL peers use to reach this cluster (remote secrets); default: the kubeconfig's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server: Option<String>,
}

/// The mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshSpec {
    /// Mesh ID, the same everywhere.
    #[serde(rename = "meshID")]
    pub mesh_id: String,
    /// Certificate directory (relative to the mesh file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certs: Option<PathBuf>,
    /// Istio settings.
    #[serde(default)]
    pub istio: IstioSpec,
    /// The clusters.
    pub clusters: Vec<ClusterSpec>,
}

/// Why a mesh description was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// The file could not be read.
    #[error("cannot read mesh file '{}'", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid YAML for a mesh file.
    #[error("mesh file '{}' is not valid: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message (with line and column).
        reason: String,
    },
    /// The mesh breaks an invariant.
    #[error("mesh file '{}': {reason}", path.display())]
    Invalid {
        /// The file (or `<flags>`).
        path: PathBuf,
        /// What is wrong, naming the cluster.
        reason: String,
    },
}

impl Hinted for MeshError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            MeshError::Read { .. } => "check the path given with -f".into(),
            MeshError::Parse { .. } => "the mesh file has keys meshID, certs, istio {version, cni} and clusters [{name, context, network, role, primary, eastWestAddress, apiServer}] (README, 'The mesh file')".into(),
            MeshError::Invalid { .. } => "fix the mesh file; every cluster needs a unique DNS-1123 name and context, and every remote a primary".into(),
        })
    }
}

impl MeshSpec {
    /// Reads and validates a mesh file; a relative `certs` is resolved against its directory.
    pub fn load(path: &Path) -> Result<Self, MeshError> {
        let text = std::fs::read_to_string(path).map_err(|source| MeshError::Read {
            path: path.into(),
            source,
        })?;
        let mut mesh = Self::parse(&text, path)?;
        if let Some(certs) = &mesh.certs
            && certs.is_relative()
        {
            let base = path.parent().unwrap_or(Path::new("."));
            mesh.certs = Some(base.join(certs));
        }
        Ok(mesh)
    }

    /// Parses and validates mesh YAML; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, MeshError> {
        let mesh: MeshSpec = yaml_serde::from_str(text).map_err(|e| MeshError::Parse {
            path: origin.into(),
            reason: e.to_string(),
        })?;
        mesh.validate(origin)?;
        Ok(mesh)
    }

    /// Checks the invariants.
    pub fn validate(&self, origin: &Path) -> Result<(), MeshError> {
        let invalid = |reason: String| MeshError::Invalid {
            path: origin.into(),
            reason,
        };
        if self.mesh_id.trim().is_empty() {
            return Err(invalid("meshID is empty".into()));
        }
        if self.clusters.is_empty() {
            return Err(invalid("no clusters listed".into()));
        }
        if let Some(v) = violations(self).into_iter().next() {
            return Err(invalid(format!("{}: {}", v.key, v.reason)));
        }
        let mut contexts = BTreeSet::new();
        let names: Vec<&str> = self.clusters.iter().map(|c| c.name.as_str()).collect();
        ClusterName::parse_list(&names).map_err(|e| invalid(e.to_string()))?;
        for c in &self.clusters {
            if !contexts.insert(c.context.as_str()) {
                return Err(invalid(format!(
                    "context '{}' is used by more than one cluster (cluster '{}')",
                    c.context, c.name
                )));
            }
            if c.network.trim().is_empty() {
                return Err(invalid(format!(
                    "cluster '{}' has an empty network",
                    c.name
                )));
            }
            match (c.role, &c.primary) {
                (Role::Primary, Some(p)) => {
                    return Err(invalid(format!(
                        "cluster '{}' is a primary but names primary '{p}'",
                        c.name
                    )));
                }
                (Role::Remote, None) => {
                    return Err(invalid(format!(
                        "remote cluster '{}' does not name its primary",
                        c.name
                    )));
                }
                (Role::Remote, Some(p)) => match self.cluster(p) {
                    Some(pc) if pc.role == Role::Primary => {}
                    Some(_) => {
                        return Err(invalid(format!(
                            "cluster '{}' names '{p}' as its primary, but '{p}' is a remote",
                            c.name
                        )));
                    }
                    None => {
                        return Err(invalid(format!(
                            "cluster '{}' names primary '{p}', which is not in the mesh",
                            c.name
                        )));
                    }
                },
                (Role::Primary, None) => {}
            }
        }
        Ok(())
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&ClusterSpec> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// True when the clusters are on more than one network.
    pub fn multi_network(&self) -> bool {
        self.clusters
            .iter()
            .map(|c| &c.network)
            .collect::<BTreeSet<_>>()
            .len()
            > 1
    }

    /// True when any cluster is a remote.
    pub fn has_remotes(&self) -> bool {
        self.clusters.iter().any(|c| c.role == Role::Remote)
    }

    /// The remotes whose primary is `primary`.
    pub fn remotes_of(&self, primary: &str) -> Vec<&ClusterSpec> {
        self.clusters
            .iter()
            .filter(|c| c.primary.as_deref() == Some(primary))
            .collect()
    }

    /// The topology's name, as the docs call it.
    pub fn topology(&self) -> &'static str {
        match (self.has_remotes(), self.multi_network()) {
            (false, false) => "multi-primary",
            (false, true) => "multi-primary, multi-network",
            (true, false) => "primary-remote",
            (true, true) => "primary-remote, multi-network",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MeshSpec, MeshError> {
        MeshSpec::parse(text, Path::new("mesh.yaml"))
    }

    const OK: &str = "meshID: mesh1\ncerts: ./mesh-certs\nistio:\n  version: v1.28.1\nclusters:\n  - {name: east, context: kind-east, network: network1, role: primary}\n  - {name: west, context: kind-west, network: network2, role: remote, primary: east, eastWestAddress: 1.2.3.4}\n";

    #[test]
    fn reads_the_design_example() {
        let mesh = parse(OK).unwrap();
        assert_eq!(mesh.mesh_id, "mesh1");
        assert_eq!(mesh.topology(), "primary-remote, multi-network");
        assert_eq!(mesh.remotes_of("east").len(), 1);
        assert_eq!(
            mesh.cluster("west").unwrap().east_west_address.as_deref(),
            Some("1.2.3.4")
        );
    }

    #[test]
    fn rejects_typos_and_broken_invariants() {
        let cases = [
            (OK.replace("meshID", "meshId"), "meshId"),
            (
                OK.replace("role: remote, primary: east", "role: remote"),
                "remote cluster 'west' does not name its primary",
            ),
            (
                OK.replace("primary: east", "primary: north"),
                "names primary 'north', which is not in the mesh",
            ),
            (
                OK.replace("context: kind-west", "context: kind-east"),
                "context 'kind-east' is used by more than one cluster",
            ),
            (
                OK.replace("name: west", "name: east"),
                "given more than once",
            ),
            (
                OK.replace("name: west", "name: West"),
                "clusters[1].name: \"West\" is not a cluster name",
            ),
            (
                OK.replace("network: network2", "network: \"net 2\""),
                "clusters[1].network: \"net 2\" is not a label value",
            ),
            (
                OK.replace("eastWestAddress: 1.2.3.4", "eastWestAddress: a_b"),
                "clusters[1].eastWestAddress",
            ),
            (
                OK.replace(
                    "eastWestAddress: 1.2.3.4",
                    "eastWestAddress: gw.example.com",
                ),
                "clusters[1].eastWestAddress: \"gw.example.com\" is not an IP address: in a multi-network mesh",
            ),
            (OK.replace("mesh1", "mesh/1"), "meshID: \"mesh/1\""),
            (OK.replace("v1.28.1", "1.28"), "istio.version"),
        ];
        // Positive control: a DNS name is fine where it only serves as the remotes' pilot
        // address (one network).
        let one_network = OK
            .replace(
                "eastWestAddress: 1.2.3.4",
                "eastWestAddress: gw.example.com",
            )
            .replace("network: network2", "network: network1");
        assert!(parse(&one_network).is_ok());
        for (text, expected) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should contain {expected}");
            assert!(err.contains("mesh.yaml"), "{err}");
        }
    }
}
