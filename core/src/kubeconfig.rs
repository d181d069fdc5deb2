//! Kubeconfig handling: which file(s), which contexts, and what each context points at.
//!
//! kubectl passes no flags to plugins, so we read `--kubeconfig`, `KUBECONFIG` (a list of
//! files, merged first-wins as kubectl does) and `~/.kube/config` ourselves, through kube-rs.
//! A command that spans clusters names every context explicitly: we never fall back silently to
//! `current-context` for a multi-cluster action.

use crate::hint::Hinted;
use kube::config::Kubeconfig;
use std::path::{Path, PathBuf};

/// Where contexts come from.
#[derive(Debug, Clone)]
pub struct KubeconfigSource {
    /// The merged kubeconfig.
    pub config: Kubeconfig,
    /// What was read (for messages).
    pub origin: String,
}

/// Errors locating or reading a kubeconfig or a context in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeconfigError {
    /// The file(s) could not be read or parsed.
    #[error("cannot read kubeconfig {origin}")]
    Read {
        /// Which file(s).
        origin: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A context that the kubeconfig does not define.
    #[error("context '{context}' is not in kubeconfig {origin} (it has: {available})")]
    NoContext {
        /// The context asked for.
        context: String,
        /// Which file(s).
        origin: String,
        /// Contexts it has.
        available: String,
    },
    /// No context named and no current-context.
    #[error("no --context given and kubeconfig {origin} has no current-context")]
    NoCurrentContext {
        /// Which file(s).
        origin: String,
    },
}

impl Hinted for KubeconfigError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            KubeconfigError::Read { .. } => {
                "check --kubeconfig or KUBECONFIG; `kubectl config view` shows what kubectl reads"
                    .into()
            }
            KubeconfigError::NoContext { .. } => {
                "list contexts with `kubectl config get-contexts` and pass one with --context"
                    .into()
            }
            KubeconfigError::NoCurrentContext { .. } => {
                "pass --context NAME (see `kubectl config get-contexts`)".into()
            }
        })
    }
}

impl KubeconfigSource {
    /// Reads `explicit`, else `KUBECONFIG`, else `~/.kube/config`, else — inside a pod,
    /// where none of them is present — the pod's service account ([`in_cluster`]).
    pub fn load(explicit: Option<&Path>) -> Result<Self, KubeconfigError> {
        if let Some(config) = in_cluster_fallback(explicit) {
            return Ok(Self::from_config(config, "of this pod's service account"));
        }
        let (result, origin) = match explicit {
            Some(path) => (Kubeconfig::read_from(path), format!("'{}'", path.display())),
            None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
                Some(list) => (
                    Kubeconfig::read(),
                    format!("from KUBECONFIG='{}'", list.to_string_lossy()),
                ),
                None => (Kubeconfig::read(), "'~/.kube/config'".to_string()),
            },
        };
        let config = result.map_err(|source| KubeconfigError::Read {
            origin: origin.clone(),
            source,
        })?;
        Ok(KubeconfigSource { config, origin })
    }

    /// A source from an in-memory kubeconfig (tests, remote secrets).
    pub fn from_config(config: Kubeconfig, origin: &str) -> Self {
        KubeconfigSource {
            config,
            origin: origin.into(),
        }
    }

    /// Context names, in file order.
    pub fn contexts(&self) -> Vec<String> {
        self.config
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// Checks `context` exists.
    pub fn require(&self, context: &str) -> Result<(), KubeconfigError> {
        if self.config.contexts.iter().any(|c| c.name == context) {
            Ok(())
        } else {
            Err(KubeconfigError::NoContext {
                context: context.into(),
                origin: self.origin.clone(),
                available: self.contexts().join(", "),
            })
        }
    }

    /// The contexts to use: the ones given, or the current context when none is given and the
    /// action concerns one cluster only.
    pub fn resolve(&self, given: &[String]) -> Result<Vec<String>, KubeconfigError> {
        if given.is_empty() {
            let current = self.config.current_context.clone().ok_or_else(|| {
                KubeconfigError::NoCurrentContext {
                    origin: self.origin.clone(),
                }
            })?;
            self.require(&current)?;
            return Ok(vec![current]);
        }
        for c in given {
            self.require(c)?;
        }
        Ok(given.to_vec())
    }

    /// The API server URL a context points at, when the kubeconfig says.
    pub fn server(&self, context: &str) -> Option<String> {
        let ctx = self.config.contexts.iter().find(|c| c.name == context)?;
        let cluster = &ctx.context.as_ref()?.cluster;
        self.config
            .clusters
            .iter()
            .find(|c| &c.name == cluster)?
            .cluster
            .as_ref()?
            .server
            .clone()
    }
}

/// The context name of the pod's own cluster when no kubeconfig is present.
pub const IN_CLUSTER_CONTEXT: &str = "in-cluster";

/// Where a pod's service account credentials are mounted.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The pod's own cluster as a one-context kubeconfig (context [`IN_CLUSTER_CONTEXT`], its
/// current context): the API server from `KUBERNETES_SERVICE_HOST`/`_PORT`, the mounted CA and
/// the token *file*, which the client re-reads as the kubelet rotates it. `None` outside a pod.
/// `KUBECTL_MESH_SERVICEACCOUNT_DIR` stands in for the mount (the lab runs the watch as a
/// process with a service account's token, as its Deployment would).
pub fn in_cluster() -> Option<Kubeconfig> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    let dir = std::env::var_os("KUBECTL_MESH_SERVICEACCOUNT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR));
    let token = dir.join("token");
    if host.is_empty() || !token.exists() {
        return None;
    }
    Some(in_cluster_config(&host, &port, &dir))
}

/// [`in_cluster`] when no kubeconfig is given or present, as [`KubeconfigSource::load`] reads.
fn in_cluster_fallback(explicit: Option<&Path>) -> Option<Kubeconfig> {
    let none_given = explicit.is_none()
        && std::env::var_os("KUBECONFIG").is_none_or(|v| v.is_empty())
        && default_path().is_none_or(|p| !p.exists());
    none_given.then(in_cluster).flatten()
}

/// Whether [`KubeconfigSource::load`] would read the pod's service account: a command that
/// is given no context then checks the pod's own cluster ([`IN_CLUSTER_CONTEXT`]).
pub fn runs_in_cluster(explicit: Option<&Path>) -> bool {
    in_cluster_fallback(explicit).is_some()
}

/// The kubeconfig [`in_cluster`] returns, from its inputs (pure).
pub fn in_cluster_config(host: &str, port: &str, dir: &Path) -> Kubeconfig {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": IN_CLUSTER_CONTEXT, "cluster": {
            "server": format!("https://{host}:{port}"),
            "certificate-authority": dir.join("ca.crt"),
        }}],
        "users": [{"name": IN_CLUSTER_CONTEXT, "user": {"tokenFile": dir.join("token")}}],
        "contexts": [{"name": IN_CLUSTER_CONTEXT, "context": {
            "cluster": IN_CLUSTER_CONTEXT, "user": IN_CLUSTER_CONTEXT,
        }}],
        "current-context": IN_CLUSTER_CONTEXT,
    });
    serde_json::from_value(config).unwrap_or_default()
}

/// The default kubeconfig path of this user (for messages).
pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config"))
}

#[cfg(test)]
#[path = "kubeconfig_tests.rs"]
mod tests;
