//! Observing live state for a plan, and carrying a plan out.

use super::server::{STAND_IN_NAMESPACE, plan_objects};
use super::{ClusterPlan, Op, Plan, Step};
use crate::cli::DryRun;
use crate::cluster::{Cluster, ClusterError, identity};
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

/// Plans desired objects with the API server (see [`super::server`]) and adds a delete for
/// each object of `deletes` (identity only) that exists; absent ones are left out.
pub async fn observe(
    kube: &impl Cluster,
    cluster: &str,
    desired: Vec<(Value, bool)>,
    deletes: Vec<Value>,
) -> Result<ClusterPlan, ClusterError> {
    let mut steps = plan_objects(kube, desired).await?;
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
                changes: Vec::new(),
            });
        }
    }
    Ok(ClusterPlan {
        cluster: cluster.into(),
        context: kube.context().to_string(),
        steps,
    })
}

/// Carries out one cluster's plan in order. Returns how many writes were made.
/// On failure, the error says which object failed; earlier steps stay applied (each is
/// idempotent, so re-running the command resumes). A server dry run sends every write with
/// dryRun=All; objects in a namespace the plan creates are checked in
/// [`STAND_IN_NAMESPACE`], since the server cannot dry-run into a namespace that does not exist.
pub async fn apply_cluster(
    kube: &impl Cluster,
    plan: &ClusterPlan,
    mode: ApplyMode,
) -> Result<usize, ClusterError> {
    let dry = mode == ApplyMode::ServerDryRun;
    let mut writes = 0;
    let mut pending: Vec<String> = Vec::new();
    for step in &plan.steps {
        let (api_version, kind, ns, name) = identity(&step.manifest);
        match step.op {
            Op::Unchanged => continue,
            Op::Create | Op::Update => {
                let in_pending = dry && ns.as_ref().is_some_and(|n| pending.contains(n));
                if in_pending {
                    let mut stand_in = step.manifest.clone();
                    stand_in["metadata"]["namespace"] = Value::String(STAND_IN_NAMESPACE.into());
                    kube.apply_with(&stand_in, true, true).await?;
                } else {
                    kube.apply(&step.manifest, dry).await?;
                }
                if dry && kind == "Namespace" && step.op == Op::Create {
                    pending.push(name);
                }
            }
            Op::Delete => {
                kube.delete(&api_version, &kind, ns.as_deref(), &name, dry)
                    .await?;
            }
        }
        writes += 1;
    }
    Ok(writes)
}

/// Carries out a whole plan, clusters in parallel. `kubes` is indexed like `plan.clusters`.
/// Returns per cluster the number of writes, or the error that stopped it.
pub async fn apply_plan<C: Cluster>(
    kubes: &[C],
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
