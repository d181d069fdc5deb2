//! `kubectl mesh-join`: every cluster of a mesh joined in one run, in any of the four
//! topologies, and `leave`.
//!
//! A join is two phases per cluster, each planned before it is applied:
//! 1. the namespace (network label; a remote's `controlPlaneClusters`), the control plane
//!    resource, gateways and exposure, and the reader ServiceAccount/RBAC/token Secret in every
//!    cluster that another cluster reads;
//! 2. once the controller manager has filled the token Secrets, the remote secrets in every
//!    reading cluster (multi-primary: every primary reads every other cluster; primary-remote:
//!    the primary reads its remotes).
//!
//! Everything is server-side applied with one field manager and compared first, so a second
//! run writes nothing and a run interrupted anywhere is finished by running it again.

use super::trust::{Access, judge_trust, observe_trust};
use crate::ca::Severity;
use crate::ca::store::CertDir;
use crate::cli::DryRun;
use crate::cluster::{ClusterError, Kube, identity};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::kubeconfig::KubeconfigSource;
use crate::labels::{CONTROL_PLANE_CLUSTERS, ISTIO_NAMESPACE, NETWORK_LABEL, REMOTE_SECRET_PREFIX};
use crate::manifests::gateway::{self, Placement};
use crate::manifests::{istio, remote_secret};
use crate::mesh::{ClusterSpec, MeshSpec, Role};
use crate::plan::{ApplyMode, ClusterPlan, Op, Plan, Step, apply_plan, plan_table, plan_yaml};
use crate::render::{OutputFormat, Printer};
use crate::targets::connect_all;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How the control plane is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Installer {
    /// Sail operator `Istio` resources (applied).
    #[default]
    Sail,
    /// An `IstioOperator` per cluster for `istioctl install -f` (printed, not applied).
    Istioctl,
    /// Helm values per cluster for the `istiod` chart (printed, not applied).
    Helm,
}

/// `mesh-join` options.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// The mesh.
    pub mesh: MeshSpec,
    /// The certificate directory, to check each `cacerts` against the local root.
    pub certs_dir: Option<CertDir>,
    /// Only these clusters (default: all).
    pub only: Vec<String>,
    /// `--dry-run`.
    pub dry_run: DryRun,
    /// `-o`.
    pub format: OutputFormat,
    /// Do not wait for the control planes to be Ready.
    pub no_wait: bool,
    /// How long to wait for Ready.
    pub wait_timeout: Duration,
    /// Accept loopback API server addresses in remote secrets (a lab on one host).
    pub allow_loopback: bool,
    /// The installer.
    pub installer: Installer,
    /// Print the plan only (`mesh-join plan`).
    pub plan_only: bool,
    /// Do not create the reader ServiceAccount and RBAC (they exist already).
    pub skip_reader_rbac: bool,
    /// Include secret material in `-o yaml` output and exports.
    pub include_secrets: bool,
    /// Write manifests into this directory instead of applying them.
    pub export: Option<PathBuf>,
}

/// Which clusters read which: `(reader, source)` pairs.
pub fn reading_pairs(mesh: &MeshSpec) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for r in mesh.clusters.iter().filter(|c| c.role == Role::Primary) {
        for s in &mesh.clusters {
            if s.name == r.name {
                continue;
            }
            let reads = match s.role {
                Role::Primary => true,
                Role::Remote => s.primary.as_deref() == Some(r.name.as_str()),
            };
            if reads {
                pairs.push((r.name.clone(), s.name.clone()));
            }
        }
    }
    pairs
}

