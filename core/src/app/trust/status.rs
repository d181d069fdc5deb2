//! `mesh-certs status`: observe each cluster's trust material, then judge the whole mesh.
//!
//! [`observe_trust`] reads one cluster; [`judge_trust`] is pure and compares the clusters
//! with each other and with the local root (the checks of `mesh-verify` reuse it).

use super::{Access, Member, live_cacerts, origin};
use crate::ca::bundle::{Bundle, BundleReport, short};
use crate::ca::store::CertDir;
use crate::ca::{Problem, Severity};
use crate::checks::RootConfigMaps;
use crate::cluster::{Cluster, ClusterError};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE, ROOT_CERT_CONFIGMAP};
use crate::render::{OutputFormat, Printer};
use serde::Serialize;
use time::OffsetDateTime;

/// `mesh-certs status` options.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The clusters (name, context).
    pub members: Vec<Member>,
    /// The certificate directory, when the operator has one.
    pub dir: Option<CertDir>,
    /// Warn this many days before an end of validity.
    pub warn_days: i64,
    /// `-o`.
    pub format: OutputFormat,
}

/// One cluster in `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTrust {
    /// Cluster name.
    pub cluster: String,
    /// Kube context.
    pub context: String,
    /// Whether `cacerts` exists.
    pub present: bool,
    /// The analysis of `cacerts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cacerts: Option<BundleReport>,
    /// The `istio-ca-root-cert` ConfigMaps.
    pub root_config_maps: RootConfigMaps,
    /// Whether the cluster trusts the root in `--dir` (absent without a local root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_root_matches: Option<bool>,
}

/// The whole inventory.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustStatus {
    /// Per cluster, in the order given.
    pub clusters: Vec<ClusterTrust>,
    /// Whether every cluster trusts one common root.
    pub shared_root: bool,
    /// The root every cluster trusts (the local one when given and shared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_root: Option<String>,
    /// The root in `--dir`, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_root: Option<String>,
    /// Every problem, each naming its cluster.
    pub problems: Vec<Problem>,
    /// A root rotation recorded in `--dir`, and where each cluster stands in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<crate::app::rotation::view::RotationView>,
}

/// Reads one cluster's trust material.
pub async fn observe_trust(
    kube: &impl Cluster,
    cluster: &str,
    now: OffsetDateTime,
    warn_days: i64,
) -> Result<ClusterTrust, ClusterError> {
    let (secret, maps) = futures::future::join(
        live_cacerts(kube),
        kube.list_selected(
            "v1",
            "ConfigMap",
            None,
            None,
            Some(&format!("metadata.name={ROOT_CERT_CONFIGMAP}")),
        ),
    )
    .await;
    let secret = secret?;
    let maps = maps?;
    let report = secret.as_ref().map(|s| {
        let mut r = Bundle::from_secret(&origin(kube), s).analyze(cluster, now, warn_days);
        for p in &mut r.problems {
            p.hint = p.hint.replace(
                &format!("--cluster {cluster}"),
                &format!("--cluster {cluster} --context {}", kube.context()),
            );
        }
        r
    });
    let roots: Vec<String> = report.as_ref().map(|r| r.roots.clone()).unwrap_or_default();
    let cms = RootConfigMaps::compare(&maps, &roots);
    Ok(ClusterTrust {
        cluster: cluster.to_string(),
        context: kube.context().to_string(),
        present: secret.is_some(),
        cacerts: report,
        root_config_maps: cms,
        local_root_matches: None,
    })
}

/// The problems one cluster has on its own: no `cacerts`, a broken one, stale ConfigMaps.
fn cluster_problems(c: &ClusterTrust) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !c.present {
        problems.push(Problem::error(
            &c.cluster,
            &format!("no {ISTIO_NAMESPACE}/{CACERTS_SECRET} in context {}: istiod would sign with a self-signed root of its own", c.context),
            &format!("kubectl mesh-certs apply --cluster {} --context {}", c.cluster, c.context),
        ));
    }
    if let Some(r) = &c.cacerts {
        problems.extend(r.problems.iter().cloned());
    }
    let maps = &c.root_config_maps;
    if !maps.mismatched.is_empty() {
        let shown: Vec<&str> = maps.mismatched.iter().take(3).map(String::as_str).collect();
        problems.push(Problem::error(
            &c.cluster,
            &format!(
                "{} of {} {ROOT_CERT_CONFIGMAP} ConfigMaps do not carry the roots of cacerts (namespaces {}{})",
                maps.mismatched.len(),
                maps.total,
                shown.join(", "),
                if maps.mismatched.len() > 3 { ", …" } else { "" }
            ),
            "istiod rewrites them once it runs with the new cacerts: restart istiod in that cluster (kubectl rollout restart deployment/istiod -n istio-system)",
        ).of_kind(crate::ca::ProblemKind::PublishedRoots));
    }
    problems
}

