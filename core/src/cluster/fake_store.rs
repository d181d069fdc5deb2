//! The fake's objects and its model of server-side apply (pure, no locking).
//!
//! An object is the merge of what each field manager wrote, in the order they first wrote:
//! an `Apply` entry holds the manager's whole last applied configuration (so a field it stops
//! sending is gone unless another manager set it), an `Update` entry what merge patches and
//! seeding put there. Ownership is by leaf path (a list is one leaf, as an atomic list is);
//! applying a leaf another manager set to another value is a conflict.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// An object's identity: apiVersion, kind, namespace, name.
pub(super) type Key = (String, String, Option<String>, String);

/// A leaf's path, one key per segment (label keys hold dots).
pub(super) type Path = Vec<String>;

/// A leaf another manager owns: its path and that manager.
pub(super) type Owned = (Path, String);

/// A path as the API server names fields: `.metadata.labels.topology.istio.io/network`.
pub(super) fn field(path: &Path) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

/// What one field manager wrote.
#[derive(Clone)]
pub(super) struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: &'static str,
    pub config: Value,
}

/// One stored object.
#[derive(Clone)]
pub(super) struct Stored {
    pub entries: Vec<Entry>,
    pub generation: u64,
    pub resource_version: u64,
    pub uid: String,
}

/// The objects of one fake cluster.
#[derive(Default)]
pub(super) struct Store {
    pub objects: BTreeMap<Key, Stored>,
    pub revision: u64,
}

/// Paths that name the object rather than describe it: never owned, never in conflict.
const IDENTITY: [&[&str]; 4] = [
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
];

impl Stored {
    /// The object as the API server returns it.
    pub fn materialise(&self, key: &Key) -> Value {
        let mut out = json!({"apiVersion": key.0, "kind": key.1, "metadata": {"name": key.3}});
        if let Some(ns) = &key.2 {
            out["metadata"]["namespace"] = json!(ns);
        }
        for e in &self.entries {
            merge(&mut out, &e.config);
        }
        let managed: Vec<Value> = self
            .entries
            .iter()
            .map(|e| json!({"manager": e.manager, "operation": e.operation, "apiVersion": key.0}))
            .collect();
        let meta = &mut out["metadata"];
        meta["uid"] = json!(self.uid);
        meta["generation"] = json!(self.generation);
        if self.resource_version > 0 {
            meta["resourceVersion"] = json!(self.resource_version.to_string());
        }
        meta["managedFields"] = json!(managed);
        out
    }

    /// The leaves `config` (applied by `manager`) sets that another manager set otherwise.
    pub fn conflicts(&self, manager: &str, config: &Value) -> Vec<Owned> {
        let mut out = Vec::new();
        for (path, value) in leaves(config) {
            for e in self.entries.iter().filter(|e| e.manager != manager) {
                if let Some(theirs) = at(&e.config, &path)
                    && theirs != &value
                {
                    out.push((path.clone(), e.manager.clone()));
                }
            }
        }
        out
    }

    /// Takes the `conflicts` away from the managers that owned them (a forced apply).
    pub fn take_over(&mut self, conflicts: &[Owned]) {
        for (path, manager) in conflicts {
            for e in self.entries.iter_mut().filter(|e| &e.manager == manager) {
                remove(&mut e.config, path);
            }
        }
    }

    /// Replaces `manager`'s entry of `operation` with `config` (appended when it has none).
    pub fn set_entry(&mut self, manager: &str, operation: &'static str, config: Value) {
        let found = self
            .entries
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == operation);
        match found {
            Some(e) => e.config = config,
            None => self.entries.push(Entry {
                manager: manager.into(),
                operation,
                config,
            }),
        }
    }
}

impl Store {
    /// A new object's record (uid from the store's revision counter).
    pub fn fresh(&mut self) -> Stored {
        self.revision += 1;
        Stored {
            entries: Vec::new(),
            generation: 0,
            resource_version: 0,
            uid: format!("00000000-0000-4000-8000-{:012}", self.revision),
        }
    }

    /// Stores `after` at `key` (a write): a new resourceVersion when the object changed, a
    /// new generation when its `spec` did (or it is new).
    pub fn commit(&mut self, key: &Key, mut after: Stored) -> Value {
        let before = self.objects.get(key).map(|s| s.materialise(key));
        let changed = before.as_ref().is_none_or(|b| {
            let mut a = after.materialise(key);
            a["metadata"]["resourceVersion"] = b["metadata"]["resourceVersion"].clone();
            &a != b
        });
        if changed {
            self.revision += 1;
            after.resource_version = self.revision;
            let spec_changed = before
                .as_ref()
                .is_none_or(|b| b["spec"] != after.materialise(key)["spec"]);
            if spec_changed {
                after.generation += 1;
            }
        }
        let out = after.materialise(key);
        self.objects.insert(key.clone(), after);
        out
    }
}

/// What an apply configuration may own: the server ignores `status` on the main resource and
/// sets the server-side metadata itself.
pub(super) fn apply_config(manifest: &Value) -> Value {
    let mut config = manifest.clone();
    if let Some(o) = config.as_object_mut() {
        o.remove("status");
    }
    if let Some(meta) = config["metadata"].as_object_mut() {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
        ] {
            meta.remove(k);
        }
    }
    config
}

/// Deep merge of objects; anything else is replaced; `null` removes (RFC 7386).
pub(super) fn merge(into: &mut Value, from: &Value) {
    match (into.as_object_mut(), from.as_object()) {
        (Some(a), Some(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(k);
                } else {
                    merge(a.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *into = strip_nulls(from),
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v.as_object() {
        Some(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect::<Map<String, Value>>(),
        ),
        None => v.clone(),
    }
}

/// The leaf paths of an object with their values, identity paths left out.
pub(super) fn leaves(v: &Value) -> Vec<(Path, Value)> {
    fn walk(v: &Value, prefix: &mut Path, out: &mut Vec<(Path, Value)>) {
        match v.as_object() {
            Some(o) if !o.is_empty() => {
                for (k, v) in o {
                    prefix.push(k.clone());
                    walk(v, prefix, out);
                    prefix.pop();
                }
            }
            _ => out.push((prefix.clone(), v.clone())),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out.retain(|(p, _)| !IDENTITY.iter().any(|id| p.iter().eq(id.iter())));
    out
}

/// The value at a leaf path, if set.
fn at<'a>(v: &'a Value, path: &Path) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(k))
}

/// Removes the value at a leaf path.
pub(super) fn remove(v: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parents {
        match cur.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(last);
    }
}

/// Whether an object's labels match a selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-joined).
pub(super) fn labels_match(object: &Value, selector: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').map(str::trim).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k.trim()] != v.trim()
        } else if let Some((k, v)) = term.split_once('=') {
            labels[k.trim()] == v.trim_start_matches('=').trim()
        } else if let Some(k) = term.strip_prefix('!') {
            labels.get(k).is_none()
        } else {
            term.is_empty() || labels.get(term).is_some()
        }
    })
}

/// Whether an object matches a field selector (`metadata.name=…`, `metadata.namespace=…`).
pub(super) fn fields_match(object: &Value, selector: &str) -> bool {
    selector.split(',').map(str::trim).all(|term| {
        let Some((path, want)) = term.split_once('=') else {
            return false;
        };
        let path: Path = path.split('.').map(String::from).collect();
        at(object, &path) == Some(&json!(want))
    })
}
