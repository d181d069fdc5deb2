//! The plan of a join, made by the API servers, stage by stage.
//!
//! Per selected cluster and [`Stage`]: the desired objects, each dry-run applied, plus a
//! delete for every object a join writes in some topology that our field manager wrote here
//! and the mesh file no longer asks for (objects other tools made are never removed). Remote
//! secrets: one per reading pair; before the tokens exist, a placeholder kubeconfig lets the
//! server still check the Secret. A remote's pilot address that is not known yet (its
//! primary's gateway has no address before the gateway exists) is planned with a placeholder.

use super::desired::{Render, Stage, is_secret, join_universe, stage_objects, unwanted};
use super::scope::Scope;
use super::tokens::credential;
use super::{Installer, JoinOptions};
use crate::app::fleet::{Fleet, istio_api_version, remote_pilot_address};
use crate::cluster::{Cluster, ClusterError, identity};
use crate::error::Error;
use crate::labels::{ISTIO_NAMESPACE, REMOTE_SECRET_PREFIX};
use crate::manifests::{as_data, remote_secret};
use crate::mesh::{ClusterSpec, MeshSpec, Role};
use crate::plan::server::{plan_object, plan_objects_later, written_by_us};
use crate::plan::{ClusterPlan, Op, Plan, Step};
use crate::render::Printer;
use crate::topology::is_read;
use serde_json::Value;
use std::collections::BTreeMap;

/// The address planned for a remote whose primary's gateway has no address yet.
pub const PENDING_PILOT: &str = "pending-east-west-address.invalid";

/// The plan of a run before anything is written.
pub struct Planned {
    /// Per stage, per cluster.
    pub stages: BTreeMap<Stage, Plan>,
    /// Rendered installs (`--installer istioctl|helm`), per cluster.
    pub installs: Vec<(String, Value)>,
}

impl Planned {
    /// Every stage, per cluster, in stage order.
    pub fn full(&self) -> Plan {
        let mut full = Plan::default();
        for plan in self.stages.values() {
            for cp in plan.clusters.iter().cloned() {
                full.merge(cp);
            }
        }
        full
    }
}

/// Plans every stage of every selected cluster; any refusal (validation, conflict, a kind not
/// served) ends the run here, before the first write in any cluster.
pub async fn plan_all<C: Cluster>(
    opts: &JoinOptions,
    scope: &Scope<'_>,
    fleet: &Fleet<C>,
    servers: &BTreeMap<String, String>,
) -> Result<Planned, Error> {
    let mut stages: BTreeMap<Stage, Plan> = BTreeMap::new();
    let mut installs = Vec::new();
    let mut created: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &scope.selected {
        let pilot = pilot_for(&opts.mesh, c, fleet).await?;
        let pilot = pilot
            .as_deref()
            .or((c.role == Role::Remote).then_some(PENDING_PILOT));
        let (by_stage, install) = plan_cluster(opts, c, fleet, pilot, None, false).await?;
        for (stage, cp) in by_stage {
            if stage == Stage::ControlPlane {
                created.insert(c.name.clone(), created_namespaces(&cp));
            }
            stages.entry(stage).or_default().merge(cp);
        }
        installs.extend(install.map(|i| (c.name.clone(), i)));
    }
    let secrets = plan_remote_secrets(scope, fleet, servers, &created, None).await?;
    stages.insert(Stage::RemoteSecrets, secrets);
    Ok(Planned { stages, installs })
}

