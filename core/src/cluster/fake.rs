//! An in-memory cluster for unit tests of decision code: [`FakeCluster`] implements
//! [`Cluster`] over a map of JSON objects keyed by apiVersion/kind, namespace and name.
//!
//! What it models, as the API server does it:
//! - reads: `get` (a kind not served is [`ClusterError::NotServed`]), lists by namespace,
//!   label selector (`a=b`, `a!=b`, `a`, `!a`) and field selector (`metadata.name=…`); listed
//!   items carry no `apiVersion`/`kind`, as a typed list's items do not;
//! - server-side apply per field manager: each manager's last applied configuration is kept,
//!   so a field it stops sending disappears unless another manager set it; a leaf another
//!   manager set to another value is a [`ClusterError::Conflict`] (taken over with `force`,
//!   and always when only this suite's managers conflict, as [`super::Kube::apply_as`] does);
//!   `status` in an apply is ignored; a dry run returns the result and stores nothing; a
//!   write sets `resourceVersion` when the object changed and bumps `metadata.generation`
//!   when its `spec` did; `metadata.managedFields` names each manager and its operation;
//!   an object in a namespace that does not exist is refused (404), so dry runs into a
//!   namespace a plan creates first fail as they do on a server;
//! - the legacy field manager's migration of [`Cluster::apply_with`] (the entry is renamed);
//! - merge patches (an `Update` entry of this process's field manager; `null` removes);
//! - deletes (a namespace takes its objects with it at once), TokenRequests (an unsigned
//!   JWT bound to an existing Secret with its uid; the ServiceAccount must exist);
//! - discovery: every kind of [`crate::kinds::KINDS`] is served unless taken away;
//! - scripted failures ([`FakeCluster::fail_next`]) and a log of every write call
//!   ([`FakeCluster::writes`]); dry runs and reads are not writes.
//!
//! What it does not model: admission (webhooks, validation, defaulting: an object is stored as
//! sent), controllers (no Deployment becomes ready, no token Secret is filled, no
//! `kube-root-ca.crt` is published, nothing is garbage-collected but a namespace's objects),
//! status writers (status is only what a test seeds), list merge keys (every list is atomic),
//! watches and caches (`get` and `get_live` are the same), RBAC, and finalizers.

use super::managers::{self, LEGACY_FIELD_MANAGER, field_manager, manager_for};
use super::{Cluster, ClusterError, describe, identity};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

#[path = "fake_store.rs"]
mod store;
use store::{Key, Store, apply_config, fields_match, labels_match};

/// The manager of objects a test seeds with [`FakeCluster::insert`]: another tool.
pub const OTHER_TOOL: &str = "other-tool";

/// A call a failure can be scripted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `get` and `get_live`.
    Get,
    /// `list` and `list_selected` (matched by kind only).
    List,
    /// A server-side apply with `dry_run`.
    DryRun,
    /// A server-side apply that writes.
    Apply,
    /// A merge patch.
    Patch,
    /// A delete (dry run or not).
    Delete,
    /// A TokenRequest (kind `ServiceAccount`).
    Token,
}

/// One write call the fake received (dry runs are not writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// `apply`, `patch`, `delete` or `token`.
    pub op: &'static str,
    /// `Kind namespace/name`.
    pub object: String,
    /// The field manager, for applies and patches.
    pub manager: Option<String>,
}

impl std::fmt::Display for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op, self.object)
    }
}

struct Failure {
    call: Call,
    kind: String,
    name: String,
    error: ClusterError,
}

#[derive(Default)]
struct State {
    store: Store,
    unserved: BTreeSet<(String, String)>,
    extra: BTreeSet<(String, String)>,
    failures: Vec<Failure>,
    writes: Vec<Write>,
}

/// An in-memory cluster (see the module). Cheap to make; one per simulated cluster.
pub struct FakeCluster {
    context: String,
    force_conflicts: bool,
    version: String,
    state: Mutex<State>,
}

impl std::fmt::Debug for FakeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Objects (Secrets among them) are never shown.
        let n = self.lock().store.objects.len();
        f.debug_struct("FakeCluster")
            .field("context", &self.context)
            .field("objects", &n)
            .finish()
    }
}

fn rejected(context: &str, operation: String, code: u16, message: String) -> ClusterError {
    ClusterError::Rejected {
        context: context.into(),
        operation,
        message,
        code,
    }
}

