//! `kubectl mesh-verify`: prove the mesh works, across every cluster, like `linkerd check`.

use crate::checks::istiod;
use crate::checks::remote::{self, PairFacts};
use crate::checks::{self, ClusterFacts, Member, Read, Report, Selection};
use crate::clock::{Clock, SystemClock};
use crate::cluster::{ClusterError, Kube};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::kubeconfig::KubeconfigSource;
use crate::mesh::{MeshSpec, Role};
use crate::render::checks::{render_short, render_table};
use crate::render::{OutputFormat, Printer};
use crate::targets::{Target, connect_all};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum VerifyFormat {
    /// Grouped by category, with hints.
    #[default]
    Table,
    /// Only warnings and failures, then the summary.
    Short,
    /// One JSON document (schema in docs/checks.md).
    Json,
    /// The series `--watch` serves, once, in the Prometheus text format (for node_exporter's
    /// textfile collector; the same alert rules apply).
    Prometheus,
}

/// `mesh-verify` options.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The clusters.
    pub members: Vec<Member>,
    /// Whether the members came from a mesh file (else from contexts and discovery).
    pub from_mesh: bool,
    /// What to check.
    pub selection: Selection,
    /// Output.
    pub format: VerifyFormat,
    /// Retry until this deadline while checks fail.
    pub wait: Option<Duration>,
    /// Direct istiod addresses (a local istiod in the lab), by cluster name.
    pub istiod_addresses: BTreeMap<String, String>,
    /// Run the traffic check (`--traffic`).
    pub traffic: Option<crate::checks::traffic::TrafficOptions>,
    /// The Service whose endpoints istiod must hold from every cluster (`--service`).
    pub service: Option<crate::checks::discovery::ServiceRef>,
}

/// Members from a mesh file.
pub fn members_from_mesh(mesh: &MeshSpec) -> Vec<Member> {
    mesh.clusters
        .iter()
        .map(|c| Member {
            name: c.name.clone(),
            context: c.context.clone(),
            network: Some(c.network.clone()),
            role: Some(c.role),
            primary: c.primary.clone(),
            east_west_address: c.east_west_address.clone(),
        })
        .collect()
}

/// Members from bare contexts: each named by its context until its `Istio` says otherwise.
pub fn members_from_contexts(contexts: &[String]) -> Vec<Member> {
    contexts
        .iter()
        .map(|c| Member {
            name: c.clone(),
            context: c.clone(),
            network: None,
            role: None,
            primary: None,
            east_west_address: None,
        })
        .collect()
}

