//! The fake's writes: server-side apply, merge patch, delete, TokenRequest.

use super::super::FieldConflict;
use super::store::{apply_config, field, merge};
use super::{
    Call, ClusterError, FakeCluster, Key, LEGACY_FIELD_MANAGER, Value, bound_token, describe,
    field_manager, identity, key, manager_for, managers, rejected,
};

impl FakeCluster {
    /// [`crate::cluster::Cluster::apply_with`]: the legacy manager where the plugin migrates
    /// the object from it, renamed to the plugin's once written.
    pub(super) fn apply_migrating(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
    ) -> Result<Value, ClusterError> {
        let current = field_manager();
        let manager = if managers::migrates(current, manifest) {
            let (a, k, ns, n) = identity(manifest);
            let live = self.object(&a, &k, ns.as_deref(), &n);
            manager_for(current, manifest, live.as_ref())
        } else {
            current
        };
        let applied = self.apply_now(manifest, dry_run, force, manager)?;
        if dry_run || manager != LEGACY_FIELD_MANAGER || current == LEGACY_FIELD_MANAGER {
            return Ok(applied);
        }
        let key: Key = identity(manifest);
        let mut s = self.lock();
        let Some(stored) = s.store.objects.get_mut(&key) else {
            return Ok(applied);
        };
        for e in stored.entries.iter_mut() {
            if e.manager == LEGACY_FIELD_MANAGER && e.operation == "Apply" {
                e.manager = current.into();
            }
        }
        Ok(stored.materialise(&key))
    }

    /// A server-side apply as `manager` (see the module of [`FakeCluster`]).
    pub(super) fn apply_now(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
        manager: &str,
    ) -> Result<Value, ClusterError> {
        let key: Key = identity(manifest);
        let what = describe(manifest);
        let call = if dry_run { Call::DryRun } else { Call::Apply };
        self.scripted(call, &key.1, &key.3)?;
        self.require_served(&key.0, &key.1)?;
        let operation = format!("apply {what}");
        if key.3.is_empty() {
            return Err(rejected(
                &self.context,
                operation,
                422,
                "metadata.name: Required value".into(),
            ));
        }
        if let Some(ns) = &key.2
            && self.object("v1", "Namespace", None, ns).is_none()
        {
            let message = format!("namespaces \"{ns}\" not found");
            return Err(rejected(&self.context, operation, 404, message));
        }
        let mut s = self.lock();
        let mut stored = match s.store.objects.get(&key) {
            Some(st) => st.clone(),
            None => s.store.fresh(),
        };
        let config = apply_config(manifest);
        let owned = stored.conflicts(manager, &config);
        let conflicts: Vec<FieldConflict> = owned
            .iter()
            .map(|(path, manager)| FieldConflict {
                field: field(path),
                manager: manager.clone(),
            })
            .collect();
        if !conflicts.is_empty() {
            if !force && !managers::only_ours(&conflicts) {
                return Err(ClusterError::Conflict {
                    context: self.context.clone(),
                    object: what,
                    conflicts,
                });
            }
            stored.take_over(&owned);
        }
        stored.set_entry(manager, "Apply", config);
        if dry_run {
            if stored.generation == 0 {
                stored.generation = 1;
            }
            return Ok(stored.materialise(&key));
        }
        let out = s.store.commit(&key, stored);
        s.writes.push(super::Write {
            op: "apply",
            object: what,
            manager: Some(manager.into()),
        });
        Ok(out)
    }

    /// A merge patch: this process's field manager's `Update` entry takes the patch; a
    /// `null` removes the field whoever set it.
    pub(super) fn patch_now(&self, key: &Key, patch: &Value) -> Result<Value, ClusterError> {
        self.scripted(Call::Patch, &key.1, &key.3)?;
        self.require_served(&key.0, &key.1)?;
        let what = describe(&super::store_identity(key));
        let mut s = self.lock();
        let Some(mut stored) = s.store.objects.get(key).cloned() else {
            let message = format!("{} \"{}\" not found", key.1.to_lowercase(), key.3);
            return Err(rejected(
                &self.context,
                format!("patch {what}"),
                404,
                message,
            ));
        };
        for (path, value) in super::store::leaves(patch) {
            if value.is_null() {
                for e in stored.entries.iter_mut() {
                    super::store::remove(&mut e.config, &path);
                }
            }
        }
        let mut mine = stored
            .entries
            .iter()
            .find(|e| e.manager == field_manager() && e.operation == "Update")
            .map(|e| e.config.clone())
            .unwrap_or_else(|| Value::Object(Default::default()));
        merge(&mut mine, patch);
        stored.set_entry(field_manager(), "Update", mine);
        let out = s.store.commit(key, stored);
        s.writes.push(super::Write {
            op: "patch",
            object: what,
            manager: Some(field_manager().into()),
        });
        Ok(out)
    }

    /// A delete; a namespace takes every object in it.
    pub(super) fn delete_now(&self, key: &Key, dry_run: bool) -> Result<bool, ClusterError> {
        self.scripted(Call::Delete, &key.1, &key.3)?;
        self.require_served(&key.0, &key.1)?;
        let mut s = self.lock();
        let existed = s.store.objects.contains_key(key);
        if dry_run {
            return Ok(existed);
        }
        s.store.objects.remove(key);
        if key.0 == "v1" && key.1 == "Namespace" {
            s.store
                .objects
                .retain(|k, _| k.2.as_deref() != Some(key.3.as_str()));
        }
        s.writes.push(super::Write {
            op: "delete",
            object: describe(&super::store_identity(key)),
            manager: None,
        });
        Ok(existed)
    }

    /// A TokenRequest for `namespace/sa` bound to the Secret `(name, uid)`.
    pub(super) fn token_now(
        &self,
        namespace: &str,
        sa: &str,
        bound_to: (&str, &str),
        ttl: u64,
    ) -> Result<String, ClusterError> {
        self.scripted(Call::Token, "ServiceAccount", sa)?;
        let operation = format!("create a token for {namespace}/{sa}");
        if self
            .object("v1", "ServiceAccount", Some(namespace), sa)
            .is_none()
        {
            let message = format!("serviceaccounts \"{sa}\" not found");
            return Err(rejected(&self.context, operation, 404, message));
        }
        let anchor = self.object("v1", "Secret", Some(namespace), bound_to.0);
        if anchor.is_none_or(|a| a["metadata"]["uid"] != bound_to.1) {
            let message = format!(
                "the bound Secret {} does not exist with that uid",
                bound_to.0
            );
            return Err(rejected(&self.context, operation, 422, message));
        }
        self.log(
            "token",
            describe(&super::store_identity(&key(
                "v1",
                "ServiceAccount",
                Some(namespace),
                sa,
            ))),
            None,
        );
        Ok(bound_token(namespace, sa, bound_to, ttl))
    }
}
