//! [`Cluster`] for [`FakeCluster`]: every call answered at once from memory.

use super::{Cluster, ClusterError, FakeCluster, Read, Value, key};
use std::future::{Future, ready};

impl Cluster for FakeCluster {
    fn context(&self) -> &str {
        &self.context
    }

    fn force_conflicts(&self) -> bool {
        self.force_conflicts
    }

    fn version(&self) -> impl Future<Output = Result<String, ClusterError>> + Send {
        ready(Ok(self.version.clone()))
    }

    fn serves(&self, a: &str, k: &str) -> impl Future<Output = Result<bool, ClusterError>> + Send {
        ready(Ok(self.served(a, k)))
    }

    fn get(
        &self,
        a: &str,
        k: &str,
        ns: Option<&str>,
        n: &str,
    ) -> impl Future<Output = Read> + Send {
        ready(self.read(a, k, ns, n))
    }

    fn get_live(
        &self,
        a: &str,
        k: &str,
        ns: Option<&str>,
        n: &str,
    ) -> impl Future<Output = Read> + Send {
        ready(self.read(a, k, ns, n))
    }

    fn list_selected(
        &self,
        a: &str,
        k: &str,
        ns: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Value>, ClusterError>> + Send {
        ready(self.list_now((a, k), ns, labels, fields))
    }

    fn apply_with(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send {
        ready(self.apply_migrating(manifest, dry_run, force))
    }

    fn apply_as(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
        manager: &str,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send {
        ready(self.apply_now(manifest, dry_run, force, manager))
    }

    fn merge_patch(
        &self,
        a: &str,
        k: &str,
        ns: Option<&str>,
        n: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<Value, ClusterError>> + Send {
        ready(self.patch_now(&key(a, k, ns, n), patch))
    }

    fn delete(
        &self,
        a: &str,
        k: &str,
        ns: Option<&str>,
        n: &str,
        dry_run: bool,
    ) -> impl Future<Output = Result<bool, ClusterError>> + Send {
        ready(self.delete_now(&key(a, k, ns, n), dry_run))
    }

    fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        bound_to: (&str, &str),
        ttl_seconds: u64,
    ) -> impl Future<Output = Result<String, ClusterError>> + Send {
        ready(self.token_now(namespace, service_account, bound_to, ttl_seconds))
    }
}