/// Phase-1 objects of one cluster, in apply order.
pub fn base_objects(
    mesh: &MeshSpec,
    c: &ClusterSpec,
    istio_api: &str,
    remote_pilot_address: Option<&str>,
    installer: Installer,
    reader_rbac: bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut ns = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ISTIO_NAMESPACE, "labels": {NETWORK_LABEL: c.network}},
    });
    if let (Role::Remote, Some(p)) = (c.role, &c.primary) {
        ns["metadata"]["annotations"] = json!({CONTROL_PLANE_CLUSTERS: p});
    }
    out.push(ns);
    if installer == Installer::Sail {
        if mesh.istio.cni {
            out.push(istio::cni_namespace());
            out.push(istio::istio_cni(mesh, istio_api));
        }
        out.push(istio::istio(mesh, c, istio_api, remote_pilot_address));
    }
    let has_remotes = !mesh.remotes_of(&c.name).is_empty();
    if mesh.multi_network() || (c.role == Role::Primary && has_remotes) {
        let placement = if mesh.istio.gateways_on_infra_nodes {
            Placement::Infra
        } else {
            Placement::Any
        };
        out.extend(gateway::east_west(&c.network, placement));
    }
    if mesh.multi_network() && c.role == Role::Primary {
        out.push(gateway::cross_network_gateway());
    }
    if c.role == Role::Primary && has_remotes {
        out.extend(gateway::expose_istiod());
    }
    let read_by_someone = reading_pairs(mesh).iter().any(|(_, s)| *s == c.name);
    if read_by_someone {
        for o in remote_secret::reader_objects(c.role == Role::Remote) {
            let token = o["kind"] == "Secret";
            if reader_rbac || token {
                out.push(o);
            }
        }
    }
    out
}

fn is_secret(v: &Value) -> bool {
    v["kind"] == "Secret"
}

/// A Secret with `stringData` turned into `data`, as the API server stores it (so a second
/// run compares equal).
fn as_data(mut secret: Value) -> Value {
    use base64::Engine as _;
    if let Some(Value::Object(sd)) = secret.as_object_mut().and_then(|o| o.remove("stringData")) {
        let data: serde_json::Map<String, Value> = sd
            .into_iter()
            .map(|(k, v)| {
                let b = base64::engine::general_purpose::STANDARD
                    .encode(v.as_str().unwrap_or_default());
                (k, Value::String(b))
            })
            .collect();
        secret["data"] = Value::Object(data);
    }
    secret
}

/// Reads the token Secret of a source cluster: `(ca.crt base64, token)` once filled.
async fn read_token(kube: &Kube) -> Result<Option<(String, String)>, ClusterError> {
    use base64::Engine as _;
    let Some(s) = kube
        .get(
            "v1",
            "Secret",
            Some(ISTIO_NAMESPACE),
            &remote_secret::token_secret_name(),
        )
        .await?
    else {
        return Ok(None);
    };
    let ca = s["data"]["ca.crt"].as_str().unwrap_or_default().to_string();
    let token = s["data"]["token"]
        .as_str()
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .and_then(|t| String::from_utf8(t).ok())
        .unwrap_or_default();
    Ok((!ca.is_empty() && !token.is_empty()).then_some((ca, token)))
}

