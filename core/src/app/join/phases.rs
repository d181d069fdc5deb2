//! The plan of a join, made by the API servers, and carrying it out.
//!
//! Phase 1 per selected cluster: the desired objects, each dry-run applied, plus a delete for
//! every object a join writes in some topology that our field manager wrote here and the mesh
//! file no longer asks for (objects other tools made are never removed). Phase 2: a remote
//! secret per reading pair; before phase 1 is applied, a source without a token yet is
//! planned with a placeholder kubeconfig so the server still checks the Secret.

use super::desired::{as_data, base_objects, is_secret, join_universe, unwanted};
use super::fleet::{Fleet, istio_api_version, remote_pilot_address};
use super::scope::Scope;
use super::tokens::{read_token, wait_token};
use super::{Installer, JoinOptions};
use crate::cluster::{ClusterError, Kube, identity};
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, MULTICLUSTER_SECRET_LABEL, REMOTE_SECRET_PREFIX};
use crate::manifests::{istio, remote_secret};
use crate::mesh::{ClusterSpec, MeshSpec, Role};
use crate::plan::server::{plan_object, plan_objects, written_by_us};
use crate::plan::{ApplyMode, ClusterPlan, Op, Plan, Step, apply_plan};
use crate::render::Printer;
use crate::topology::reading_pairs;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The plan of a run before anything is written.
pub struct Planned {
    /// Phase 1, per selected cluster.
    pub phase1: Plan,
    /// Phase 2 as far as it can be known now.
    pub phase2: Plan,
    /// Rendered installs (`--installer istioctl|helm`), per cluster.
    pub installs: Vec<(String, Value)>,
}

impl Planned {
    /// Both phases, per cluster.
    pub fn full(&self) -> Plan {
        let mut full = self.phase1.clone();
        for cp in self.phase2.clusters.iter().cloned() {
            full.merge(cp);
        }
        full
    }
}

/// Plans both phases; any refusal (validation, conflict, a kind not served) ends the run
/// here, before the first write in any cluster.
pub async fn plan_all(
    opts: &JoinOptions,
    scope: &Scope<'_>,
    fleet: &Fleet,
    servers: &BTreeMap<String, String>,
) -> Result<Planned, Error> {
    let mut phase1 = Plan::default();
    let mut installs = Vec::new();
    for c in &scope.selected {
        let (cp, install) = plan_cluster(opts, c, fleet).await?;
        phase1.clusters.push(cp);
        installs.extend(install.map(|i| (c.name.clone(), i)));
    }
    let phase2 = plan_remote_secrets(scope, fleet, servers, &phase1, None).await?;
    Ok(Planned {
        phase1,
        phase2,
        installs,
    })
}

async fn plan_cluster(
    opts: &JoinOptions,
    c: &ClusterSpec,
    fleet: &Fleet,
) -> Result<(ClusterPlan, Option<Value>), Error> {
    let k = fleet.kube(&c.name)?;
    let istio_api = match opts.installer {
        Installer::Sail => istio_api_version(k).await?,
        _ => "sailoperator.io/v1".to_string(),
    };
    let pilot = pilot_for(&opts.mesh, c, fleet).await?;
    let install = match opts.installer {
        Installer::Istioctl => Some(istio::istio_operator(&opts.mesh, c, pilot.as_deref())),
        Installer::Helm => Some(istio::values(&opts.mesh, c, pilot.as_deref())),
        Installer::Sail => None,
    };
    let reader_rbac = !opts.skip_reader_rbac;
    let desired = base_objects(
        &opts.mesh,
        c,
        &istio_api,
        pilot.as_deref(),
        opts.installer,
        reader_rbac,
    );
    let with_secrecy = desired.iter().map(|m| (m.clone(), is_secret(m))).collect();
    let mut steps = plan_objects(k, with_secrecy).await?;
    let universe = join_universe(opts.installer, &istio_api);
    steps.extend(removals(k, unwanted(&universe, &desired)).await?);
    steps.extend(stale_remote_secrets(k, &opts.mesh, &c.name).await?);
    let plan = ClusterPlan {
        cluster: c.name.clone(),
        context: k.context.clone(),
        steps,
    };
    Ok((plan, install))
}

/// A remote's pilot address (its primary's east-west gateway); `None` for a primary.
async fn pilot_for(
    mesh: &MeshSpec,
    c: &ClusterSpec,
    fleet: &Fleet,
) -> Result<Option<String>, Error> {
    let (Role::Remote, Some(p)) = (c.role, &c.primary) else {
        return Ok(None);
    };
    let pc = mesh
        .cluster(p)
        .ok_or_else(|| Error::input(format!("primary '{p}' missing"), "fix the mesh file"))?;
    match remote_pilot_address(pc, fleet.kubes.get(p)).await? {
        Some(a) => Ok(Some(a)),
        None => Err(Error::input(
            format!(
                "remote '{}' needs the address of its primary '{p}''s east-west gateway, and none is known",
                c.name
            ),
            format!(
                "set eastWestAddress for '{p}' in the mesh file, or join '{p}' first and wait for its istio-eastwestgateway load balancer"
            ),
        )),
    }
}

