//! Observing live state for a plan, and carrying a plan out.

use super::{ClusterPlan, Op, Plan, Step, compare};
use crate::cli::DryRun;
use crate::cluster::{ClusterError, Kube, identity};
use serde_json::Value;

/// How to carry out a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Write.
    Apply,
    /// Send every write with dryRun=All.
    ServerDryRun,
}

impl ApplyMode {
    /// From `--dry-run`; `None` for `client` (nothing is sent).
    pub fn from_dry_run(d: DryRun) -> Option<Self> {
        match d {
            DryRun::None => Some(ApplyMode::Apply),
            DryRun::Server => Some(ApplyMode::ServerDryRun),
            DryRun::Client => None,
        }
    }
}

/// Reads the live counterpart of every desired manifest and makes the steps.
/// `deletes` are manifests (identity only) of objects to remove; absent ones are left out.
pub async fn observe(
    kube: &Kube,
    cluster: &str,
    desired: Vec<(Value, bool)>,
    deletes: Vec<Value>,
) -> Result<ClusterPlan, ClusterError> {
    let mut steps = Vec::new();
    for (manifest, secret) in desired {
        let (api_version, kind, ns, name) = identity(&manifest);
        // A kind the cluster does not serve yet (a CRD installed by an earlier step) is a create.
        let live = match kube.get(&api_version, &kind, ns.as_deref(), &name).await {
            Ok(live) => live,
            Err(ClusterError::NotServed { .. }) => None,
            Err(e) => return Err(e),
        };
        let (op, note) = compare(&manifest, live.as_ref());
        steps.push(Step {
            op,
            manifest,
            note,
            secret,
        });
    }
    for manifest in deletes {
        let (api_version, kind, ns, name) = identity(&manifest);
        let live = match kube.get(&api_version, &kind, ns.as_deref(), &name).await {
            Ok(live) => live,
            Err(ClusterError::NotServed { .. }) => None,
            Err(e) => return Err(e),
        };
        if live.is_some() {
            steps.push(Step {
                op: Op::Delete,
                manifest,
                note: None,
                secret: false,
            });
        }
    }
    Ok(ClusterPlan {
        cluster: cluster.into(),
        context: kube.context.clone(),
        steps,
    })
}

/// Carries out one cluster's plan in order. Returns how many writes were made.
/// On failure, the error says which object failed; earlier steps stay applied (each is
/// idempotent, so re-running the command resumes).
pub async fn apply_cluster(
    kube: &Kube,
    plan: &ClusterPlan,
    mode: ApplyMode,
) -> Result<usize, ClusterError> {
    let dry = mode == ApplyMode::ServerDryRun;
    let mut writes = 0;
    // A server dry run does not persist a new namespace, so objects inside it cannot be
    // checked by the server (it would answer NotFound); they are skipped.
    let mut pending_namespaces: Vec<String> = Vec::new();
    for step in &plan.steps {
        let (_, kind, ns, name) = identity(&step.manifest);
        if dry && ns.as_ref().is_some_and(|n| pending_namespaces.contains(n)) {
            continue;
        }
        if dry && kind == "Namespace" && step.op == Op::Create {
            pending_namespaces.push(name.clone());
        }
        match step.op {
            Op::Unchanged => {}
            Op::Create | Op::Update => {
                kube.apply(&step.manifest, dry).await?;
                writes += 1;
            }
            Op::Delete => {
                let (api_version, kind, ns, name) = identity(&step.manifest);
                kube.delete(&api_version, &kind, ns.as_deref(), &name, dry)
                    .await?;
                writes += 1;
            }
        }
    }
    Ok(writes)
}

/// Carries out a whole plan, clusters in parallel. `kubes` is indexed like `plan.clusters`.
/// Returns per cluster the number of writes, or the error that stopped it.
pub async fn apply_plan(
    kubes: &[Kube],
    plan: &Plan,
    mode: ApplyMode,
) -> Vec<Result<usize, ClusterError>> {
    let tasks = plan
        .clusters
        .iter()
        .zip(kubes)
        .map(|(cp, kube)| apply_cluster(kube, cp, mode));
    futures::future::join_all(tasks).await
}