/// One cluster's plan per stage (only `only` when given), and its rendered install.
/// `before_install`: the namespace keeps the install record it has (the new one is written
/// once the installer succeeded).
pub async fn plan_cluster<C: Cluster>(
    opts: &JoinOptions,
    c: &ClusterSpec,
    fleet: &Fleet<C>,
    pilot: Option<&str>,
    only: Option<Stage>,
    before_install: bool,
) -> Result<(Vec<(Stage, ClusterPlan)>, Option<Value>), Error> {
    let k = fleet.kube(&c.name)?;
    let istio_api = match opts.installer {
        Installer::Sail => istio_api_version(k).await?,
        _ => "sailoperator.io/v1".to_string(),
    };
    let install = super::install_step::input(opts.installer, &opts.mesh, c, pilot);
    let (reader, reader_ttl) = super::tokens::reader_mode(opts, c, k).await?;
    let record = match (&opts.tool, &install) {
        (Some(_), Some(_)) if before_install => super::install_step::install_record(k).await?,
        (Some(t), Some(i)) => Some(super::install::record(t, i)),
        _ => None,
    };
    let render = Render {
        install_record: record.as_deref(),
        istio_api: &istio_api,
        pilot,
        installer: opts.installer,
        create_reader: opts.create_reader,
        reader_token: &reader.token,
        reader_ttl,
    };
    let wanted: Vec<(Stage, Value)> = stage_objects(&opts.mesh, c, render)
        .into_iter()
        .filter(|(s, _)| only.is_none_or(|o| o == *s))
        .collect();
    let (desired, foreign) = split_foreign_reader_objects(k, wanted).await?;
    let with_secrecy = desired
        .iter()
        .map(|(_, m)| (m.clone(), is_secret(m)))
        .collect();
    let later = opts.tool.as_ref().map(|t| {
        format!(
            "{} (control plane step)",
            super::install::program(t.installer)
        )
    });
    let steps = plan_objects_later(k, with_secrecy, later.as_deref()).await?;
    let universe = join_universe(opts.installer, &istio_api, is_read(&opts.mesh, &c.name));
    let mut out = Vec::new();
    for stage in [Stage::ControlPlane, Stage::Gateways, Stage::ReaderToken] {
        if only.is_some_and(|o| o != stage) {
            continue;
        }
        let mine: Vec<Value> = desired
            .iter()
            .filter(|(s, _)| *s == stage)
            .map(|(_, m)| m.clone())
            .collect();
        let mut stage_steps: Vec<Step> = steps
            .iter()
            .zip(&desired)
            .filter(|(_, (s, _))| *s == stage)
            .map(|(st, _)| st.clone())
            .collect();
        let candidates: Vec<Value> = universe
            .iter()
            .filter(|(s, _)| *s == stage)
            .map(|(_, v)| v.clone())
            .collect();
        let all_mine: Vec<Value> = mine
            .iter()
            .chain(foreign.iter().filter(|(s, _)| *s == stage).map(|(_, m)| m))
            .cloned()
            .collect();
        stage_steps.extend(super::removals::removals(k, unwanted(&candidates, &all_mine)).await?);
        stage_steps.extend(
            foreign
                .iter()
                .filter(|(s, _)| *s == stage)
                .map(|(_, m)| left_alone(m)),
        );
        out.push((
            stage,
            ClusterPlan {
                cluster: c.name.clone(),
                context: k.context().to_string(),
                steps: stage_steps,
            },
        ));
    }
    Ok((out, install))
}

/// Splits off the reader account and RBAC that exist and that another tool made (the
/// control plane's charts): `--create-reader` creates them only where they are missing and
/// never takes them over.
async fn split_foreign_reader_objects(
    k: &impl Cluster,
    wanted: Vec<(Stage, Value)>,
) -> Result<(Vec<(Stage, Value)>, Vec<(Stage, Value)>), Error> {
    let mut ours = Vec::new();
    let mut foreign = Vec::new();
    for (stage, m) in wanted {
        if stage != Stage::ReaderToken || is_secret(&m) {
            ours.push((stage, m));
            continue;
        }
        let (api_version, kind, ns, name) = identity(&m);
        match k.get(&api_version, &kind, ns.as_deref(), &name).await? {
            Some(live) if !written_by_us(&live) => foreign.push((stage, m)),
            _ => ours.push((stage, m)),
        }
    }
    Ok((ours, foreign))
}

fn left_alone(manifest: &Value) -> Step {
    Step {
        op: Op::Unchanged,
        manifest: manifest.clone(),
        note: Some("exists, made by another installer: left as it is".into()),
        secret: false,
        changes: Vec::new(),
    }
}

