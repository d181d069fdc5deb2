//! Reads from one cluster's API server in process, over a kept-alive connection. The pod
//! runner polls its cluster every half second; a kubectl process per read (Go start-up, TLS,
//! discovery) cost an idle two-cluster lab most of a core, which the API servers, the
//! operator and istiod need.

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// One cluster's API server, for GETs from synchronous code (any thread).
#[derive(Clone)]
pub struct Api {
    rt: Arc<tokio::runtime::Runtime>,
    client: kube::Client,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

impl Api {
    /// A client from a single-context kubeconfig.
    pub fn new(kubeconfig: &Path) -> Result<Api> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let file = Kubeconfig::read_from(kubeconfig)
            .with_context(|| format!("reading {}", kubeconfig.display()))?;
        let client = rt.block_on(async {
            let config =
                kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?;
            anyhow::Ok(kube::Client::try_from(config)?)
        })?;
        Ok(Api {
            rt: Arc::new(rt),
            client,
        })
    }

    /// `GET path` as JSON; `None` when the server refuses (absent included) or is unreachable.
    pub fn get(&self, path: &str) -> Option<Value> {
        let request = http::Request::get(path).body(Vec::new()).ok()?;
        let text = self.rt.block_on(self.client.request_text(request)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The first of `paths` the server answers (a resource served at several versions).
    pub fn get_any(&self, paths: &[&str]) -> Option<Value> {
        paths.iter().find_map(|p| self.get(p))
    }
}
