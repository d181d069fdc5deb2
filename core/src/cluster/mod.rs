//! The only module that talks to Kubernetes API servers.
//!
//! [`Kube`] is one connected cluster: the context it came from, the API server URL, and a
//! handful of operations on manifests held as JSON values (`apiVersion`, `kind`, `metadata`, …).
//! Writes use server-side apply with the plugin's field manager ([`field_manager`]), so a second run of
//! the same command changes nothing and other tools' fields are left alone. Every error names
//! the context and the object, so a multi-cluster run says exactly where it failed.

mod api;
pub mod cache;
mod error;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
mod managers;
mod read;
mod typed;
mod write;

pub use api::Cluster;
pub use error::{ClusterError, FieldConflict, field_conflicts, sentence};

use crate::kinds::{self, KindInfo};
use crate::kubeconfig::KubeconfigSource;
use kube::api::{Api, DynamicObject};
use kube::config::KubeConfigOptions;
use kube::discovery::ApiResource;
use serde_json::Value;
use std::time::Duration;

pub use managers::{
    CERTS_FIELD_MANAGER, JOIN_FIELD_MANAGER, LEGACY_FIELD_MANAGER, OURS, VERIFY_FIELD_MANAGER,
    field_manager, manager_for, set_field_manager,
};

/// Discovered resources by group-version: (kind, plural, namespaced), `None` when not served.
type DiscoveryCache = std::sync::Arc<
    tokio::sync::Mutex<std::collections::HashMap<String, Option<Vec<(String, String, bool)>>>>,
>;

/// The discovery cache's mark that aggregated discovery listed every group-version.
const DISCOVERED_ALL: &str = "*";
/// The discovery cache's mark that aggregated discovery was asked for (once per connection).
const DISCOVERY_TRIED: &str = "*tried";

/// A connected cluster.
#[derive(Clone)]
pub struct Kube {
    pub context: String,
    pub server: String,
    client: kube::Client,
    /// Discovery documents by group-version (`None`: not served), fetched once per run.
    discovery: DiscoveryCache,
    /// Take fields other managers own when applying (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Requests sent through this connection (watches count once, when opened).
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Watch caches reads are answered from (none outside `mesh-verify --watch`).
    caches: cache::Caches,
    /// The per-request timeout this connection was made with.
    client_timeout: Option<Duration>,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

/// The identity of an object, for messages: `Kind namespace/name`.
pub fn describe(manifest: &Value) -> String {
    let kind = manifest["kind"].as_str().unwrap_or("?");
    let name = manifest["metadata"]["name"].as_str().unwrap_or("?");
    match manifest["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

impl Kube {
    /// Connects to `context` of `source` with `timeout` per request (no request is made yet).
    pub async fn connect(
        source: &KubeconfigSource,
        context: &str,
        timeout: Option<Duration>,
    ) -> Result<Self, ClusterError> {
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let caches = cache::Caches::default();
        Self::build(source, context, (timeout, timeout), requests, caches).await
    }

    /// A second connection to the same context for long-lived watches: no read timeout (a
    /// quiet watch sends nothing for minutes; the API server ends it after ~5 minutes and it
    /// resumes), the same request counter and the same caches as this one.
    pub async fn for_watching(&self, source: &KubeconfigSource) -> Result<Self, ClusterError> {
        let timeouts = (None, self.client_timeout);
        let (requests, caches) = (self.requests.clone(), self.caches.clone());
        Self::build(source, &self.context, timeouts, requests, caches).await
    }

    async fn build(
        source: &KubeconfigSource,
        context: &str,
        (read, timeout): (Option<Duration>, Option<Duration>),
        requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
        caches: cache::Caches,
    ) -> Result<Self, ClusterError> {
        source
            .require(context)
            .map_err(|e| ClusterError::kubeconfig(context, e))?;
        let opts = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(source.config.clone(), &opts)
            .await
            .map_err(|e| ClusterError::config(context, e.to_string()))?;
        config.connect_timeout = timeout.or(Some(Duration::from_secs(30)));
        config.read_timeout = read;
        config.write_timeout = timeout;
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let counter = requests.clone();
        let count = tower::util::MapRequestLayer::new(move |req| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            req
        });
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| ClusterError::config(context, e.to_string()))?
            .with_layer(&count)
            .build();
        Ok(Kube {
            context: context.into(),
            server,
            client,
            discovery: Default::default(),
            force_conflicts: false,
            requests,
            caches,
            client_timeout: timeout,
        })
    }

    /// Wraps an existing client (for credentials that come from elsewhere, e.g. a remote
    /// secret's kubeconfig).
    pub fn from_client(context: &str, client: kube::Client) -> Self {
        Kube {
            context: context.into(),
            server: String::new(),
            client,
            discovery: Default::default(),
            force_conflicts: false,
            requests: Default::default(),
            caches: Default::default(),
            client_timeout: None,
        }
    }

    /// How many requests this connection has sent (watches count once, when opened; a
    /// client from [`Kube::from_client`] counts nothing).
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This connection, applying with `--force-conflicts`: fields other managers own are
    /// taken over instead of stopping the plan.
    pub fn forcing_conflicts(mut self, force: bool) -> Self {
        self.force_conflicts = force;
        self
    }

    /// Forgets what discovery found (an installer added CRDs during the run).
    pub async fn forget_discovery(&self) {
        self.discovery.lock().await.clear();
    }

    /// The API server's version (`v1.35.4`): proves the cluster is reachable and we may talk.
    pub async fn version(&self) -> Result<String, ClusterError> {
        let info = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| ClusterError::api(&self.context, "GET /version", e))?;
        Ok(info.git_version)
    }

