//! `kubectl mesh-certs apply | status | rotate`: the mesh's trust in the clusters.
//!
//! `apply` puts each cluster's `cacerts` (never the root key) into `istio-system`, after
//! checking every cluster first: an identical Secret is left alone, another intermediate under
//! the same root is replaced only with `--force`, a Secret from another root is refused with
//! both fingerprints. Nothing is written anywhere while any cluster is refused.
//!
//! `status` is the live inventory: each cluster's intermediate, the roots it trusts, whether
//! it chains, whether every cluster shares one root, whether the `istio-ca-root-cert`
//! ConfigMaps carry it, and whether it is the root on the operator's disk.

use crate::ca::bundle::{Bundle, BundleReport, short};
use crate::ca::create::load_root;
use crate::ca::describe::{describe, fingerprint};
use crate::ca::issue::issue_intermediate;
use crate::ca::pem::{read_text, single_certificate};
use crate::ca::store::{self, CertDir};
use crate::ca::{CaSettings, KeyType, Problem, Severity};
use crate::cli::DryRun;
use crate::cluster::{ClusterError, Kube};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::kubeconfig::KubeconfigSource;
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE, ROOT_CERT_CONFIGMAP};
use crate::manifests::cacerts::{cacerts_secret, istio_namespace};
use crate::names::ClusterName;
use crate::plan::{ApplyMode, ClusterPlan, Op, Plan, Step, apply_plan, compare, render_plan};
use crate::render::{KubeTable, OutputFormat, Printer, Tone};
use crate::targets::connect_all;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

/// One cluster a command concerns.
#[derive(Debug, Clone)]
pub struct Member {
    /// Cluster name (the directory in the certificate store, the mesh's cluster ID).
    pub cluster: ClusterName,
    /// Kube context.
    pub context: String,
    /// Network label for its Istio namespace.
    pub network: Option<String>,
}

