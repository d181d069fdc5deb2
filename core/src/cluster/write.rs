//! Writes: server-side apply with our field manager (conflicts refused unless forced) and
//! deletes, each named in its error.

use super::managers::{self, LEGACY_FIELD_MANAGER, field_manager, manager_for};
use super::{ClusterError, Kube, describe, field_conflicts, identity, object_label, to_value};
use kube::api::DynamicObject;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::Value;

impl Kube {
    /// Server-side applies `manifest` with the plugin's field manager, without taking
    /// fields other managers own (a conflict is [`ClusterError::Conflict`]) unless this
    /// connection is [`Kube::forcing_conflicts`]; with `dry_run` the API server validates it
    /// and stores nothing.
    pub async fn apply(&self, manifest: &Value, dry_run: bool) -> Result<Value, ClusterError> {
        self.apply_with(manifest, dry_run, self.force_conflicts)
            .await
    }

    /// [`Kube::apply`], with `force` taking conflicting fields over (`--force-conflicts`). An
    /// object the plugin migrates from the legacy field manager is applied under that name
    /// and, when written, its entry renamed to the plugin's ([`managers`]).
    pub async fn apply_with(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
    ) -> Result<Value, ClusterError> {
        let current = field_manager();
        let manager = if managers::migrates(current, manifest) {
            let (api_version, kind, namespace, name) = identity(manifest);
            let live = match self
                .get_live(&api_version, &kind, namespace.as_deref(), &name)
                .await
            {
                Ok(live) => live,
                Err(ClusterError::NotServed { .. }) => None,
                Err(e) => return Err(e),
            };
            manager_for(current, manifest, live.as_ref())
        } else {
            current
        };
        let applied = self.apply_as(manifest, dry_run, force, manager).await?;
        if dry_run || manager != LEGACY_FIELD_MANAGER || current == LEGACY_FIELD_MANAGER {
            return Ok(applied);
        }
        match managers::rename_patch(&applied, current) {
            Some(patch) => self.json_patch(manifest, &patch).await,
            None => Ok(applied),
        }
    }

    /// Renames a field manager's entry (see [`managers::rename_patch`]).
    async fn json_patch(&self, manifest: &Value, patch: &Value) -> Result<Value, ClusterError> {
        let (api_version, kind, namespace, name) = identity(manifest);
        let api = self
            .api_for(&api_version, &kind, namespace.as_deref())
            .await?;
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(v) => Ok(to_value(&v)),
            Err(e) => Err(ClusterError::api(
                &self.context,
                &format!("migrate the field manager of {}", describe(manifest)),
                e,
            )),
        }
    }

    /// Server-side applies `manifest` as `manager` (the plan's dry run names the manager it
    /// decided from the live object it read).
    pub async fn apply_as(
        &self,
        manifest: &Value,
        dry_run: bool,
        force: bool,
        manager: &str,
    ) -> Result<Value, ClusterError> {
        let (api_version, kind, namespace, name) = identity(manifest);
        let api = self
            .api_for(&api_version, &kind, namespace.as_deref())
            .await?;
        let mut params = PatchParams::apply(manager);
        if force {
            params = params.force();
        }
        if dry_run {
            params = params.dry_run();
        }
        let obj: DynamicObject = serde_json::from_value(manifest.clone()).map_err(|e| {
            ClusterError::config(&self.context, format!("{}: {e}", describe(manifest)))
        })?;
        match api.patch(&name, &params, &Patch::Apply(&obj)).await {
            Ok(v) => Ok(to_value(&v)),
            // A field a sibling plugin set from the same mesh file (mesh-certs' network label
            // when the file's network changed) is not another tool's: it is taken over.
            Err(kube::Error::Api(status))
                if status.code == 409
                    && !force
                    && managers::only_ours(&field_conflicts(&status)) =>
            {
                let forced = params.force();
                match api.patch(&name, &forced, &Patch::Apply(&obj)).await {
                    Ok(v) => Ok(to_value(&v)),
                    Err(e) => Err(ClusterError::api(
                        &self.context,
                        &format!("apply {}", describe(manifest)),
                        e,
                    )),
                }
            }
            Err(kube::Error::Api(status))
                if status.code == 409 && !field_conflicts(&status).is_empty() =>
            {
                Err(ClusterError::Conflict {
                    context: self.context.clone(),
                    object: describe(manifest),
                    conflicts: field_conflicts(&status),
                })
            }
            Err(e) => Err(ClusterError::api(
                &self.context,
                &format!("apply {}", describe(manifest)),
                e,
            )),
        }
    }

    /// Merge-patches an object with our field manager (an update, not an apply: the fields
    /// it sets are not taken from whoever applied the object).
    pub async fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, ClusterError> {
        let api = self.api_for(api_version, kind, namespace).await?;
        let params = PatchParams {
            field_manager: Some(field_manager().to_string()),
            ..PatchParams::default()
        };
        match api.patch(name, &params, &Patch::Merge(patch)).await {
            Ok(v) => Ok(to_value(&v)),
            Err(e) => Err(ClusterError::api(
                &self.context,
                &format!("patch {}", object_label(kind, namespace, name)),
                e,
            )),
        }
    }

    /// Deletes an object; `false` when it was already gone.
    pub async fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
    ) -> Result<bool, ClusterError> {
        let api = self.api_for(api_version, kind, namespace).await?;
        let mut params = DeleteParams::background();
        if dry_run {
            params = params.dry_run();
        }
        match api.delete(name, &params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(ClusterError::api(
                &self.context,
                &format!("delete {}", object_label(kind, namespace, name)),
                e,
            )),
        }
    }
}