/// Delete steps for the `candidates` that exist and that our field manager wrote.
async fn removals(k: &Kube, candidates: Vec<Value>) -> Result<Vec<Step>, Error> {
    let mut steps = Vec::new();
    for manifest in candidates {
        let (api_version, kind, ns, name) = identity(&manifest);
        let live = match k.get(&api_version, &kind, ns.as_deref(), &name).await {
            Ok(live) => live,
            Err(ClusterError::NotServed { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if live.as_ref().is_some_and(written_by_us) {
            steps.push(delete_step(
                manifest,
                "kubectl-mesh wrote it; the mesh file no longer asks for it",
            ));
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

/// Remote secrets in `cluster` that we wrote for a cluster it no longer reads.
async fn stale_remote_secrets(
    k: &Kube,
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
    Ok(live
        .iter()
        .filter(|s| written_by_us(s))
        .filter(|s| {
            let name = s["metadata"]["name"].as_str().unwrap_or_default();
            name.starts_with(REMOTE_SECRET_PREFIX) && !wanted.iter().any(|w| w == name)
        })
        .map(|s| {
            // Listed items carry no apiVersion/kind: name the object fully.
            let name = s["metadata"]["name"].as_str().unwrap_or_default();
            let id = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": ISTIO_NAMESPACE}});
            delete_step(
                id,
                "kubectl-mesh wrote it; this cluster no longer reads that one",
            )
        })
        .collect())
}

/// Phase 2: a remote secret per pair. `tokens` are the waited-for tokens (after phase 1);
/// without them, the tokens that exist now are used, and a placeholder where none exists.
async fn plan_remote_secrets(
    scope: &Scope<'_>,
    fleet: &Fleet,
    servers: &BTreeMap<String, String>,
    phase1: &Plan,
    tokens: Option<&BTreeMap<String, (String, String)>>,
) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    for (r, s) in &scope.pairs {
        let token = match tokens {
            Some(t) => t.get(s).cloned(),
            None => read_token(fleet.kube(s)?).await?,
        };
        let kube = fleet.kube(r)?;
        let step =
            remote_secret_step(kube, s, &servers[s], token, &created_namespaces(phase1, r)).await?;
        plan.merge(ClusterPlan {
            cluster: r.clone(),
            context: kube.context.clone(),
            steps: vec![step],
        });
    }
    Ok(plan)
}

async fn remote_secret_step(
    reader: &Kube,
    source: &str,
    server: &str,
    token: Option<(String, String)>,
    pending: &[String],
) -> Result<Step, ClusterError> {
    let Some((ca, token)) = token else {
        let placeholder = remote_secret::remote_secret(
            source,
            "<kubeconfig with the token issued in the source cluster>",
        );
        let mut step = plan_object(reader, as_data(placeholder), true, pending).await?;
        step.note = Some(format!(
            "reads {source} with a token issued there (after phase 1)"
        ));
        return Ok(step);
    };
    let kubeconfig = remote_secret::kubeconfig(source, server, &ca, &token);
    let secret = as_data(remote_secret::remote_secret(source, &kubeconfig));
    plan_object(reader, secret, true, pending).await
}

/// The namespaces phase 1 creates in `cluster`.
fn created_namespaces(phase1: &Plan, cluster: &str) -> Vec<String> {
    phase1
        .clusters
        .iter()
        .filter(|cp| cp.cluster == cluster)
        .flat_map(|cp| &cp.steps)
        .filter(|s| s.op == Op::Create && s.manifest["kind"] == "Namespace")
        .map(|s| identity(&s.manifest).3)
        .collect()
}

/// Applies phase 1, waits for the reader tokens, plans phase 2 with them and applies it.
/// Returns what was carried out, per cluster.
pub async fn apply_all(
    scope: &Scope<'_>,
    fleet: &Fleet,
    servers: &BTreeMap<String, String>,
    planned: Planned,
    printer: &Printer,
) -> Result<Plan, Error> {
    apply_phase(
        fleet,
        &planned.phase1,
        "phase 1 (control plane, gateways, reader access)",
    )
    .await?;
    let mut tokens = BTreeMap::new();
    for (_, s) in &scope.pairs {
        if !tokens.contains_key(s) {
            printer.progress(&format!("waiting for the reader token in {s}"));
            let t = wait_token(fleet.kube(s)?, Duration::from_secs(30)).await?;
            tokens.insert(s.clone(), t);
        }
    }
    let phase2 = plan_remote_secrets(scope, fleet, servers, &planned.phase1, Some(&tokens)).await?;
    apply_phase(fleet, &phase2, "phase 2 (remote secrets)").await?;
    let mut shown = planned.phase1;
    for cp in phase2.clusters {
        shown.merge(cp);
    }
    Ok(shown)
}

async fn apply_phase(fleet: &Fleet, plan: &Plan, phase: &str) -> Result<(), Error> {
    let kubes: Vec<Kube> = plan
        .clusters
        .iter()
        .map(|cp| fleet.kube(&cp.cluster).cloned())
        .collect::<Result<_, _>>()?;
    let results = apply_plan(&kubes, plan, ApplyMode::Apply).await;
    report_failures(plan, results, phase)
}

/// The first failure of a phase, naming the cluster and the clusters that finished it.
pub fn report_failures(
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
    let Some((cluster, e)) = failed.into_iter().next() else {
        return Ok(());
    };
    let finished = if done.is_empty() {
        "no other cluster finished this phase".to_string()
    } else {
        format!("finished in: {} (the rest is unchanged)", done.join(", "))
    };
    Err(Error::Input {
        message: format!("{phase} failed in cluster '{cluster}': {e}\n{finished}"),
        hint: Some(
            "fix the cause and run the same command again: it applies only what is missing".into(),
        ),
    })
}

/// Prints `--installer istioctl|helm` documents (they are installed by those tools).
pub fn print_installs(
    installer: Installer,
    installs: &[(String, Value)],
    printer: &Printer,
) -> Result<(), Error> {
    let what = if installer == Installer::Helm {
        "Helm values (istiod chart)"
    } else {
        "IstioOperator (istioctl install -f)"
    };
    for (name, doc) in installs {
        printer.data(&format!(
            "---\n# cluster: {name}: {what}\n{}",
            yaml_serde::to_string(doc).unwrap_or_default()
        ))?;
    }
    Ok(())
}