/// Where the clusters are and how to talk to them.
#[derive(Debug, Clone)]
pub struct Access {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--request-timeout`.
    pub timeout: Option<Duration>,
}

impl Access {
    /// From the shared `--kubeconfig` / `--request-timeout` flags.
    pub fn from_args(args: &crate::cli::KubeArgs) -> Result<Access, Error> {
        Ok(Access {
            kubeconfig: args.kubeconfig.clone(),
            timeout: crate::targets::parse_timeout(&args.request_timeout)?,
        })
    }

    async fn connect(&self, members: &[Member]) -> Result<Vec<Kube>, Error> {
        let source = KubeconfigSource::load(self.kubeconfig.as_deref())?;
        let pairs: Vec<(String, String)> = members
            .iter()
            .map(|m| (m.cluster.to_string(), m.context.clone()))
            .collect();
        Ok(connect_all(&source, &pairs, self.timeout)
            .await?
            .into_iter()
            .map(|t| t.kube)
            .collect())
    }
}

/// `mesh-certs apply` options.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The certificate directory.
    pub dir: CertDir,
    /// The clusters.
    pub members: Vec<Member>,
    /// Replace another intermediate under the same root.
    pub force: bool,
    /// `--dry-run`.
    pub dry_run: DryRun,
    /// `-o`.
    pub format: OutputFormat,
}

/// Why a cluster's existing `cacerts` stops `apply`.
#[derive(Debug, Clone)]
struct Refusal {
    message: String,
    hint: String,
}

/// The Secret a cluster has now, read through the API.
async fn live_cacerts(kube: &Kube) -> Result<Option<Value>, ClusterError> {
    kube.get("v1", "Secret", Some(ISTIO_NAMESPACE), CACERTS_SECRET)
        .await
}

fn origin(kube: &Kube) -> String {
    format!(
        "context {}: {ISTIO_NAMESPACE}/{CACERTS_SECRET}",
        kube.context
    )
}

/// `mesh-certs apply`.
pub async fn apply(
    opts: &ApplyOptions,
    access: &Access,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let root_path = opts.dir.root_cert();
    let root_der = single_certificate(&root_path, &read_text(&root_path)?)?;
    let mesh_root = fingerprint(&root_der);
    let mut bundles = Vec::new();
    for m in &opts.members {
        let bundle = Bundle::read_local(&opts.dir, &m.cluster).map_err(|e| {
            Error::input(
                format!(
                    "no intermediate CA for cluster '{}' in {}: {e}",
                    m.cluster,
                    opts.dir.path().display()
                ),
                format!(
                    "create it first: kubectl mesh-certs create --clusters {} --dir {}",
                    m.cluster,
                    opts.dir.path().display()
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

    let kubes = access.connect(&opts.members).await?;
    let observed = futures::future::join_all(
        kubes
            .iter()
            .zip(&opts.members)
            .zip(&bundles)
            .map(|((kube, m), bundle)| plan_member(kube, m, bundle, opts.force)),
    )
    .await;
    let mut plan = Plan::default();
    let mut refusals = Vec::new();
    for result in observed {
        let (cluster_plan, refusal) = result?;
        if let Some(r) = refusal {
            refusals.push(r);
        }
        plan.clusters.push(cluster_plan);
    }
    if !refusals.is_empty() {
        let message = refusals
            .iter()
            .map(|r| r.message.clone())
            .collect::<Vec<_>>()
            .join("\n");
        let hint = refusals
            .iter()
            .map(|r| r.hint.clone())
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Error::Input {
            message: format!("{message}\nnothing was changed in any cluster"),
            hint: Some(hint),
        });
    }

    let Some(mode) = ApplyMode::from_dry_run(opts.dry_run) else {
        emit(&plan, opts.format, printer)?;
        printer.progress(&format!(
            "dry run: {} change(s) planned, nothing written",
            plan.writes()
        ));
        return Ok(ExitStatus::Success);
    };
    if plan.is_noop() {
        emit(&plan, opts.format, printer)?;
        printer.progress("nothing to do: every cluster already holds its cacerts");
        return Ok(ExitStatus::Success);
    }
    let results = apply_plan(&kubes, &plan, mode).await;
    let mut failed = Vec::new();
    let mut written = Vec::new();
    for (cp, r) in plan.clusters.iter().zip(results) {
        match r {
            Ok(n) if n > 0 => written.push(cp.cluster.clone()),
            Ok(_) => {}
            Err(e) => failed.push((cp.cluster.clone(), e)),
        }
    }
    emit(&plan, opts.format, printer)?;
    if let Some((cluster, e)) = failed.into_iter().next() {
        let done = if written.is_empty() {
            "no cluster was changed".to_string()
        } else {
            format!("already written: {}", written.join(", "))
        };
        return Err(Error::Input {
            message: format!("applying to cluster '{cluster}' failed ({done}): {e}"),
            hint: Some(
                "fix the cause and run the same command again: it applies only what is missing"
                    .into(),
            ),
        });
    }
    let what = if mode == ApplyMode::ServerDryRun {
        "server dry run: the API server accepted"
    } else {
        "applied"
    };
    printer.progress(&format!(
        "{what} {} change(s) in {} cluster(s)",
        plan.writes(),
        written.len()
    ));
    Ok(ExitStatus::Success)
}

/// The plan in the chosen format; the intermediate's key never reaches stdout.
fn emit(plan: &Plan, format: OutputFormat, printer: &Printer) -> Result<(), Error> {
    printer.data(&render_plan(plan, format, false, printer.out_style()))
}

async fn plan_member(
    kube: &Kube,
    m: &Member,
    bundle: &Bundle,
    force: bool,
) -> Result<(ClusterPlan, Option<Refusal>), Error> {
    let ns = istio_namespace(m.network.as_deref());
    let live_ns = kube.get("v1", "Namespace", None, ISTIO_NAMESPACE).await?;
    let (ns_op, ns_note) = compare(&ns, live_ns.as_ref());
    let secret = cacerts_secret(bundle);
    let live = live_cacerts(kube).await?;
    let mut refusal = None;
    let (op, note) = match &live {
        None => (Op::Create, None),
        Some(live) => {
            let existing = Bundle::from_secret(&origin(kube), live);
            if existing.same_files(bundle) {
                (Op::Unchanged, None)
            } else {
                let ours = bundle.root_fingerprints();
                let theirs = existing.root_fingerprints();
                let shared = theirs.iter().any(|t| ours.contains(t));
                let old = existing
                    .intermediate_der()
                    .map(|d| short(&fingerprint(&d)))
                    .unwrap_or_else(|| "none".into());
                if !shared {
                    refusal = Some(Refusal {
                        message: format!(
                            "cluster '{}' (context {}): {ISTIO_NAMESPACE}/{CACERTS_SECRET} trusts another root: {} in the cluster, {} here",
                            m.cluster,
                            kube.context,
                            if theirs.is_empty() { "none readable".to_string() } else { theirs.join(", ") },
                            ours.join(", ")
                        ),
                        hint: "replacing a root breaks trust for every workload: rotate the root in stages (docs/root-rotation.md), or delete the Secret yourself if this cluster is not in service".into(),
                    });
                    (Op::Update, Some("another root".into()))
                } else if !force {
                    refusal = Some(Refusal {
                        message: format!(
                            "cluster '{}' (context {}): {ISTIO_NAMESPACE}/{CACERTS_SECRET} holds another intermediate ({old}) under the same root",
                            m.cluster, kube.context
                        ),
                        hint: format!(
                            "replace it with --force, or issue and apply a new one with: kubectl mesh-certs rotate --cluster {} --context {}",
                            m.cluster, kube.context
                        ),
                    });
                    (Op::Update, Some("another intermediate".into()))
                } else {
                    (
                        Op::Update,
                        Some(format!("replaces intermediate {old} (--force)")),
                    )
                }
            }
        }
    };
    let steps = vec![
        Step {
            op: ns_op,
            manifest: ns,
            note: ns_note,
            secret: false,
            changes: Vec::new(),
        },
        Step {
            op,
            manifest: secret,
            note,
            secret: true,
            changes: Vec::new(),
        },
    ];
    Ok((
        ClusterPlan {
            cluster: m.cluster.to_string(),
            context: kube.context.clone(),
            steps,
        },
        refusal,
    ))
}

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

/// How the `istio-ca-root-cert` ConfigMaps of a cluster compare with its `cacerts`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootConfigMaps {
    /// How many namespaces have one.
    pub total: usize,
    /// How many carry exactly the roots of `cacerts`.
    pub matching: usize,
    /// Namespaces whose ConfigMap differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatched: Vec<String>,
}

impl RootConfigMaps {
    /// Compares each `istio-ca-root-cert` ConfigMap's `root-cert.pem` with `roots` (fingerprints).
    pub fn compare(maps: &[Value], roots: &[String]) -> RootConfigMaps {
        let mut out = RootConfigMaps {
            total: maps.len(),
            matching: 0,
            mismatched: Vec::new(),
        };
        for cm in maps {
            let text = cm["data"]["root-cert.pem"].as_str().unwrap_or_default();
            let fps: Vec<String> =
                crate::ca::pem::certificates(std::path::Path::new(ROOT_CERT_CONFIGMAP), text)
                    .unwrap_or_default()
                    .iter()
                    .map(|d| fingerprint(d))
                    .collect();
            if !fps.is_empty() && fps == roots {
                out.matching += 1;
            } else {
                let ns = cm["metadata"]["namespace"].as_str().unwrap_or("?");
                out.mismatched.push(ns.to_string());
            }
        }
        out
    }
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
}

/// Reads one cluster's trust material.
pub async fn observe_trust(
    kube: &Kube,
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
                &format!("--cluster {cluster} --context {}", kube.context),
            );
        }
        r
    });
    let roots: Vec<String> = report.as_ref().map(|r| r.roots.clone()).unwrap_or_default();
    let cms = RootConfigMaps::compare(&maps, &roots);
    Ok(ClusterTrust {
        cluster: cluster.to_string(),
        context: kube.context.clone(),
        present: secret.is_some(),
        cacerts: report,
        root_config_maps: cms,
        local_root_matches: None,
    })
}

/// Compares the clusters' roots with each other and with the local root.
pub fn judge_trust(clusters: &mut [ClusterTrust], local_root: Option<String>) -> TrustStatus {
    let mut problems = Vec::new();
    for c in clusters.iter_mut() {
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
        if !c.root_config_maps.mismatched.is_empty() {
            let shown: Vec<&str> = c
                .root_config_maps
                .mismatched
                .iter()
                .take(3)
                .map(String::as_str)
                .collect();
            problems.push(Problem::error(
                &c.cluster,
                &format!(
                    "{} of {} {ROOT_CERT_CONFIGMAP} ConfigMaps do not carry the roots of cacerts (namespaces {}{})",
                    c.root_config_maps.mismatched.len(),
                    c.root_config_maps.total,
                    shown.join(", "),
                    if c.root_config_maps.mismatched.len() > 3 { ", …" } else { "" }
                ),
                "istiod rewrites them once it runs with the new cacerts: restart istiod in that cluster (kubectl rollout restart deployment/istiod -n istio-system)",
            ));
        }
    }
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
        if set.is_empty() {
            continue;
        }
        if let Some(mesh) = &mesh_root
            && !set.contains(mesh)
        {
            let whose = if local_root.is_some() {
                "the local root in --dir"
            } else {
                "the other clusters' root"
            };
            problems.push(Problem::error(
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
                ));
        }
    }
    problems.sort_by_key(|p| p.severity != Severity::Error);
    TrustStatus {
        clusters: clusters.to_vec(),
        shared_root,
        mesh_root,
        local_root,
        problems,
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
    let report = judge_trust(&mut clusters, local_root);
    match opts.format {
        OutputFormat::Table => {
            printer.data(&status_table(&report, printer))?;
            for p in &report.problems {
                let tag = if p.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                };
                printer.warn(&format!(
                    "{tag}: {}: {}\n  hint: {}",
                    p.subject, p.message, p.hint
                ));
            }
            if report.problems.is_empty() {
                printer.progress(&format!(
                    "{} cluster(s) share root {}; every chain is valid",
                    report.clusters.len(),
                    report.mesh_root.as_deref().map(short).unwrap_or_default()
                ));
            }
        }
        f => printer.serialized(f, &report)?,
    }
    Ok(ExitStatus::problems_if(!report.problems.is_empty()))
}

fn status_table(report: &TrustStatus, printer: &Printer) -> String {
    let mut table = KubeTable::new(
        &[
            "CLUSTER",
            "CONTEXT",
            "INTERMEDIATE",
            "NOT AFTER",
            "DAYS",
            "ROOT",
            "CHAIN",
            "CONFIGMAPS",
        ],
        printer.out_style(),
    );
    for c in &report.clusters {
        let Some(r) = &c.cacerts else {
            table.toned_row(vec![
                (c.cluster.clone(), None),
                (c.context.clone(), None),
                ("<no cacerts>".into(), Some(Tone::Bad)),
                ("-".into(), None),
                ("-".into(), None),
                ("-".into(), None),
                ("-".into(), None),
                (
                    format!(
                        "{}/{}",
                        c.root_config_maps.matching, c.root_config_maps.total
                    ),
                    None,
                ),
            ]);
            continue;
        };
        let i = r.intermediate.as_ref();
        let root_ok = report
            .mesh_root
            .as_ref()
            .is_some_and(|m| r.roots.contains(m));
        table.toned_row(vec![
            (c.cluster.clone(), None),
            (c.context.clone(), None),
            (
                i.map(|i| i.subject.clone())
                    .unwrap_or_else(|| "<unreadable>".into()),
                None,
            ),
            (i.map(|i| i.not_after.clone()).unwrap_or_default(), None),
            (
                i.map(|i| i.days_left.to_string()).unwrap_or_default(),
                i.map(|i| {
                    if i.days_left < 0 {
                        Tone::Bad
                    } else {
                        Tone::Good
                    }
                }),
            ),
            (
                r.roots
                    .iter()
                    .map(|f| short(f))
                    .collect::<Vec<_>>()
                    .join(","),
                Some(if root_ok { Tone::Good } else { Tone::Bad }),
            ),
            (
                if r.chains { "valid" } else { "BROKEN" }.into(),
                Some(if r.chains { Tone::Good } else { Tone::Bad }),
            ),
            (
                format!(
                    "{}/{}",
                    c.root_config_maps.matching, c.root_config_maps.total
                ),
                (c.root_config_maps.total > 0).then_some(
                    if c.root_config_maps.mismatched.is_empty() {
                        Tone::Good
                    } else {
                        Tone::Bad
                    },
                ),
            ),
        ]);
    }
    table.render()
}

/// `mesh-certs rotate` options.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// The certificate directory (with the root key).
    pub dir: CertDir,
    /// The cluster whose intermediate is renewed.
    pub cluster: ClusterName,
    /// Apply to this context afterwards.
    pub context: Option<String>,
    /// Key type of the new key (default: the old intermediate's).
    pub key_type: Option<KeyType>,
    /// Validity of the new intermediate, in days.
    pub intermediate_days: u32,
    /// Organization and extra SANs.
    pub settings: CaSettings,
    /// `-o`.
    pub format: OutputFormat,
}

/// What `rotate` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotateReport {
    /// Cluster name.
    pub cluster: String,
    /// SHA-256 of the replaced intermediate.
    pub old_sha256: Option<String>,
    /// SHA-256 of the new intermediate.
    pub new_sha256: String,
    /// Its end of validity.
    pub not_after: String,
    /// Where the old files were copied.
    pub backup: Option<String>,
    /// The context it was applied to.
    pub applied_to: Option<String>,
}

/// `mesh-certs rotate`: a new intermediate under the same root, written locally (the old one
/// kept in `DIR/backup/<stamp>/`) and, with `--context`, applied.
pub async fn rotate(
    opts: &RotateOptions,
    access: &Access,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let dir = &opts.dir;
    let root = load_root(&dir.root_cert(), &dir.root_key())?;
    let root_pem = read_text(&dir.root_cert())?;
    let old_path = dir.cluster_file(&opts.cluster, "ca-cert.pem");
    let old = read_text(&old_path)
        .ok()
        .and_then(|t| single_certificate(&old_path, &t).ok());
    let old_info = old.as_deref().and_then(|d| describe(d, now));
    let key_type = opts
        .key_type
        .or_else(|| {
            old_info
                .as_ref()
                .and_then(|i| KeyType::from_description(&i.key))
        })
        .unwrap_or_default();
    // Before anything is written: the cluster must be reachable, so a rotation is not left
    // half-done because of a typo in the context.
    let kubes = match &opts.context {
        Some(ctx) => Some(
            access
                .connect(&[Member {
                    cluster: opts.cluster.clone(),
                    context: ctx.clone(),
                    network: None,
                }])
                .await?,
        ),
        None => None,
    };
    let settings = CaSettings {
        key_type,
        intermediate_days: opts.intermediate_days,
        ..opts.settings.clone()
    };
    let key = crate::ca::issue::generate_keys(key_type, 1)?
        .pop()
        .ok_or_else(|| Error::input("key generation produced no key", "run the command again"))?;
    let issued = issue_intermediate(&opts.cluster, &settings, key, &root, now)?;
    let stamp = store::backup_stamp(now);
    let files: Vec<PathBuf> = crate::ca::store::CLUSTER_FILES
        .iter()
        .map(|f| dir.cluster_file(&opts.cluster, f))
        .collect();
    let backup = store::backup(dir, &files, &stamp)?;
    crate::ca::create::write_cluster(dir, &opts.cluster, &issued, &root_pem)?;
    let new_info = describe(&issued.cert_der, now);
    let mut report = RotateReport {
        cluster: opts.cluster.to_string(),
        old_sha256: old.as_deref().map(fingerprint),
        new_sha256: fingerprint(&issued.cert_der),
        not_after: new_info.map(|i| i.not_after).unwrap_or_default(),
        backup: backup.map(|p| p.display().to_string()),
        applied_to: None,
    };
    printer.progress(&format!(
        "issued a new intermediate for {} ({}), old files copied to {}",
        opts.cluster,
        short(&report.new_sha256),
        report
            .backup
            .as_deref()
            .unwrap_or("(none: there was no old one)")
    ));
    if let (Some(kubes), Some(ctx)) = (kubes, &opts.context) {
        let member = Member {
            cluster: opts.cluster.clone(),
            context: ctx.clone(),
            network: None,
        };
        let bundle = Bundle::read_local(dir, &opts.cluster)?;
        let kube = &kubes[0];
        let (mut cp, refusal) = plan_member(kube, &member, &bundle, true).await?;
        if let Some(r) = refusal {
            return Err(Error::Input {
                message: format!(
                    "{} (the new intermediate is written locally, the cluster keeps its old one)",
                    r.message
                ),
                hint: Some(r.hint),
            });
        }
        // rotate does not touch the namespace's labels: only the Secret.
        cp.steps.retain(|s| s.manifest["kind"] == "Secret");
        let plan = Plan { clusters: vec![cp] };
        if let Some(Err(e)) = apply_plan(&kubes, &plan, ApplyMode::Apply)
            .await
            .into_iter()
            .next()
        {
            return Err(Error::Input {
                message: format!(
                    "the new intermediate for {} is written locally, but applying it to context {ctx} failed: {e}",
                    opts.cluster
                ),
                hint: Some(format!(
                    "once the cluster is reachable: kubectl mesh-certs apply --cluster {} --context {ctx} --dir {} --force",
                    opts.cluster,
                    dir.path().display()
                )),
            });
        }
        report.applied_to = Some(ctx.clone());
        printer.progress(&format!(
            "applied to context {ctx}; istiod reloads a new intermediate under an unchanged root without a restart"
        ));
    } else {
        printer.progress(&format!(
            "next: kubectl mesh-certs apply --cluster {} --context CTX --dir {} --force",
            opts.cluster,
            dir.path().display()
        ));
    }
    match opts.format {
        OutputFormat::Table => {
            let mut t = KubeTable::new(
                &["CLUSTER", "OLD", "NEW", "NOT AFTER", "APPLIED TO"],
                printer.out_style(),
            );
            t.row(&[
                report.cluster.clone(),
                report
                    .old_sha256
                    .as_deref()
                    .map(short)
                    .unwrap_or_else(|| "-".into()),
                short(&report.new_sha256),
                report.not_after.clone(),
                report.applied_to.clone().unwrap_or_else(|| "-".into()),
            ]);
            printer.data(&t.render())?;
        }
        f => printer.serialized(f, &report)?,
    }
    Ok(ExitStatus::Success)
}