/// The problem of a cluster that trusts `set` but not the mesh's root.
fn foreign_root(c: &ClusterTrust, set: &[String], mesh: &str, local: bool) -> Problem {
    let whose = if local {
        "the local root in --dir"
    } else {
        "the other clusters' root"
    };
    Problem::error(
        &c.cluster,
        &format!(
            "cacerts in context {} trusts root {}, not {whose} {}: workloads here and elsewhere will fail mTLS with each other",
            c.context,
            set.iter().map(|f| short(f)).collect::<Vec<_>>().join(", "),
            short(mesh)
        ),
        &format!(
            "apply the mesh's intermediate: kubectl mesh-certs apply --cluster {} --context {} (a cluster in service needs a staged root rotation: docs/root-rotation.md)",
            c.cluster, c.context
        ),
    )
}

/// Compares the clusters' roots with each other and with the local root.
pub fn judge_trust(clusters: &mut [ClusterTrust], local_root: Option<String>) -> TrustStatus {
    let mut problems: Vec<Problem> = clusters.iter().flat_map(cluster_problems).collect();
    // Which root does each cluster trust? With a local root, that one is the mesh's.
    let root_sets: Vec<Vec<String>> = clusters
        .iter()
        .map(|c| {
            c.cacerts
                .as_ref()
                .map(|r| r.roots.clone())
                .unwrap_or_default()
        })
        .collect();
    let common: Option<String> = root_sets
        .iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| s.iter())
        .find(|fp| root_sets.iter().all(|s| s.contains(fp)))
        .cloned();
    let shared_root = !clusters.is_empty() && common.is_some();
    let mesh_root = match &local_root {
        Some(local) => Some(local.clone()),
        None => common.clone().or_else(|| most_common(&root_sets)),
    };
    for (c, set) in clusters.iter_mut().zip(&root_sets) {
        if let Some(local) = &local_root {
            c.local_root_matches = Some(set.contains(local));
        }
        if let Some(mesh) = &mesh_root
            && !set.is_empty()
            && !set.contains(mesh)
        {
            problems.push(foreign_root(c, set, mesh, local_root.is_some()));
        }
    }
    problems.sort_by_key(|p| p.severity != Severity::Error);
    TrustStatus {
        clusters: clusters.to_vec(),
        shared_root,
        mesh_root,
        local_root,
        problems,
        rotation: None,
    }
}

fn most_common(sets: &[Vec<String>]) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&String, usize> = Default::default();
    for s in sets {
        for fp in s {
            *counts.entry(fp).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(fp, _)| fp.clone())
}

/// `mesh-certs status`.
pub async fn status(
    opts: &StatusOptions,
    access: &Access,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let local_root = match &opts.dir {
        Some(dir) => dir.root_fingerprint()?,
        None => None,
    };
    let kubes = access.connect(&opts.members).await?;
    let observed = futures::future::join_all(
        kubes
            .iter()
            .zip(&opts.members)
            .map(|(k, m)| observe_trust(k, m.cluster.as_str(), now, opts.warn_days)),
    )
    .await;
    let mut clusters = Vec::new();
    for r in observed {
        clusters.push(r?);
    }
    let mut report = judge_trust(&mut clusters, local_root);
    if let Some(dir) = &opts.dir {
        let names: Vec<String> = opts.members.iter().map(|m| m.cluster.to_string()).collect();
        report.rotation = crate::app::rotation::view::observe(dir, &kubes, &names).await?;
    }
    match opts.format {
        OutputFormat::Table => super::table::print_status(&report, printer)?,
        f => printer.serialized(f, &report)?,
    }
    Ok(ExitStatus::problems_if(!report.problems.is_empty()))
}