/// Waits until the controller manager has filled the token Secret.
async fn wait_token(kube: &Kube, timeout: Duration) -> Result<(String, String), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = read_token(kube).await? {
            return Ok(t);
        }
        if Instant::now() > deadline {
            return Err(Error::input(
                format!(
                    "context {}: {ISTIO_NAMESPACE}/{} has no token after {}s",
                    kube.context,
                    remote_secret::token_secret_name(),
                    timeout.as_secs()
                ),
                "the cluster's kube-controller-manager fills service-account-token Secrets; check that it runs (and has --service-account-private-key-file)",
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The API server URL peers use for `cluster`.
fn server_of(
    c: &ClusterSpec,
    source: &KubeconfigSource,
    allow_loopback: bool,
) -> Result<String, Error> {
    let server = match &c.api_server {
        Some(s) => s.clone(),
        None => source.server(&c.context).ok_or_else(|| {
            Error::input(
                format!("context '{}' has no server in the kubeconfig", c.context),
                format!("set apiServer for cluster '{}' in the mesh file", c.name),
            )
        })?,
    };
    if remote_secret::is_loopback(&server) && !allow_loopback {
        return Err(Error::input(
            format!(
                "cluster '{}' would be read at {server}, a loopback address that istiod in another cluster cannot reach",
                c.name
            ),
            format!(
                "set apiServer for '{}' in the mesh file (or --server) to an address the other clusters reach; --allow-loopback accepts it when every cluster runs on this host",
                c.name
            ),
        ));
    }
    Ok(server.trim_end_matches('/').to_string())
}

/// The address remotes reach their primary's istiod at: `eastWestAddress`, else the primary's
/// east-west Service load balancer.
async fn remote_pilot_address(
    primary: &ClusterSpec,
    kube: Option<&Kube>,
) -> Result<Option<String>, Error> {
    if let Some(a) = &primary.east_west_address {
        return Ok(Some(a.clone()));
    }
    if let Some(k) = kube
        && let Some(svc) = k
            .get("v1", "Service", Some(ISTIO_NAMESPACE), gateway::EAST_WEST)
            .await?
    {
        let ingress = &svc["status"]["loadBalancer"]["ingress"][0];
        if let Some(a) = ingress["ip"].as_str().or(ingress["hostname"].as_str()) {
            return Ok(Some(a.to_string()));
        }
    }
    Ok(None)
}

/// Everything needed to talk to the mesh's clusters.
struct Fleet {
    source: KubeconfigSource,
    kubes: BTreeMap<String, Kube>,
}

async fn connect(mesh: &MeshSpec, access: &Access, names: &[String]) -> Result<Fleet, Error> {
    let source = KubeconfigSource::load(access.kubeconfig.as_deref())?;
    let pairs: Vec<(String, String)> = mesh
        .clusters
        .iter()
        .filter(|c| names.contains(&c.name))
        .map(|c| (c.name.clone(), c.context.clone()))
        .collect();
    let targets = connect_all(&source, &pairs, access.timeout).await?;
    Ok(Fleet {
        source,
        kubes: targets.into_iter().map(|t| (t.name, t.kube)).collect(),
    })
}

async fn observe_steps(kube: &Kube, desired: Vec<Value>) -> Result<Vec<Step>, Error> {
    let desired = desired
        .into_iter()
        .map(|m| {
            let secret = is_secret(&m);
            (m, secret)
        })
        .collect();
    Ok(crate::plan::observe(kube, "", desired, Vec::new())
        .await?
        .steps)
}

/// `mesh-join` (and `mesh-join plan`).
pub async fn join(
    opts: &JoinOptions,
    access: &Access,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let mesh = &opts.mesh;
    let selected: Vec<&ClusterSpec> = mesh
        .clusters
        .iter()
        .filter(|c| opts.only.is_empty() || opts.only.contains(&c.name))
        .collect();
    if let Some(unknown) = opts.only.iter().find(|n| mesh.cluster(n).is_none()) {
        return Err(Error::input(
            format!("cluster '{unknown}' is not in the mesh file"),
            format!(
                "the mesh has: {}",
                mesh.clusters
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let pairs: Vec<(String, String)> = reading_pairs(mesh)
        .into_iter()
        .filter(|(r, s)| selected.iter().any(|c| c.name == *r || c.name == *s))
        .collect();
    // Every cluster a selected one needs: itself, its readers and sources, a remote's primary.
    let mut needed: Vec<String> = selected.iter().map(|c| c.name.clone()).collect();
    for (r, s) in &pairs {
        for n in [r, s] {
            if !needed.contains(n) {
                needed.push(n.clone());
            }
        }
    }
    for c in &selected {
        if let Some(p) = &c.primary
            && !needed.contains(p)
        {
            needed.push(p.clone());
        }
    }
    if let Some(dir) = &opts.export {
        return export(opts, access, dir, printer).await;
    }
    printer.progress(&format!(
        "mesh {}: {} ({} cluster(s)); connecting to {}",
        mesh.mesh_id,
        mesh.topology(),
        mesh.clusters.len(),
        needed.join(", ")
    ));
    let fleet = connect(mesh, access, &needed).await?;
    let kube = |name: &str| -> Result<&Kube, Error> {
        fleet.kubes.get(name).ok_or_else(|| {
            Error::input(
                format!("cluster '{name}' is not connected"),
                "report this as a bug",
            )
        })
    };

    // Trust first: istiod must find a cacerts that chains to the mesh root in every cluster.
    check_trust(opts, &selected, &fleet).await?;

    // Phase 1, observed.
    let mut plan = Plan::default();
    let mut rendered_installs = Vec::new();
    for c in &selected {
        let k = kube(&c.name)?;
        let istio_api = if opts.installer == Installer::Sail {
            istio_api_version(k).await?
        } else {
            String::new()
        };
        let pilot = match (&c.role, &c.primary) {
            (Role::Remote, Some(p)) => {
                let pc = mesh.cluster(p).ok_or_else(|| {
                    Error::input(format!("primary '{p}' missing"), "fix the mesh file")
                })?;
                let addr = remote_pilot_address(pc, fleet.kubes.get(p)).await?;
                if addr.is_none() {
                    return Err(Error::input(
                        format!(
                            "remote '{}' needs the address of its primary '{p}''s east-west gateway, and none is known",
                            c.name
                        ),
                        format!(
                            "set eastWestAddress for '{p}' in the mesh file, or join '{p}' first and wait for its istio-eastwestgateway load balancer"
                        ),
                    ));
                }
                addr
            }
            _ => None,
        };
        match opts.installer {
            Installer::Istioctl => rendered_installs.push((
                c.name.clone(),
                istio::istio_operator(mesh, c, pilot.as_deref()),
            )),
            Installer::Helm => {
                rendered_installs.push((c.name.clone(), istio::values(mesh, c, pilot.as_deref())))
            }
            Installer::Sail => {}
        }
        let desired = base_objects(
            mesh,
            c,
            &istio_api,
            pilot.as_deref(),
            opts.installer,
            !opts.skip_reader_rbac,
        );
        plan.clusters.push(ClusterPlan {
            cluster: c.name.clone(),
            context: k.context.clone(),
            steps: observe_steps(k, desired).await?,
        });
    }
    // Phase 2, observed with the tokens that exist now.
    let servers: BTreeMap<String, String> = pairs
        .iter()
        .map(|(_, s)| {
            let sc = mesh.cluster(s).ok_or_else(|| {
                Error::input(format!("cluster '{s}' missing"), "fix the mesh file")
            })?;
            Ok((
                s.clone(),
                server_of(sc, &fleet.source, opts.allow_loopback)?,
            ))
        })
        .collect::<Result<_, Error>>()?;
    let mut phase2: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    for (r, s) in &pairs {
        let token = read_token(kube(s)?).await?;
        let step = match token {
            Some((ca, token)) => {
                let secret = as_data(remote_secret::remote_secret(
                    s,
                    &remote_secret::kubeconfig(s, &servers[s], &ca, &token),
                ));
                observe_steps(kube(r)?, vec![secret]).await?.remove(0)
            }
            None => Step {
                op: Op::Create,
                manifest: remote_secret::remote_secret(
                    s,
                    "<kubeconfig with the token issued in the source cluster>",
                ),
                note: Some(format!("reads {s} with a token issued there")),
                secret: true,
            },
        };
        phase2.entry(r.clone()).or_default().push(step);
    }
    let mut full = plan.clone();
    for (r, steps) in &phase2 {
        full.merge(ClusterPlan {
            cluster: r.clone(),
            context: kube(r)?.context.clone(),
            steps: steps.clone(),
        });
    }

    for (name, doc) in &rendered_installs {
        let what = if opts.installer == Installer::Helm {
            "Helm values (istiod chart)"
        } else {
            "IstioOperator (istioctl install -f)"
        };
        printer.data(&format!(
            "---\n# cluster: {name}: {what}\n{}",
            yaml_serde::to_string(doc).unwrap_or_default()
        ))?;
    }
    let client_only = opts.plan_only || opts.dry_run == DryRun::Client;
    if client_only {
        match opts.format {
            OutputFormat::Yaml => printer.data(&plan_yaml(&full, opts.include_secrets))?,
            OutputFormat::Json => printer.serialized(OutputFormat::Json, &full)?,
            OutputFormat::Table => printer.data(&plan_table(&full, printer.out_style()))?,
        }
        printer.progress(&format!(
            "{} change(s) planned; nothing was written",
            full.writes()
        ));
        return Ok(ExitStatus::Success);
    }
    if full.is_noop() {
        if opts.format == OutputFormat::Table {
            printer.data(&plan_table(&full, printer.out_style()))?;
        }
        printer.progress("nothing to do: every cluster is already joined as described");
        return wait_ready(opts, &selected, &fleet, printer).await;
    }
    let mode = ApplyMode::from_dry_run(opts.dry_run).unwrap_or(ApplyMode::Apply);

    // Phase 1, applied in parallel.
    let kubes: Vec<Kube> = plan
        .clusters
        .iter()
        .map(|cp| kube(&cp.cluster).cloned())
        .collect::<Result<_, _>>()?;
    let results = apply_plan(&kubes, &plan, mode).await;
    report_failures(
        &plan,
        results,
        "phase 1 (control plane, gateways, reader access)",
    )?;
    let mut writes = plan.writes();

    // Phase 2: tokens, then remote secrets.
    let mut final2 = Plan::default();
    if mode == ApplyMode::Apply {
        let mut tokens = BTreeMap::new();
        for (_, s) in &pairs {
            if !tokens.contains_key(s) {
                printer.progress(&format!("waiting for the reader token in {s}"));
                tokens.insert(
                    s.clone(),
                    wait_token(kube(s)?, Duration::from_secs(30)).await?,
                );
            }
        }
        for (r, s) in &pairs {
            let (ca, token) = &tokens[s];
            let secret = as_data(remote_secret::remote_secret(
                s,
                &remote_secret::kubeconfig(s, &servers[s], ca, token),
            ));
            let steps = observe_steps(kube(r)?, vec![secret]).await?;
            final2.merge(ClusterPlan {
                cluster: r.clone(),
                context: kube(r)?.context.clone(),
                steps,
            });
        }
        let kubes2: Vec<Kube> = final2
            .clusters
            .iter()
            .map(|cp| kube(&cp.cluster).cloned())
            .collect::<Result<_, _>>()?;
        let results = apply_plan(&kubes2, &final2, mode).await;
        report_failures(&final2, results, "phase 2 (remote secrets)")?;
        writes += final2.writes();
    }
    let mut shown = plan.clone();
    for cp in final2.clusters {
        shown.merge(cp);
    }
    match opts.format {
        OutputFormat::Yaml => printer.data(&plan_yaml(&shown, opts.include_secrets))?,
        OutputFormat::Json => printer.serialized(OutputFormat::Json, &shown)?,
        OutputFormat::Table => printer.data(&plan_table(&shown, printer.out_style()))?,
    }
    if mode == ApplyMode::ServerDryRun {
        printer.progress(&format!("server dry run: the API servers accepted {writes} change(s); nothing was written (remote secrets need tokens and were not sent)"));
        return Ok(ExitStatus::Success);
    }
    printer.progress(&format!(
        "applied {writes} change(s) across {} cluster(s)",
        shown.clusters.len()
    ));
    wait_ready(opts, &selected, &fleet, printer).await
}

fn report_failures(
    plan: &Plan,
    results: Vec<Result<usize, ClusterError>>,
    phase: &str,
) -> Result<(), Error> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (cp, r) in plan.clusters.iter().zip(results) {
        match r {
            Ok(_) => done.push(cp.cluster.clone()),
            Err(e) => failed.push((cp.cluster.clone(), e)),
        }
    }
    if let Some((cluster, e)) = failed.into_iter().next() {
        return Err(Error::Input {
            message: format!(
                "{phase} failed in cluster '{cluster}': {e}\n{}",
                if done.is_empty() {
                    "no other cluster finished this phase".to_string()
                } else {
                    format!("finished in: {} (the rest is unchanged)", done.join(", "))
                }
            ),
            hint: Some(
                "fix the cause and run the same command again: it applies only what is missing"
                    .into(),
            ),
        });
    }
    Ok(())
}

async fn istio_api_version(k: &Kube) -> Result<String, Error> {
    for v in ["sailoperator.io/v1", "sailoperator.io/v1alpha1"] {
        if k.serves(v, "Istio").await? {
            return Ok(v.to_string());
        }
    }
    Err(ClusterError::NotServed {
        context: k.context.clone(),
        api_version: "sailoperator.io/v1".into(),
        kind: "Istio".into(),
    }
    .into())
}

async fn check_trust(
    opts: &JoinOptions,
    selected: &[&ClusterSpec],
    fleet: &Fleet,
) -> Result<(), Error> {
    let local_root = match &opts.certs_dir {
        Some(d) => d.root_fingerprint()?,
        None => None,
    };
    let mut observed = Vec::new();
    for c in selected {
        if let Some(k) = fleet.kubes.get(&c.name) {
            observed.push(observe_trust(k, &c.name, time::OffsetDateTime::now_utc(), 0).await?);
        }
    }
    let report = judge_trust(&mut observed, local_root);
    let blocking: Vec<String> = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error && !p.message.contains("istio-ca-root-cert"))
        .map(|p| format!("{}: {}", p.subject, p.message))
        .collect();
    if !blocking.is_empty() {
        let certs = opts
            .certs_dir
            .as_ref()
            .map(|d| d.path().display().to_string())
            .unwrap_or_else(|| "mesh-certs".into());
        return Err(Error::input(
            format!(
                "the mesh's trust is not ready, nothing was changed:\n{}",
                blocking.join("\n")
            ),
            format!(
                "put each cluster's intermediate in place first: kubectl mesh-certs apply -f MESH.yaml --dir {certs} (kubectl mesh-certs status shows the details)"
            ),
        ));
    }
    Ok(())
}

async fn wait_ready(
    opts: &JoinOptions,
    selected: &[&ClusterSpec],
    fleet: &Fleet,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    if opts.no_wait || opts.installer != Installer::Sail {
        return Ok(ExitStatus::Success);
    }
    let deadline = Instant::now() + opts.wait_timeout;
    let mut pending: Vec<&ClusterSpec> = selected.to_vec();
    printer.progress(&format!(
        "waiting up to {}s for Istio/default to be Ready in {} (the Sail operator reconciles it; --no-wait skips this)",
        opts.wait_timeout.as_secs(),
        pending.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
    ));
    loop {
        let mut still = Vec::new();
        for c in pending {
            let Some(k) = fleet.kubes.get(&c.name) else {
                continue;
            };
            let api = istio_api_version(k).await?;
            let ready = k
                .get(&api, "Istio", None, istio::CONTROL_PLANE_NAME)
                .await?
                .and_then(|i| i["status"]["conditions"].as_array().cloned())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
            if ready {
                printer.progress(&format!("{}: Istio/default is Ready", c.name));
            } else {
                still.push(c);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(ExitStatus::Success);
        }
        if Instant::now() > deadline {
            printer.warn(&format!(
                "not Ready after {}s: {} — is the Sail operator running there? (kubectl get istio default -o yaml shows its conditions)",
                opts.wait_timeout.as_secs(),
                pending.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ));
            return Ok(ExitStatus::Problems);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// `--export DIR`: every cluster's manifests as files, for GitOps engines.
async fn export(
    opts: &JoinOptions,
    access: &Access,
    dir: &std::path::Path,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let mesh = &opts.mesh;
    let mut left_out = Vec::new();
    let fleet = if opts.include_secrets {
        let names: Vec<String> = mesh.clusters.iter().map(|c| c.name.clone()).collect();
        Some(connect(mesh, access, &names).await?)
    } else {
        None
    };
    let mut written = 0;
    for c in &mesh.clusters {
        if !opts.only.is_empty() && !opts.only.contains(&c.name) {
            continue;
        }
        let pilot = match &c.primary {
            Some(p) => mesh.cluster(p).and_then(|pc| pc.east_west_address.clone()),
            None => None,
        };
        let mut docs = base_objects(
            mesh,
            c,
            "sailoperator.io/v1",
            pilot.as_deref(),
            opts.installer,
            !opts.skip_reader_rbac,
        );
        match opts.installer {
            Installer::Istioctl => docs.push(istio::istio_operator(mesh, c, pilot.as_deref())),
            Installer::Helm => {}
            Installer::Sail => {}
        }
        for (r, s) in reading_pairs(mesh)
            .into_iter()
            .filter(|(r, _)| *r == c.name)
        {
            let token = match &fleet {
                Some(f) => match f.kubes.get(&s) {
                    Some(k) => read_token(k).await?,
                    None => None,
                },
                None => None,
            };
            let sc = mesh.cluster(&s).ok_or_else(|| {
                Error::input(format!("cluster '{s}' missing"), "fix the mesh file")
            })?;
            match (token, &fleet) {
                (Some((ca, token)), Some(f)) => {
                    let server = server_of(sc, &f.source, opts.allow_loopback)?;
                    docs.push(remote_secret::remote_secret(&s, &remote_secret::kubeconfig(&s, &server, &ca, &token)));
                }
                _ => left_out.push(format!(
                    "{r}: Secret {ISTIO_NAMESPACE}/{REMOTE_SECRET_PREFIX}{s} (holds a token; {})",
                    if opts.include_secrets { "no token exists yet in the source: apply its reader objects, then export again" } else { "--include-secrets adds it" }
                )),
            }
        }
        let cdir = dir.join(&c.name);
        std::fs::create_dir_all(&cdir).map_err(|e| {
            Error::input(
                format!("cannot create {}: {e}", cdir.display()),
                "choose a writable --export directory",
            )
        })?;
        for (i, d) in docs.iter().enumerate() {
            let (_, kind, _, name) = identity(d);
            let path = cdir.join(format!(
                "{:02}-{}-{}.yaml",
                i + 1,
                kind.to_lowercase(),
                name
            ));
            let mode = if is_secret(d) && d.get("data").is_some() {
                0o600
            } else {
                0o644
            };
            crate::ca::store::write_atomic(
                &path,
                yaml_serde::to_string(d).unwrap_or_default().as_bytes(),
                mode,
            )?;
            written += 1;
        }
    }
    printer.progress(&format!(
        "wrote {written} manifest(s) into {}",
        dir.display()
    ));
    for l in &left_out {
        printer.warn(&format!("left out: {l}"));
    }
    printer.progress("cacerts is not exported: the intermediate's key belongs with kubectl mesh-certs apply (or your secret store)");
    Ok(ExitStatus::Success)
}

/// `mesh-join remote-secret`: a drop-in for `istioctl create-remote-secret`.
pub async fn remote_secret_cmd(
    access: &Access,
    context: &str,
    name: &str,
    server: Option<&str>,
    allow_loopback: bool,
    create_service_account: bool,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    crate::names::ClusterName::parse(name)?;
    let source = KubeconfigSource::load(access.kubeconfig.as_deref())?;
    let targets = connect_all(
        &source,
        &[(name.to_string(), context.to_string())],
        access.timeout,
    )
    .await?;
    let kube = &targets[0].kube;
    let spec = ClusterSpec {
        name: name.into(),
        context: context.into(),
        network: String::new(),
        role: Role::Primary,
        primary: None,
        east_west_address: None,
        api_server: server.map(String::from),
    };
    let server = server_of(&spec, &source, allow_loopback)?;
    let mut objects = remote_secret::reader_objects(false);
    if !create_service_account {
        objects.retain(|o| o["kind"] == "Secret");
    }
    objects.insert(
        0,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}}),
    );
    let steps = observe_steps(kube, objects).await?;
    let plan = Plan {
        clusters: vec![ClusterPlan {
            cluster: name.into(),
            context: context.into(),
            steps,
        }],
    };
    if let Some(Err(e)) = apply_plan(std::slice::from_ref(kube), &plan, ApplyMode::Apply)
        .await
        .into_iter()
        .next()
    {
        return Err(e.into());
    }
    let (ca, token) = wait_token(kube, Duration::from_secs(30)).await?;
    let secret =
        remote_secret::remote_secret(name, &remote_secret::kubeconfig(name, &server, &ca, &token));
    printer.data(&format!(
        "# This file is autogenerated, do not edit.\n{}---\n",
        yaml_serde::to_string(&secret).unwrap_or_default()
    ))?;
    Ok(ExitStatus::Success)
}

/// `mesh-join leave` options.
#[derive(Debug, Clone)]
pub struct LeaveOptions {
    /// The mesh.
    pub mesh: MeshSpec,
    /// The cluster that leaves.
    pub cluster: String,
    /// Also remove the control plane resources and namespaces.
    pub purge: bool,
    /// `--dry-run`.
    pub dry_run: DryRun,
}

fn delete_step(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Value {
    let mut v = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
    if let Some(ns) = namespace {
        v["metadata"]["namespace"] = json!(ns);
    }
    v
}

/// `mesh-join leave`: undoes what join made for this cluster, in it and in its peers.
pub async fn leave(
    opts: &LeaveOptions,
    access: &Access,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let mesh = &opts.mesh;
    let me = mesh.cluster(&opts.cluster).ok_or_else(|| {
        Error::input(
            format!("cluster '{}' is not in the mesh file", opts.cluster),
            "name a cluster of the mesh with --cluster",
        )
    })?;
    let names: Vec<String> = mesh.clusters.iter().map(|c| c.name.clone()).collect();
    let fleet = connect(mesh, access, &names).await?;
    // The mesh without this cluster (and without remotes it was the primary of).
    let mut rest = mesh.clone();
    rest.clusters
        .retain(|c| c.name != me.name && c.primary.as_deref() != Some(me.name.as_str()));
    let key = |v: &Value| {
        let (a, k, n, name) = identity(v);
        (a, k, n, name)
    };
    let mut deletes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut updates: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for c in &mesh.clusters {
        let Some(k) = fleet.kubes.get(&c.name) else {
            continue;
        };
        let api = istio_api_version(k)
            .await
            .unwrap_or_else(|_| "sailoperator.io/v1".into());
        let pilot = |m: &MeshSpec| {
            c.primary
                .as_ref()
                .and_then(|p| m.cluster(p))
                .and_then(|p| p.east_west_address.clone())
        };
        let before = base_objects(mesh, c, &api, pilot(mesh).as_deref(), Installer::Sail, true);
        let after = match rest.cluster(&c.name) {
            Some(rc) => base_objects(
                &rest,
                rc,
                &api,
                pilot(&rest).as_deref(),
                Installer::Sail,
                true,
            ),
            // The leaving cluster keeps its namespace and control plane unless purged.
            None => before
                .iter()
                .filter(|o| {
                    !opts.purge
                        && matches!(o["kind"].as_str(), Some("Namespace" | "Istio" | "IstioCNI"))
                })
                .cloned()
                .collect(),
        };
        let mut gone: Vec<Value> = before
            .iter()
            .filter(|o| !after.iter().any(|a| key(a) == key(o)))
            .map(|o| {
                let (a, kind, ns, name) = key(o);
                delete_step(&a, &kind, ns.as_deref(), &name)
            })
            .collect();
        // Remote secrets: what this cluster read of the leaving one, and all it read itself.
        for (r, s) in reading_pairs(mesh) {
            if (r == c.name && s == me.name) || (c.name == me.name && r == me.name) {
                gone.push(delete_step(
                    "v1",
                    "Secret",
                    Some(ISTIO_NAMESPACE),
                    &format!("{REMOTE_SECRET_PREFIX}{s}"),
                ));
            }
        }
        // Deleting a namespace takes everything in it: delete it last.
        gone.sort_by_key(|o| o["kind"] == "Namespace");
        deletes.insert(c.name.clone(), gone);
        if c.name != me.name {
            let changed: Vec<Value> = after
                .iter()
                .filter(|a| before.iter().any(|b| key(b) == key(a) && b != *a))
                .cloned()
                .collect();
            updates.insert(c.name.clone(), changed);
        }
    }
    let mut plan = Plan::default();
    let mut kubes = Vec::new();
    for (name, objs) in deletes {
        let Some(k) = fleet.kubes.get(&name) else {
            continue;
        };
        let mut steps = observe_steps(k, updates.remove(&name).unwrap_or_default()).await?;
        steps.retain(|s| s.op.writes());
        for o in objs {
            let (a, kind, ns, n) = identity(&o);
            let live = match k.get(&a, &kind, ns.as_deref(), &n).await {
                Ok(l) => l,
                Err(ClusterError::NotServed { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            if live.is_some() && !steps.iter().any(|s: &Step| s.manifest == o) {
                steps.push(Step {
                    op: Op::Delete,
                    manifest: o,
                    note: None,
                    secret: false,
                });
            }
        }
        if !steps.is_empty() {
            plan.clusters.push(ClusterPlan {
                cluster: name.clone(),
                context: k.context.clone(),
                steps,
            });
            kubes.push(k.clone());
        }
    }
    printer.data(&plan_table(&plan, printer.out_style()))?;
    let Some(mode) = ApplyMode::from_dry_run(opts.dry_run) else {
        printer.progress(&format!(
            "dry run: {} deletion(s) planned, nothing removed",
            plan.writes()
        ));
        return Ok(ExitStatus::Success);
    };
    let results = apply_plan(&kubes, &plan, mode).await;
    report_failures(&plan, results, "leave")?;
    printer.progress(&format!(
        "{} left mesh {}: {} object(s) removed{}",
        me.name,
        mesh.mesh_id,
        plan.writes(),
        if opts.purge {
            " (control plane purged)"
        } else {
            "; its control plane stays (--purge removes it)"
        }
    ));
    Ok(ExitStatus::Success)
}
