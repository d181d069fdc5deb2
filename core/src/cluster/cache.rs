//! Watch caches a connection answers reads from. `mesh-verify --watch` keeps one per watched
//! kind (a reflector store, updated before the change is announced); a read that a *live*
//! cache covers exactly — listed, and its watch not failed since — is answered from memory,
//! any other read goes to the API server. One-off commands register none, so every read of
//! theirs is a request.

use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// What a cache holds: every object of a kind, in one namespace or all, maybe by field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// API version.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// `None`: every namespace (or cluster-scoped).
    pub namespace: Option<String>,
    /// The watch's field selector.
    pub fields: Option<String>,
}

/// A read, as [`Scope::covers`] judges it.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    /// API version.
    pub api_version: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// The namespace read (`None`: all).
    pub namespace: Option<&'a str>,
    /// A label selector (a cache answers none).
    pub labels: Option<&'a str>,
    /// A field selector.
    pub fields: Option<&'a str>,
    /// One object by name (`get`).
    pub name: Option<&'a str>,
}

impl Scope {
    /// Whether this scope holds every object `read` could return (pure).
    pub fn covers(&self, read: &Read<'_>) -> bool {
        let namespace_ok = self.namespace.is_none() || self.namespace.as_deref() == read.namespace;
        let fields_ok = match (read.name, self.fields.as_deref()) {
            (Some(name), Some(f)) => f.strip_prefix("metadata.name=") == Some(name),
            (Some(_), None) => true,
            (None, f) => f == read.fields,
        };
        self.api_version == read.api_version
            && self.kind == read.kind
            && read.labels.is_none()
            && namespace_ok
            && fields_ok
    }
}

/// One cache: its scope, the store, and whether it may answer.
#[derive(Clone)]
pub struct Cached {
    /// What it holds.
    pub scope: Scope,
    /// The reflector store.
    pub store: Store<DynamicObject>,
    /// Listed, and the watch has not failed since.
    pub live: Arc<AtomicBool>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("scope", &self.scope)
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish()
    }
}

/// A connection's caches (shared by its clones).
#[derive(Clone, Default)]
pub struct Caches(Arc<RwLock<Vec<Cached>>>);

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().map(|v| v.len()).unwrap_or_default();
        write!(f, "Caches({n})")
    }
}

impl Caches {
    /// Registers a cache.
    pub fn add(&self, c: Cached) {
        if let Ok(mut v) = self.0.write() {
            v.push(c);
        }
    }

    /// The objects `read` returns, from a live cache that covers it; `None`: ask the server.
    /// Sorted by namespace and name, as the API server lists them.
    pub fn answer(&self, read: &Read<'_>) -> Option<Vec<Value>> {
        let caches = self.0.read().ok()?;
        let c = caches
            .iter()
            .find(|c| c.live.load(Ordering::Acquire) && c.scope.covers(read))?;
        let mut found: Vec<Value> = c
            .store
            .state()
            .iter()
            .filter(|o| {
                read.namespace.is_none() || o.metadata.namespace.as_deref() == read.namespace
            })
            .filter(|o| read.name.is_none() || o.metadata.name.as_deref() == read.name)
            .map(|o| super::to_value(o))
            .collect();
        found.sort_by(|a, b| {
            let key = |v: &Value| {
                let m = &v["metadata"];
                (
                    m["namespace"].as_str().map(String::from),
                    m["name"].as_str().map(String::from),
                )
            };
            key(a).cmp(&key(b))
        });
        Some(found)
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