/// A remote's pilot address (its primary's east-west gateway) when known; `None` for a
/// primary and for a remote whose primary's gateway has no address yet.
pub async fn pilot_for<C: Cluster>(
    mesh: &MeshSpec,
    c: &ClusterSpec,
    fleet: &Fleet<C>,
) -> Result<Option<String>, Error> {
    let (Role::Remote, Some(p)) = (c.role, &c.primary) else {
        return Ok(None);
    };
    let pc = mesh
        .cluster(p)
        .ok_or_else(|| Error::input(format!("primary '{p}' missing"), "fix the mesh file"))?;
    remote_pilot_address(pc, fleet.kubes.get(p)).await
}

/// A remote secret per pair, and the deletion of those we wrote for a pair that is gone in
/// each selected cluster. `tokens` are the waited-for tokens; without them, the tokens that
/// exist now are used, and a placeholder where none exists. `created` are the namespaces
/// earlier stages create, per cluster.
pub async fn plan_remote_secrets<C: Cluster>(
    scope: &Scope<'_>,
    fleet: &Fleet<C>,
    servers: &BTreeMap<String, String>,
    created: &BTreeMap<String, Vec<String>>,
    tokens: Option<&BTreeMap<String, (String, String)>>,
) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    let none = Vec::new();
    for (r, s) in &scope.pairs {
        let token = match tokens {
            Some(t) => t.get(s).cloned(),
            None => {
                let readers = scope.readers_in(fleet, s)?;
                credential(fleet.kube(s)?, s, &readers, false).await?
            }
        };
        let kube = fleet.kube(r)?;
        let pending = created.get(r).unwrap_or(&none);
        let step = remote_secret_step(kube, s, &servers[s], token, pending).await?;
        plan.merge(ClusterPlan {
            cluster: r.clone(),
            context: kube.context().to_string(),
            steps: vec![step],
        });
    }
    for c in &scope.selected {
        let kube = fleet.kube(&c.name)?;
        let steps = super::removals::stale_remote_secrets(kube, scope.mesh, &c.name).await?;
        plan.merge(ClusterPlan {
            cluster: c.name.clone(),
            context: kube.context().to_string(),
            steps,
        });
    }
    Ok(plan)
}

async fn remote_secret_step(
    reader: &impl Cluster,
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
    let mut kubeconfig = remote_secret::kubeconfig(source, server, &ca, &token);
    let existing = existing_kubeconfig(reader, source).await?;
    // One pass through the gate: kept when it reads the same way, named when refused.
    let admitted = existing.as_deref().map(crate::kubeconfig_gate::admit);
    let kept = match (&existing, &admitted) {
        (Some(text), Some(Ok(a))) if remote_secret::same_access(a, server, &ca, &token) => {
            kubeconfig.clone_from(text);
            true
        }
        _ => false,
    };
    let secret = as_data(remote_secret::remote_secret(source, &kubeconfig));
    let mut step = plan_object(reader, secret, true, pending).await?;
    if kept {
        step.note = Some(
            "kept: the existing kubeconfig reads the same server with the same CA and token".into(),
        );
    } else if let Some(Err(refusal)) = admitted {
        // Never used, only replaced: the plan says what was wrong with it.
        step.note = Some(format!("replaces a kubeconfig the gate refused: {refusal}"));
    }
    Ok(step)
}

/// The kubeconfig under key `source` of the remote secret for `source` in `reader`, if any.
async fn existing_kubeconfig(
    reader: &impl Cluster,
    source: &str,
) -> Result<Option<String>, ClusterError> {
    let name = format!("{REMOTE_SECRET_PREFIX}{source}");
    let secret = reader
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), &name)
        .await?;
    Ok(secret.and_then(|s| crate::kubeconfig_gate::secret_text(&s, source)?.ok()))
}

/// The namespaces a cluster plan creates.
pub fn created_namespaces(cp: &ClusterPlan) -> Vec<String> {
    cp.steps
        .iter()
        .filter(|s| s.op == Op::Create && s.manifest["kind"] == "Namespace")
        .map(|s| identity(&s.manifest).3)
        .collect()
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

#[cfg(test)]
#[path = "phases_tests.rs"]
mod tests;
