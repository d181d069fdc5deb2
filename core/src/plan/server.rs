//! Plans made by the API server: every desired object is sent as a server-side apply dry run
//! with our field manager, and the result is compared with the live object.
//!
//! This is how `kubectl diff` works, and it is the only way to see what a write really does:
//! fields we stopped sending are removed by the server (they show as removals), defaults and
//! admission are applied, and a field another manager owns with another value is a conflict
//! that stops the plan before anything is written (unless the connection was made with
//! [`crate::cluster::Kube::forcing_conflicts`], `--force-conflicts`).

use super::changes::{field_changes, summary};
use super::ownership;
use super::{Op, Step};
use crate::cluster::{Cluster, ClusterError, field_manager, identity, manager_for};
use serde_json::Value;

/// The namespace a dry run uses for an object whose own namespace the plan creates first
/// (the API server cannot dry-run into a namespace that does not exist yet).
pub const STAND_IN_NAMESPACE: &str = "default";

/// The step for one desired object, decided by the server. `pending` are the namespaces
/// earlier steps of this plan create; objects inside them are checked in
/// [`STAND_IN_NAMESPACE`] and say so in their note.
pub async fn plan_object(
    kube: &impl Cluster,
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
    let mut manifest = manifest;
    if live.as_ref().is_some_and(ownership::is_adopted) {
        manifest = ownership::marked(manifest);
    }
    let manager = manager_for(field_manager(), &manifest, live.as_ref());
    let force = kube.force_conflicts();
    let mut after = match kube.apply_as(&manifest, true, force, manager).await {
        // Istio's validating webhook is not served yet (istiod starting after an earlier run's
        // control plane, or `--no-wait`): the server cannot check the object now. It is planned
        // from what exists, and the apply waits for the webhook (run.rs).
        Err(ClusterError::WebhookNotServed { .. }) if istio_kind(&manifest) => {
            return Ok(unchecked(manifest, secret, live.is_some()));
        }
        other => other?,
    };
    // The first write to an object another tool made adopts it (the mark shows in the plan).
    if let Some(l) = live.as_ref().filter(|l| ownership::adopts(l))
        && !field_changes(l, &after).is_empty()
    {
        manifest = ownership::marked(manifest);
        after = kube.apply_as(&manifest, true, force, manager).await?;
    }
    let migrated = (manager != field_manager()).then(|| {
        format!(
            "field manager {manager} → {} (this write migrates it)",
            field_manager()
        )
    });
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
            let note = (!changes.is_empty()).then(|| summary(&changes, 4));
            Step {
                op,
                manifest,
                note: match (note, migrated) {
                    (Some(n), Some(m)) => Some(format!("{n}; {m}")),
                    (n, _) => n,
                },
                secret,
                changes,
            }
        }
    })
}

/// Steps for desired objects in order, tracking the namespaces the plan creates.
pub async fn plan_objects(
    kube: &impl Cluster,
    desired: Vec<(Value, bool)>,
) -> Result<Vec<Step>, ClusterError> {
    plan_objects_later(kube, desired, None).await
}

/// [`plan_objects`], where Istio's kinds that are not served yet are installed by an earlier
/// step of the same run (`later` names it): such an object is planned as a create the
/// server checks when it is applied, and its note says so.
pub async fn plan_objects_later(
    kube: &impl Cluster,
    desired: Vec<(Value, bool)>,
    later: Option<&str>,
) -> Result<Vec<Step>, ClusterError> {
    let mut pending: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for (manifest, secret) in desired {
        let istio_kind = istio_kind(&manifest);
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

/// Whether an object is of one of Istio's kinds (`*.istio.io`).
fn istio_kind(manifest: &Value) -> bool {
    manifest["apiVersion"]
        .as_str()
        .is_some_and(|a| a.contains(".istio.io/"))
}

/// The step for an object the server could not dry-run because its webhook is not served: a
/// create when it does not exist (`exists`, as read just before), else an update whose changes
/// the server shows once it can.
fn unchecked(manifest: Value, secret: bool, exists: bool) -> Step {
    Step {
        op: if exists { Op::Update } else { Op::Create },
        manifest,
        note: Some(
            "not checked by the server yet: istiod does not serve its validating webhook; the join applies it once it does".into(),
        ),
        secret,
        changes: Vec::new(),
    }
}

pub use super::ownership::written_by_us;

/// The step that takes our fields off an adopted object and keeps it (`identity`: its
/// apiVersion, kind, name and namespace only): applying nothing under our field manager
/// removes what only we owned, the adoption mark included; the server's dry run shows it.
pub async fn release_step(
    kube: &impl Cluster,
    live: &Value,
    identity: Value,
) -> Result<Step, ClusterError> {
    let manager = manager_for(field_manager(), &identity, Some(live));
    let after = kube
        .apply_as(&identity, true, kube.force_conflicts(), manager)
        .await?;
    let changes = field_changes(live, &after);
    Ok(Step {
        op: if changes.is_empty() {
            Op::Unchanged
        } else {
            Op::Update
        },
        manifest: identity,
        note: Some(format!(
            "existed before kubectl-mesh changed it: only kubectl-mesh's fields are taken off, the object stays ({})",
            summary(&changes, 4)
        )),
        secret: false,
        changes,
    })
}