    /// The resource for `api_version`/`kind`: the built-in table, else discovery.
    /// `None` when the cluster does not serve it.
    pub async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<(ApiResource, bool)>, ClusterError> {
        if let Some(info) = kinds::lookup(api_version, kind)
            && !info.api_version.contains(".istio.io")
            && !info.api_version.starts_with("sailoperator.io")
        {
            return Ok(Some((info.api_resource(), info.namespaced)));
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        // One discovery request per group-version and run (a verify of N clusters stays
        // within a fixed number of requests per cluster).
        let mut cache = self.discovery.lock().await;
        if !cache.contains_key(api_version) && cache.contains_key(DISCOVERED_ALL) {
            // Aggregated discovery listed every group-version: this one is not served.
            cache.insert(api_version.to_string(), None);
        }
        if !cache.contains_key(api_version) {
            let fetched = if group.is_empty() {
                self.client.list_core_api_resources(version).await
            } else {
                self.client.list_api_group_resources(api_version).await
            };
            let entry = match fetched {
                Ok(list) => Some(
                    list.resources
                        .into_iter()
                        .filter(|r| !r.name.contains('/'))
                        .map(|r| (r.kind, r.name, r.namespaced))
                        .collect(),
                ),
                Err(kube::Error::Api(s)) if s.code == 404 => None,
                Err(e) => {
                    return Err(ClusterError::api(
                        &self.context,
                        &format!("discover {api_version}"),
                        e,
                    ));
                }
            };
            cache.insert(api_version.to_string(), entry);
        }
        let found = cache
            .get(api_version)
            .and_then(|e| e.as_ref())
            .and_then(|list| list.iter().find(|(k, _, _)| k == kind).cloned());
        Ok(found.map(|(_, plural, namespaced)| {
            let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
            (ApiResource::from_gvk_with_plural(&gvk, &plural), namespaced)
        }))
    }

    /// Discovers every API group in one request (aggregated discovery, `GET /apis` as
    /// `APIGroupDiscoveryList`, Kubernetes 1.30+). A server that answers with the plain
    /// group list leaves the cache as it was: discovery then goes per group-version. Asked
    /// once per connection; later calls return at once.
    pub async fn discover_all(&self) -> Result<(), ClusterError> {
        if self.discovery.lock().await.contains_key(DISCOVERY_TRIED) {
            return Ok(());
        }
        let request = http::Request::get("/apis")
            .header(
                http::header::ACCEPT,
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            )
            .body(Vec::new())
            .map_err(|e| ClusterError::config(&self.context, e.to_string()))?;
        let text =
            self.client.request_text(request).await.map_err(|e| {
                ClusterError::api(&self.context, "GET /apis (aggregated discovery)", e)
            })?;
        let doc: Value = serde_json::from_str(&text).unwrap_or_default();
        let mut cache = self.discovery.lock().await;
        cache.insert(DISCOVERY_TRIED.to_string(), None);
        if doc["kind"] != "APIGroupDiscoveryList" {
            return Ok(());
        }
        for group in doc["items"].as_array().into_iter().flatten() {
            let name = group["metadata"]["name"].as_str().unwrap_or_default();
            for version in group["versions"].as_array().into_iter().flatten() {
                let v = version["version"].as_str().unwrap_or_default();
                let resources = version["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| {
                        Some((
                            r["responseKind"]["kind"].as_str()?.to_string(),
                            r["resource"].as_str()?.to_string(),
                            r["scope"] == "Namespaced",
                        ))
                    })
                    .collect();
                cache.insert(format!("{name}/{v}"), Some(resources));
            }
        }
        cache.insert(DISCOVERED_ALL.to_string(), None);
        Ok(())
    }

    pub async fn serves(&self, api_version: &str, kind: &str) -> Result<bool, ClusterError> {
        Ok(self.resource(api_version, kind).await?.is_some())
    }

    async fn api_for(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, ClusterError> {
        let (ar, namespaced) =
            self.resource(api_version, kind)
                .await?
                .ok_or_else(|| ClusterError::NotServed {
                    context: self.context.clone(),
                    api_version: api_version.into(),
                    kind: kind.into(),
                })?;
        Ok(match (namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            (true, None) => Api::all_with(self.client.clone(), &ar),
            (false, _) => Api::all_with(self.client.clone(), &ar),
        })
    }
}

/// `apiVersion`, `kind`, namespace and name of a manifest.
pub fn identity(manifest: &Value) -> (String, String, Option<String>, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        s(&manifest["apiVersion"]),
        s(&manifest["kind"]),
        manifest["metadata"]["namespace"].as_str().map(String::from),
        s(&manifest["metadata"]["name"]),
    )
}

fn object_label(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// Known kind info for a manifest, if any.
pub fn kind_of(manifest: &Value) -> Option<&'static KindInfo> {
    kinds::lookup(
        manifest["apiVersion"].as_str().unwrap_or_default(),
        manifest["kind"].as_str().unwrap_or_default(),
    )
}
