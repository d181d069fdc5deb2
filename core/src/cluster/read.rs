//! Reads: one object or a list, from the server or, under `mesh-verify --watch`, from a live
//! watch cache that holds every answer.

use super::{ClusterError, Kube, cache, object_label, to_value};
use kube::api::ListParams;
use serde_json::Value;

impl Kube {
    /// The watch caches of this connection (shared by its clones).
    pub fn caches(&self) -> &cache::Caches {
        &self.caches
    }

    /// Reads one object; `None` when it does not exist. A live watch cache that holds it
    /// answers instead of the server.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let read = cache::Read {
            api_version,
            kind,
            namespace,
            labels: None,
            fields: None,
            name: Some(name),
        };
        if let Some(mut found) = self.caches.answer(&read) {
            return Ok(found.pop());
        }
        self.get_live(api_version, kind, namespace, name).await
    }

    /// Reads one object from the server, never from a cache (proof that it answers).
    pub async fn get_live(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let api = self.api_for(api_version, kind, namespace).await?;
        let what = object_label(kind, namespace, name);
        match asked_twice(|| api.get_opt(name)).await {
            Ok(Some(obj)) => Ok(Some(to_value(&obj))),
            Ok(None) => Ok(None),
            Err(e) => Err(ClusterError::api(&self.context, &format!("get {what}"), e)),
        }
    }

    /// Lists objects, optionally in one namespace and by label selector.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        self.list_selected(api_version, kind, namespace, labels, None)
            .await
    }

    /// Lists objects by label and field selector (`metadata.name=…`).
    pub async fn list_selected(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        let read = cache::Read {
            api_version,
            kind,
            namespace,
            labels,
            fields,
            name: None,
        };
        if let Some(found) = self.caches.answer(&read) {
            return Ok(found);
        }
        let api = self.api_for(api_version, kind, namespace).await?;
        let mut params = ListParams::default();
        if let Some(l) = labels {
            params = params.labels(l);
        }
        if let Some(f) = fields {
            params = params.fields(f);
        }
        let list = asked_twice(|| api.list(&params)).await.map_err(|e| {
            ClusterError::api(
                &self.context,
                &format!("list {kind} in {}", namespace.unwrap_or("all namespaces")),
                e,
            )
        })?;
        Ok(list.items.iter().map(to_value).collect())
    }
}

/// A read that got no answer (timeout, refused or reset connection) is asked once more before
/// it counts: one slow or lost answer on a busy server or link is not a cluster that is down.
/// An answer, even an error status, is final. Reads are idempotent; writes are never repeated.
pub(super) async fn asked_twice<T, F, Fut>(read: F) -> Result<T, kube::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    match read().await {
        Err(e) if unanswered(&e) => read().await,
        answered => answered,
    }
}

/// Whether an error means the server never answered (an error status is an answer).
fn unanswered(e: &kube::Error) -> bool {
    !matches!(
        e,
        kube::Error::Api(_) | kube::Error::SerdeError(_) | kube::Error::BuildRequest(_)
    )
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
