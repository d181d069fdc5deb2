//! What a join takes away: objects kubectl-mesh wrote that the mesh file no longer asks for,
//! deleted where kubectl-mesh created them and released (only its fields taken off) where it
//! adopted them.

use crate::cluster::{Cluster, ClusterError, identity};
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, MULTICLUSTER_SECRET_LABEL, REMOTE_SECRET_PREFIX};
use crate::mesh::MeshSpec;
use crate::plan::ownership::{Removal, removal};
use crate::plan::server::release_step;
use crate::plan::{Op, Step};
use crate::topology::reading_pairs;
use serde_json::Value;

/// What taking `manifest` away means in `k`.
pub(super) enum Taken {
    /// A delete (kubectl-mesh created it) or a release of its fields (it adopted it).
    Step(Step),
    /// Another tool made it and kubectl-mesh never wrote it: left as it is.
    NotOurs,
    /// It does not exist (or its kind is not served).
    Absent,
}

/// Reads `manifest`'s object and decides its removal ([`crate::plan::ownership`]); a delete
/// carries `note`.
pub(super) async fn removal_of(
    k: &impl Cluster,
    manifest: Value,
    note: Option<&str>,
) -> Result<Taken, ClusterError> {
    let (api_version, kind, ns, name) = identity(&manifest);
    let live = match k.get(&api_version, &kind, ns.as_deref(), &name).await {
        Ok(live) => live,
        Err(ClusterError::NotServed { .. }) => None,
        Err(e) => return Err(e),
    };
    let Some(live) = live else {
        return Ok(Taken::Absent);
    };
    Ok(match removal(&live) {
        Removal::Delete => Taken::Step(Step {
            op: Op::Delete,
            manifest,
            note: note.map(String::from),
            secret: false,
            changes: Vec::new(),
        }),
        Removal::Release => {
            let id = super::desired::identity_only(&manifest);
            Taken::Step(release_step(k, &live, id).await?)
        }
        Removal::NotOurs => Taken::NotOurs,
    })
}

/// Delete steps for the `candidates` our field manager created, release steps for those it
/// adopted.
pub(super) async fn removals(k: &impl Cluster, candidates: Vec<Value>) -> Result<Vec<Step>, Error> {
    let note = "kubectl-mesh wrote it; the mesh file no longer asks for it";
    let mut steps = Vec::new();
    for manifest in candidates {
        if let Taken::Step(s) = removal_of(k, manifest, Some(note)).await? {
            steps.push(s);
        }
    }
    Ok(steps)
}

fn delete_step(manifest: Value, note: &str) -> Step {
    Step {
        op: Op::Delete,
        manifest,
        note: Some(note.into()),
        secret: false,
        changes: Vec::new(),
    }
}

/// Remote secrets in `cluster` that we wrote for a cluster it no longer reads: deleted where
/// we created them, released where we adopted them.
pub(super) async fn stale_remote_secrets(
    k: &impl Cluster,
    mesh: &MeshSpec,
    cluster: &str,
) -> Result<Vec<Step>, Error> {
    let wanted: Vec<String> = reading_pairs(mesh)
        .into_iter()
        .filter(|(r, _)| r == cluster)
        .map(|(_, s)| format!("{REMOTE_SECRET_PREFIX}{s}"))
        .collect();
    let selector = format!("{MULTICLUSTER_SECRET_LABEL}=true");
    let live = k
        .list("v1", "Secret", Some(ISTIO_NAMESPACE), Some(&selector))
        .await?;
    let mut steps = Vec::new();
    for s in &live {
        let name = s["metadata"]["name"].as_str().unwrap_or_default();
        if !name.starts_with(REMOTE_SECRET_PREFIX) || wanted.iter().any(|w| w == name) {
            continue;
        }
        // Listed items carry no apiVersion/kind: name the object fully.
        let id = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ISTIO_NAMESPACE}});
        match removal(s) {
            Removal::Delete => steps.push(delete_step(
                id,
                "kubectl-mesh wrote it; this cluster no longer reads that one",
            )),
            Removal::Release => {
                let mut whole = s.clone();
                whole["apiVersion"] = "v1".into();
                whole["kind"] = "Secret".into();
                steps.push(release_step(k, &whole, id).await?);
            }
            Removal::NotOurs => {}
        }
    }
    Ok(steps)
}