fn key(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Key {
    (
        api_version.into(),
        kind.into(),
        namespace.map(String::from),
        name.into(),
    )
}

impl FakeCluster {
    /// An empty cluster reached through `context`, with the namespaces `default` and
    /// `kube-system`, serving every kind of [`crate::kinds::KINDS`].
    pub fn new(context: &str) -> Self {
        let fake = FakeCluster {
            context: context.into(),
            force_conflicts: false,
            version: "v1.35.0".into(),
            state: Mutex::default(),
        };
        for ns in ["default", "kube-system"] {
            fake.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        fake
    }

    /// This cluster, applying with `--force-conflicts`.
    pub fn forcing_conflicts(mut self, force: bool) -> Self {
        self.force_conflicts = force;
        self
    }

    /// Discovery no longer lists `api_version`/`kind`.
    pub fn without_kind(self, api_version: &str, kind: &str) -> Self {
        let mut s = self.lock();
        s.extra.remove(&(api_version.into(), kind.into()));
        s.unserved.insert((api_version.into(), kind.into()));
        drop(s);
        self
    }

    /// Discovery lists `api_version`/`kind` (beyond the built-in table).
    pub fn serving(self, api_version: &str, kind: &str) -> Self {
        let mut s = self.lock();
        s.unserved.remove(&(api_version.into(), kind.into()));
        s.extra.insert((api_version.into(), kind.into()));
        drop(s);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seeds an object another tool made (an `Update` by [`OTHER_TOOL`]); not a logged write.
    pub fn insert(&self, object: Value) {
        self.insert_as(OTHER_TOOL, "Update", object);
    }

    /// Seeds an object as if `manager` had applied it before; not a logged write.
    pub fn insert_applied(&self, manager: &str, object: Value) {
        self.insert_as(manager, "Apply", object);
    }

    fn insert_as(&self, manager: &str, operation: &'static str, object: Value) {
        let (a, k, ns, n) = identity(&object);
        let key = (a, k, ns, n);
        let mut s = self.lock();
        let mut stored = match s.store.objects.get(&key) {
            Some(st) => st.clone(),
            None => s.store.fresh(),
        };
        let mut config = apply_config(&object);
        if operation == "Update"
            && let Some(status) = object.get("status")
        {
            config["status"] = status.clone();
        }
        stored.set_entry(manager, operation, config);
        s.store.commit(&key, stored);
    }

    /// The stored object, as `get` returns it (for assertions).
    pub fn object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let key = key(api_version, kind, namespace, name);
        let s = self.lock();
        s.store.objects.get(&key).map(|st| st.materialise(&key))
    }

    /// The next `call` on an object of `kind` named `name` (`*`: any name) fails with `error`.
    pub fn fail_next(&self, call: Call, kind: &str, name: &str, error: ClusterError) {
        self.lock().failures.push(Failure {
            call,
            kind: kind.into(),
            name: name.into(),
            error,
        });
    }

    /// Every write call so far, in order.
    pub fn writes(&self) -> Vec<Write> {
        self.lock().writes.clone()
    }

    /// Every write call so far as `op Kind namespace/name`.
    pub fn written(&self) -> Vec<String> {
        self.writes().iter().map(ToString::to_string).collect()
    }

    /// Forgets the writes logged so far.
    pub fn clear_writes(&self) {
        self.lock().writes.clear();
    }

    fn scripted(&self, call: Call, kind: &str, name: &str) -> Result<(), ClusterError> {
        let mut s = self.lock();
        let hit = s
            .failures
            .iter()
            .position(|f| f.call == call && f.kind == kind && (f.name == "*" || f.name == name));
        match hit {
            Some(i) => Err(s.failures.remove(i).error),
            None => Ok(()),
        }
    }

    fn served(&self, api_version: &str, kind: &str) -> bool {
        let s = self.lock();
        let k = (api_version.to_string(), kind.to_string());
        s.extra.contains(&k)
            || (!s.unserved.contains(&k) && crate::kinds::lookup(api_version, kind).is_some())
    }

    fn require_served(&self, api_version: &str, kind: &str) -> Result<(), ClusterError> {
        match self.served(api_version, kind) {
            true => Ok(()),
            false => Err(ClusterError::NotServed {
                context: self.context.clone(),
                api_version: api_version.into(),
                kind: kind.into(),
            }),
        }
    }

    fn log(&self, op: &'static str, object: String, manager: Option<&str>) {
        self.lock().writes.push(Write {
            op,
            object,
            manager: manager.map(String::from),
        });
    }

    fn read(&self, api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> Read {
        self.scripted(Call::Get, kind, name)?;
        self.require_served(api_version, kind)?;
        Ok(self.object(api_version, kind, ns, name))
    }

    fn list_now(
        &self,
        (api_version, kind): (&str, &str),
        namespace: Option<&str>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        self.scripted(Call::List, kind, "*")?;
        self.require_served(api_version, kind)?;
        let s = self.lock();
        let found = s.store.objects.iter().filter(|(k, _)| {
            k.0 == api_version && k.1 == kind && namespace.is_none_or(|n| k.2.as_deref() == Some(n))
        });
        let mut out = Vec::new();
        for (k, st) in found {
            let mut o = st.materialise(k);
            if labels.is_some_and(|l| !labels_match(&o, l))
                || fields.is_some_and(|f| !fields_match(&o, f))
            {
                continue;
            }
            if let Some(m) = o.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
            out.push(o);
        }
        Ok(out)
    }
}

/// An identity-only manifest for `key` (for messages).
fn store_identity(key: &Key) -> Value {
    let mut v = json!({"apiVersion": key.0, "kind": key.1, "metadata": {"name": key.3}});
    if let Some(ns) = &key.2 {
        v["metadata"]["namespace"] = json!(ns);
    }
    v
}

type Read = Result<Option<Value>, ClusterError>;

#[path = "fake_api.rs"]
mod api;
#[path = "fake_write.rs"]
mod write;

/// An unsigned JWT with the claims the API server puts in a bound token.
fn bound_token(namespace: &str, sa: &str, (name, uid): (&str, &str), ttl: u64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let exp = now + i64::try_from(ttl).unwrap_or(i64::MAX / 2);
    let claims = json!({"iss": "https://kubernetes.default.svc", "iat": now, "nbf": now, "exp": exp,
        "sub": format!("system:serviceaccount:{namespace}:{sa}"),
        "kubernetes.io": {"namespace": namespace, "secret": {"name": name, "uid": uid},
            "serviceaccount": {"name": sa}}});
    let b = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.fake-signature",
        b(&json!({"alg": "none"})),
        b(&claims)
    )
}

#[cfg(test)]
#[path = "fake_tests.rs"]
mod tests;