/// `mesh-verify`.
pub async fn verify(
    opts: &VerifyOptions,
    access: &super::trust::Access,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let source = KubeconfigSource::load(access.kubeconfig.as_deref())?;
    let pairs: Vec<(String, String)> = opts
        .members
        .iter()
        .map(|m| (m.name.clone(), m.context.clone()))
        .collect();
    let targets = if opts.selection.pre {
        connect_all(&source, &pairs, access.timeout).await?
    } else {
        connect_discovering(&source, &pairs, access.timeout).await?
    };
    let deadline = opts.wait.map(|w| Instant::now() + w);
    // Traffic runs once (it deploys and removes workloads); its results join every report.
    let mut traffic = Vec::new();
    if let Some(t) = &opts.traffic {
        printer.progress(&format!(
            "traffic: deploying helloworld and curl into namespace {} of {} cluster(s), waiting up to {}s for the pods",
            t.namespace,
            targets.len(),
            t.timeout.as_secs()
        ));
        let named: Vec<(String, crate::cluster::Kube)> = opts
            .members
            .iter()
            .zip(&targets)
            .map(|(m, t)| (m.name.clone(), t.kube.clone()))
            .collect();
        crate::checks::traffic::run(&named, t, &mut traffic).await;
    }
    loop {
        let (report, facts) = run_once(opts, &targets, access.timeout, traffic.clone()).await;
        // An Istio still waiting for its operator is a warning, but --wait waits for it too.
        let settled = report.success && !report.pending();
        let done = settled || deadline.is_none_or(|d| Instant::now() > d);
        if done {
            match opts.format {
                VerifyFormat::Json => printer.serialized(OutputFormat::Json, &report)?,
                VerifyFormat::Table => printer.data(&render_table(&report, printer.out_style()))?,
                VerifyFormat::Short => printer.data(&render_short(&report, printer.out_style()))?,
                VerifyFormat::Prometheus => {
                    let now = opts.selection.now;
                    let lifetimes = crate::checks::lifetimes::certificate_lifetimes(&facts, now);
                    printer.data(&super::watch::exposition::once(&report, &lifetimes, now))?
                }
            }
            return Ok(ExitStatus::problems_if(!report.success));
        }
        printer.progress("some checks fail or wait for an operator; retrying (--wait)");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// One evaluation of every check: the report, and the facts it was judged from (the watch
/// reads certificate lifetimes from them).
pub(crate) async fn run_once(
    opts: &VerifyOptions,
    targets: &[Target],
    timeout: Option<Duration>,
    traffic: Vec<crate::checks::CheckResult>,
) -> (Report, Vec<ClusterFacts>) {
    let pre = opts.selection.pre;
    let mut selection = opts.selection.clone();
    selection.now = SystemClock.now();
    let facts: Vec<ClusterFacts> = futures::future::join_all(targets.iter().map(|t| {
        let read = if pre {
            Read::Pre
        } else {
            // istiod is exposed only where remotes use it; without a mesh file, who knows.
            let virtual_services = !opts.from_mesh
                || opts
                    .members
                    .iter()
                    .any(|m| m.primary.as_deref() == Some(t.name.as_str()));
            // IstioCNI where the mesh file installs it; without a mesh file, look.
            let cni = selection.istio.as_ref().is_none_or(|i| i.cni);
            Read::Post {
                virtual_services,
                cni,
            }
        };
        checks::gather(&t.kube, &t.name, read)
    }))
    .await;
    let mut members = opts.members.clone();
    let mut facts = facts;
    if !opts.from_mesh {
        // Name each context's cluster after its control plane, and learn networks and roles.
        for (m, f) in members.iter_mut().zip(facts.iter_mut()) {
            if let Some(n) = f.global()["multiCluster"]["clusterName"].as_str() {
                m.name = n.to_string();
                f.name = n.to_string();
            }
            m.network = f.global()["network"].as_str().map(String::from);
            m.role = f.role();
        }
    }
    if pre {
        let report = checks::evaluate(&members, &facts, &selection, &[], Vec::new());
        return (report, facts);
    }
    let mut expected = remote::expected_pairs(&members, &facts);
    if !opts.from_mesh {
        // Clusters discovered from the remote secrets found in the given contexts.
        for f in &facts {
            for s in &f.remote_secrets {
                for key in s["data"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
                {
                    if !expected.contains(&(f.name.clone(), key.clone())) {
                        expected.push((f.name.clone(), key));
                    }
                }
            }
        }
    }
    let pair_facts: Vec<PairFacts> =
        futures::future::join_all(expected.iter().filter_map(|(r, s)| {
            let reader = facts.iter().find(|f| f.name == *r && f.error.is_none())?;
            Some(remote::gather_pair(reader, s, timeout))
        }))
        .await;
    let views = istiod_views(opts, targets, &members, &facts, timeout).await;
    let mut extra = traffic;
    for (f, view) in facts.iter().zip(&views) {
        if f.error.is_some() {
            continue;
        }
        let wants: Vec<String> = expected
            .iter()
            .filter(|(r, _)| *r == f.name)
            .map(|(_, s)| s.clone())
            .collect();
        let runs_istiod = checks::role_of(&members, f) == Role::Primary;
        let (view, asked) = (&view.0, view.1.as_str());
        let at = (f.name.as_str(), f.context.as_str());
        istiod::evaluate(runs_istiod, at, &wants, (view, asked), &mut extra);
    }
    let scope = super::discovery::Scope {
        targets,
        members: &members,
        facts: &facts,
        expected: &expected,
        istiod_addresses: &opts.istiod_addresses,
        service: opts.service.as_ref(),
        allow_loopback: selection.allow_loopback,
        timeout: timeout.unwrap_or(Duration::from_secs(10)),
    };
    extra.extend(super::discovery::results(&scope).await);
    let report = checks::evaluate(&members, &facts, &selection, &pair_facts, extra);
    (report, facts)
}

/// istiod's `/debug/clusterz` per cluster where it runs (a primary); the Running pod comes
/// from the facts, so no second Pod list.
async fn istiod_views(
    opts: &VerifyOptions,
    targets: &[Target],
    members: &[Member],
    facts: &[ClusterFacts],
    timeout: Option<Duration>,
) -> Vec<(Result<Option<Vec<istiod::ClusterzEntry>>, String>, String)> {
    let t = timeout.unwrap_or(Duration::from_secs(10));
    futures::future::join_all(targets.iter().zip(facts).map(|(target, f)| {
        let (access, running) = istiod::reach(&opts.istiod_addresses, f);
        let wanted = f.error.is_none() && checks::role_of(members, f) == Role::Primary;
        let asked = istiod::asked(&access, running.as_deref());
        async move {
            if !wanted {
                return (Ok(None), asked);
            }
            let view = istiod::clusterz(&target.kube, &access, running.as_deref(), t).await;
            (view, asked)
        }
    }))
    .await
}

/// Connects to each `(name, context)` in parallel, probing with the aggregated discovery the
/// facts need anyway (one request where `GET /version` and a discovery were two). An
/// unreachable context stops the run, named, as with every command.
pub(crate) async fn connect_discovering(
    source: &KubeconfigSource,
    clusters: &[(String, String)],
    timeout: Option<Duration>,
) -> Result<Vec<Target>, ClusterError> {
    let tasks = clusters.iter().map(|(name, context)| async move {
        let kube = Kube::connect(source, context, timeout).await?;
        match timeout {
            Some(t) => tokio::time::timeout(t, kube.discover_all())
                .await
                .map_err(|_| ClusterError::Unreachable {
                    context: context.clone(),
                    operation: "GET /apis".into(),
                    reason: format!("no answer within {}s", t.as_secs_f64()),
                })??,
            None => kube.discover_all().await?,
        }
        Ok::<_, ClusterError>(Target {
            name: name.clone(),
            kube,
            version: String::new(),
        })
    });
    futures::future::join_all(tasks).await.into_iter().collect()
}
