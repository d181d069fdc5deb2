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
use crate::cluster::{Cluster, ClusterError, identity};
use crate::error::Error;
use crate::hint::Hinted;
use crate::labels::NETWORK_LABEL;
use crate::plan::{ClusterPlan, Op, Plan};
use time::OffsetDateTime;

use super::Member;

/// Why `value` cannot be a Kubernetes label value (63 characters at most; empty, or
/// alphanumerics at both ends with `-`, `_`, `.` and alphanumerics between).
pub(super) fn label_value_problem(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some(format!("{} characters, at most 63", value.len()));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!("'{c}' is not allowed"));
    }
    let alnum = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    if !(alnum(value.chars().next()) && alnum(value.chars().last())) {
        return Some("it must begin and end with a letter or digit".into());
    }
    None
}

/// Every member's network must be a label value (it labels `istio-system`).
pub(super) fn check_networks(members: &[Member]) -> Result<(), Error> {
    for m in members {
        let Some(net) = &m.network else { continue };
        if let Some(why) = label_value_problem(net) {
            return Err(Error::input(
                format!(
                    "cluster '{}' (context {}): network '{net}' cannot be the value of label {NETWORK_LABEL}: {why}",
                    m.cluster, m.context
                ),
                "give a network name of letters, digits, '-', '_' and '.' (e.g. network1), in --network or the mesh file's clusters[].network",
            ));
        }
    }
    Ok(())
}

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
pub(crate) struct ServerCheck {
    /// Objects the API servers accepted, per cluster in plan order.
    pub accepted: usize,
    /// Objects the servers could not check, each with why (`cluster: Kind ns/name: reason`).
    pub unchecked: Vec<String>,
}

/// One cluster's dry run: accepted count and unchecked objects, or the refusal.
async fn dry_run_cluster(
    kube: &impl Cluster,
    cp: &ClusterPlan,
) -> Result<ServerCheck, ClusterError> {
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
pub(crate) async fn server_dry_run<C: Cluster>(
    kubes: &[C],
    plan: &Plan,
) -> Result<ServerCheck, Error> {
    let results = futures::future::join_all(
        plan.clusters
            .iter()
            .zip(kubes)
            .map(|(cp, kube)| dry_run_cluster(kube, cp)),
    )
    .await;
    let mut total = ServerCheck::default();
    let mut refusals = Vec::new();
    let mut hints = Vec::new();
    for (cp, result) in plan.clusters.iter().zip(results) {
        match result {
            Ok(check) => {
                total.accepted += check.accepted;
                total.unchecked.extend(check.unchecked);
            }
            Err(e) => {
                refusals.push(format!(
                    "cluster '{}' (context {}) refused the dry run: {e}",
                    cp.cluster, cp.context
                ));
                hints.extend(e.hint());
            }
        }
    }
    if refusals.is_empty() {
        return Ok(total);
    }
    hints.push(
        "fix what the API server refused, then run the same command again; --dry-run=server shows the same checks without writing"
            .into(),
    );
    Err(Error::Input {
        message: format!(
            "{}\nnothing was written in any cluster",
            refusals.join("\n")
        ),
        hint: Some(hints.join("\n")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_follow_the_kubernetes_rule() {
        for ok in ["", "network1", "net-1.a_b", "N", &"a".repeat(63)] {
            assert_eq!(label_value_problem(ok), None, "{ok}");
        }
        let why = |v: &str| label_value_problem(v).unwrap();
        assert_eq!(why("net 1"), "' ' is not allowed");
        assert_eq!(why("a/b"), "'/' is not allowed");
        assert_eq!(why("-net"), "it must begin and end with a letter or digit");
        assert_eq!(why("net."), "it must begin and end with a letter or digit");
        assert_eq!(why(&"a".repeat(64)), "64 characters, at most 63");
    }

    #[test]
    fn a_bad_network_names_cluster_context_and_value() {
        let member = |net: &str| Member {
            cluster: crate::names::ClusterName::parse("east").unwrap(),
            context: "ctx-east".into(),
            network: Some(net.into()),
        };
        assert!(check_networks(&[member("network1")]).is_ok());
        let err = check_networks(&[member("network1"), member("net work")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cluster 'east' (context ctx-east): network 'net work' cannot be the value of label topology.istio.io/network: ' ' is not allowed"
        );
    }
}
