//! The cluster calls decision code makes, as a trait: [`Cluster`].
//!
//! Code that decides (what a join plans, what the trust gate refuses, what `leave` deletes
//! and keeps) takes `&impl Cluster` instead of the concrete [`Kube`], so the decision can be
//! tested in milliseconds against the in-memory fake (`cluster::fake`, feature `fake`) and
//! only what a server alone can tell is left to the lab. The trait lists exactly the calls
//! that code makes and nothing more; [`Kube`] implements each one by delegating to its own
//! method of the same name, so a plugin behaves as before.
//!
//! Every future is `Send`, so a generic caller can still be spawned on the runtime.

use super::{ClusterError, Kube};
use serde_json::Value;
use std::future::Future;

/// One cluster, as decision code sees it. Objects are JSON values as the API server returns
/// them (`apiVersion`, `kind`, `metadata`, …).
pub trait Cluster: Send + Sync {
    /// The kubeconfig context this cluster is reached through (for messages).
    fn context(&self) -> &str;

    /// Whether applies take fields other managers own (`--force-conflicts`).
    fn force_conflicts(&self) -> bool;

    /// The API server's version (`v1.35.4`).
    fn version(&self) -> impl Future<Output = Result<String, ClusterError>> + Send;

    /// Whether the cluster serves `api_version`/`kind` (discovery).
    fn serves(
        &self,
        api_version: &str,
        kind: &str,
    ) -> impl Future<Output = Result<bool, ClusterError>> + Send;

    /// One object; `None` when it does not exist ([`ClusterError::NotServed`] for a kind the
    /// cluster does not serve). May be answered from a watch cache.
    fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send;

    /// [`Cluster::get`] from the server itself, never from a cache.
    fn get_live(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send;

    /// Objects in one namespace (or all), by label and field selector (`metadata.name=…`).
    fn list_selected(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Value>, ClusterError>> + Send;

    /// [`Cluster::list_selected`] without a field selector.
    fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Value>, ClusterError>> + Send {
        self.list_selected(api_version, kind, namespace, labels, None)
    }

    /// Server-side apply as the plugin's field manager, `force` taking fields other managers
    /// own; with `dry_run` the result is returned and nothing stored. An object the plugin
    /// migrates from the legacy field manager is applied under that name and renamed.
    fn apply_with(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send;

    /// [`Cluster::apply_with`], forcing as this connection was made ([`Cluster::force_conflicts`]).
    fn apply(
        &self,
        manifest: &Value,
        dry_run: bool,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send {
        self.apply_with(manifest, dry_run, self.force_conflicts())
    }

    /// Server-side apply as `manager` (a conflict with this suite's own managers only is
    /// taken over; any other is [`ClusterError::Conflict`] unless `force`).
    fn apply_as(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
        manager: &str,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send;

    /// A JSON merge patch (an update by the plugin's field manager).
    fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send;

    /// Deletes an object; `false` when it was already gone.
    fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
    ) -> impl Future<Output = Result<bool, ClusterError>> + Send;

    /// A token for ServiceAccount `namespace/service_account` from the TokenRequest API,
    /// valid for `ttl_seconds` and bound to the Secret `bound_to` (`(name, uid)`), so that
    /// deleting that Secret revokes it.
    fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        bound_to: (&str, &str),
        ttl_seconds: u64,
    ) -> impl Future<Output = Result<String, ClusterError>> + Send;
}

impl Cluster for Kube {
    fn context(&self) -> &str {
        &self.context
    }

    fn force_conflicts(&self) -> bool {
        self.force_conflicts
    }

    fn version(&self) -> impl Future<Output = Result<String, ClusterError>> + Send {
        Kube::version(self)
    }

    fn serves(
        &self,
        api_version: &str,
        kind: &str,
    ) -> impl Future<Output = Result<bool, ClusterError>> + Send {
        Kube::serves(self, api_version, kind)
    }

    fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send {
        Kube::get(self, api_version, kind, namespace, name)
    }

    fn get_live(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<Option<Value>, ClusterError>> + Send {
        Kube::get_live(self, api_version, kind, namespace, name)
    }

    fn list_selected(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Value>, ClusterError>> + Send {
        Kube::list_selected(self, api_version, kind, namespace, labels, fields)
    }

    fn apply_with(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send {
        Kube::apply_with(self, manifest, dry_run, force)
    }

    fn apply_as(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
        manager: &str,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send {
        Kube::apply_as(self, manifest, dry_run, force, manager)
    }

    fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send {
        Kube::merge_patch(self, api_version, kind, namespace, name, patch)
    }

    fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
    ) -> impl Future<Output = Result<bool, ClusterError>> + Send {
        Kube::delete(self, api_version, kind, namespace, name, dry_run)
    }

    fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        bound_to: (&str, &str),
        ttl_seconds: u64,
    ) -> impl Future<Output = Result<String, ClusterError>> + Send {
        Kube::request_token(self, namespace, service_account, bound_to, ttl_seconds)
    }
}
