//! Everything `apply` checks before its first write anywhere.
//!
//! First the local material: each cluster's four files parse, chain and trust the mesh root.
//! Then the API servers: every object every cluster's plan would write is sent as a
//! server-side apply with `dryRun=All`, so admission (quotas, webhooks, policies) and RBAC
//! answer before anything is stored. One refusal in one cluster stops the command with
//! nothing written in any cluster.

use crate::ca::bundle::{Bundle, short};
use crate::ca::describe::fingerprint;
use crate::ca::pem::{read_text, single_certificate};
use crate::ca::{CertDir, Severity};
use crate::cluster::{ClusterError, Kube, identity};
use crate::error::Error;
use crate::plan::{ClusterPlan, Op, Plan};
use time::OffsetDateTime;

use super::Member;

/// Reads and checks every member's local bundle against the mesh root in `dir`.
pub(super) fn local_bundles(
    dir: &CertDir,
    members: &[Member],
    now: OffsetDateTime,
) -> Result<Vec<Bundle>, Error> {
    let root_path = dir.root_cert();
    let root_der = single_certificate(&root_path, &read_text(&root_path)?)?;
    let mesh_root = fingerprint(&root_der);
    let mut bundles = Vec::new();
    for m in members {
        let bundle = Bundle::read_local(dir, &m.cluster).map_err(|e| {
            Error::input(
                format!(
                    "no intermediate CA for cluster '{}' in {}: {e}",
                    m.cluster,
                    dir.path().display()
                ),
                format!(
                    "create it first: kubectl mesh-certs create --clusters {} --dir {}",
                    m.cluster,
                    dir.path().display()
                ),
            )
        })?;
        let report = bundle.analyze(m.cluster.as_str(), now, 0);
        if let Some(p) = report
            .problems
            .iter()
            .find(|p| p.severity == Severity::Error)
        {
            return Err(Error::input(
                format!("{}: {}", bundle.origin, p.message),
                p.hint.clone(),
            ));
        }
        if !report.roots.contains(&mesh_root) {
            return Err(Error::input(
                format!(
                    "{} does not trust the mesh root {} of {}",
                    bundle.origin,
                    short(&mesh_root),
                    root_path.display()
                ),
                format!(
                    "re-issue it: kubectl mesh-certs create --clusters {} --force",
                    m.cluster
                ),
            ));
        }
        bundles.push(bundle);
    }
    Ok(bundles)
}

/// What the API servers said about a plan.
#[derive(Debug, Default)]
pub(super) struct ServerCheck {
    /// Objects the API servers accepted, per cluster in plan order.
    pub accepted: usize,
    /// Objects the servers could not check, each with why (`cluster: Kind ns/name: reason`).
    pub unchecked: Vec<String>,
}

/// One cluster's dry run: accepted count and unchecked objects, or the refusal.
async fn dry_run_cluster(kube: &Kube, cp: &ClusterPlan) -> Result<ServerCheck, ClusterError> {
    let mut check = ServerCheck::default();
    // The server does not keep a namespace created by a dry run, so an object inside one the
    // plan creates cannot be checked (it would answer NotFound): it is listed as unchecked.
    let mut pending: Vec<String> = Vec::new();
    for step in cp.steps.iter().filter(|s| s.op != Op::Unchanged) {
        let (_, kind, ns, name) = identity(&step.manifest);
        if let Some(ns) = ns.as_ref().filter(|n| pending.contains(n)) {
            check.unchecked.push(format!(
                "cluster '{}': {kind} {ns}/{name}: namespace {ns} does not exist yet",
                cp.cluster
            ));
            continue;
        }
        if kind == "Namespace" && step.op == Op::Create {
            pending.push(name.clone());
        }
        match step.op {
            Op::Create | Op::Update => {
                kube.apply(&step.manifest, true).await?;
            }
            Op::Delete => {
                let (api_version, kind, ns, name) = identity(&step.manifest);
                kube.delete(&api_version, &kind, ns.as_deref(), &name, true)
                    .await?;
            }
            Op::Unchanged => {}
        }
        check.accepted += 1;
    }
    Ok(check)
}

/// Sends every write of `plan` to its API server with `dryRun=All`, clusters in parallel.
/// Any refusal is an input error (exit 2) naming every refusing cluster; nothing is written.
pub(super) async fn server_dry_run(kubes: &[Kube], plan: &Plan) -> Result<ServerCheck, Error> {
    let results = futures::future::join_all(
        plan.clusters
            .iter()
            .zip(kubes)
            .map(|(cp, kube)| dry_run_cluster(kube, cp)),
    )
    .await;
    let mut total = ServerCheck::default();
    let mut refusals = Vec::new();
    for (cp, result) in plan.clusters.iter().zip(results) {
        match result {
            Ok(check) => {
                total.accepted += check.accepted;
                total.unchecked.extend(check.unchecked);
            }
            Err(e) => refusals.push(format!(
                "cluster '{}' (context {}) refused the dry run: {e}",
                cp.cluster, cp.context
            )),
        }
    }
    if refusals.is_empty() {
        return Ok(total);
    }
    Err(Error::Input {
        message: format!(
            "{}\nnothing was written in any cluster",
            refusals.join("\n")
        ),
        hint: Some(
            "fix what the API server refused (permissions, quotas, admission policies), then run the same command again; --dry-run=server shows the same checks without writing"
                .into(),
        ),
    })
}
