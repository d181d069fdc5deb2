//! Plans made by the API server: every desired object is sent as a server-side apply dry run
//! with our field manager, and the result is compared with the live object.
//!
//! This is how `kubectl diff` works, and it is the only way to see what a write really does:
//! fields we stopped sending are removed by the server (they show as removals), defaults and
//! admission are applied, and a field another manager owns with another value is a conflict
//! that stops the plan before anything is written (unless the connection was made with
//! [`Kube::forcing_conflicts`], `--force-conflicts`).

use super::changes::{field_changes, summary};
use super::{Op, Step};
use crate::cluster::{ClusterError, Kube, identity};
use serde_json::Value;

/// The namespace a dry run uses for an object whose own namespace the plan creates first
/// (the API server cannot dry-run into a namespace that does not exist yet).
pub const STAND_IN_NAMESPACE: &str = "default";

/// The step for one desired object, decided by the server. `pending` are the namespaces
/// earlier steps of this plan create; objects inside them are checked in
/// [`STAND_IN_NAMESPACE`] and say so in their note.
pub async fn plan_object(
    kube: &Kube,
    manifest: Value,
    secret: bool,
    pending: &[String],
) -> Result<Step, ClusterError> {
    let (api_version, kind, ns, name) = identity(&manifest);
    if let Some(ns) = ns.as_deref().filter(|n| pending.iter().any(|p| p == n)) {
        let mut stand_in = manifest.clone();
        stand_in["metadata"]["namespace"] = Value::String(STAND_IN_NAMESPACE.into());
        // Validation only: another object of that name in the stand-in namespace is not ours
        // to worry about, so its fields may be taken in this dry run.
        kube.apply_with(&stand_in, true, true).await?;
        return Ok(Step {
            op: Op::Create,
            manifest,
            note: Some(format!(
                "namespace {ns} is created first; the server checked this object in namespace {STAND_IN_NAMESPACE}"
            )),
            secret,
            changes: Vec::new(),
        });
    }
    let live = kube.get(&api_version, &kind, ns.as_deref(), &name).await?;
    let after = kube
        .apply_with(&manifest, true, kube.force_conflicts)
        .await?;
    Ok(match live {
        None => Step {
            op: Op::Create,
            manifest,
            note: None,
            secret,
            changes: Vec::new(),
        },
        Some(live) => {
            let changes = field_changes(&live, &after);
            let op = if changes.is_empty() {
                Op::Unchanged
            } else {
                Op::Update
            };
            Step {
                op,
                manifest,
                note: (!changes.is_empty()).then(|| summary(&changes, 4)),
                secret,
                changes,
            }
        }
    })
}

/// Steps for desired objects in order, tracking the namespaces the plan creates.
pub async fn plan_objects(
    kube: &Kube,
    desired: Vec<(Value, bool)>,
) -> Result<Vec<Step>, ClusterError> {
    plan_objects_later(kube, desired, None).await
}

/// [`plan_objects`], where Istio's kinds that are not served yet are installed by an earlier
/// step of the same run (`later` names it): such an object is planned as a create the
/// server checks when it is applied, and its note says so.
pub async fn plan_objects_later(
    kube: &Kube,
    desired: Vec<(Value, bool)>,
    later: Option<&str>,
) -> Result<Vec<Step>, ClusterError> {
    let mut pending: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for (manifest, secret) in desired {
        let istio_kind = manifest["apiVersion"]
            .as_str()
            .is_some_and(|a| a.contains(".istio.io/"));
        let step = match plan_object(kube, manifest.clone(), secret, &pending).await {
            Err(ClusterError::NotServed { .. }) if istio_kind && later.is_some() => Step {
                op: Op::Create,
                manifest,
                note: Some(format!(
                    "its kind is not served yet: {} installs it first; the server checks this object then",
                    later.unwrap_or_default()
                )),
                secret,
                changes: Vec::new(),
            },
            other => other?,
        };
        if step.op == Op::Create && step.manifest["kind"] == "Namespace" {
            let (_, _, _, name) = identity(&step.manifest);
            pending.push(name);
        }
        steps.push(step);
    }
    Ok(steps)
}

/// Whether our field manager wrote this live object by server-side apply (and so may
/// remove it when the mesh no longer wants it). Objects other tools created are never ours.
pub fn written_by_us(live: &Value) -> bool {
    live["metadata"]["managedFields"]
        .as_array()
        .is_some_and(|mf| {
            mf.iter()
                .any(|m| m["manager"] == crate::cluster::FIELD_MANAGER && m["operation"] == "Apply")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_objects_our_manager_applied_are_ours() {
        let ours = json!({"metadata": {"managedFields": [
            {"manager": "kube-controller-manager", "operation": "Update"},
            {"manager": "kubectl-mesh", "operation": "Apply"}]}});
        let helm = json!({"metadata": {"managedFields": [
            {"manager": "helm", "operation": "Apply"},
            {"manager": "kubectl-mesh", "operation": "Update"}]}});
        assert!(written_by_us(&ours));
        assert!(!written_by_us(&helm));
        assert!(!written_by_us(&json!({"metadata": {}})));
    }
}
