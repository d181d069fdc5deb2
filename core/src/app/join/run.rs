//! Carrying a join out in the seeds' order, per group of clusters (primaries, then remotes):
//! control plane → wait Ready → gateways and exposure (→ the gateway's address, when a remote
//! needs it) → reader token once its ServiceAccount exists → remote secrets; for remotes the
//! reader token and remote secrets come before the wait (seed 001: a remote is Ready only once
//! its primary's istiod reads it; installed by istioctl or Helm, a remote's gateways wait for
//! the CA bundle that istiod patches into its injection webhook). Each stage is
//! planned by the servers again right before it is applied (earlier stages changed what
//! exists) and applied exactly; `--no-wait` applies the control planes and says what it left.

use super::desired::Stage;
use super::phases::{
    PENDING_PILOT, created_namespaces, pilot_for, plan_cluster, plan_remote_secrets,
};
use super::ready::{
    wait_control_planes, wait_gateway_address, wait_injector_ca_bundles, wait_istiod_deployments,
    wait_reader_accounts,
};
use super::scope::Scope;
use super::tokens::credential;
use super::{Installer, JoinOptions};
use crate::app::fleet::Fleet;
use crate::cluster::{ClusterError, Kube};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::mesh::{ClusterSpec, Role};
use crate::plan::{ApplyMode, Plan, apply_plan};
use crate::render::Printer;
use crate::topology::is_read;
use std::collections::BTreeMap;

/// What a run did, and how it ended.
pub struct Outcome {
    /// The steps carried out, per cluster.
    pub done: Plan,
    /// Success, or Problems when something did not become Ready in time.
    pub status: ExitStatus,
}

/// Applies every stage in order; stops at the first wait that times out, naming the cluster,
/// what it waited for and the stages it left.
pub async fn run(
    opts: &JoinOptions,
    scope: &Scope<'_>,
    fleet: &Fleet,
    servers: &BTreeMap<String, String>,
    printer: &Printer,
) -> Result<Outcome, Error> {
    let mut done = Plan::default();
    let groups: [Vec<&ClusterSpec>; 2] = [Role::Primary, Role::Remote].map(|role| {
        scope
            .selected
            .iter()
            .copied()
            .filter(|c| c.role == role)
            .collect()
    });
    let mut created: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut secrets_done = false;
    for group in groups.iter().filter(|g| !g.is_empty()) {
        let names =
            apply_control_planes(opts, fleet, group, &mut done, &mut created, printer).await?;
        if opts.no_wait {
            continue;
        }
        let mut later = "gateways and exposure, reader tokens, remote secrets";
        if group[0].role == Role::Remote {
            // A remote serves only once its primary's istiod reads it (it patches the remote's
            // webhooks, which the Sail operator then probes; with istioctl or Helm the join
            // waits for the patched CA bundle): its reader token and the remote secrets come
            // before the wait, as in the seeds.
            if let Some(status) = reader_tokens(opts, scope, fleet, &mut done, printer).await? {
                return Ok(Outcome { done, status });
            }
            remote_secrets(scope, fleet, servers, &created, &mut done, printer).await?;
            secrets_done = true;
            later = "gateways and exposure";
        }
        if let Some(status) = wait_ready(opts, fleet, &names, &mut done, printer, later).await? {
            return Ok(Outcome { done, status });
        }
        let deadline = std::time::Instant::now() + opts.wait_timeout;
        while let Err(e) = apply_stage(opts, fleet, group, Stage::Gateways, &mut done).await {
            if !super::webhooks::worth_waiting(&e, deadline) {
                return Err(e);
            }
            tokio::time::sleep(super::webhooks::EVERY).await;
        }
        let needs_address: Vec<String> = group
            .iter()
            .filter(|c| c.east_west_address.is_none() && !opts.mesh.remotes_of(&c.name).is_empty())
            .map(|c| c.name.clone())
            .collect();
        let late = wait_gateway_address(fleet, &needs_address, opts.wait_timeout).await?;
        if !late.is_empty() {
            return Ok(left(
                &late,
                "their remotes' control planes, reader tokens and remote secrets",
                done,
                printer,
            ));
        }
    }
    if opts.no_wait {
        printer.warn("--no-wait: applied the control planes only; left for a run without --no-wait (they need the control plane Ready): gateways and exposure, reader tokens, remote secrets");
        return Ok(Outcome {
            done,
            status: ExitStatus::Success,
        });
    }
    if !secrets_done {
        if let Some(status) = reader_tokens(opts, scope, fleet, &mut done, printer).await? {
            return Ok(Outcome { done, status });
        }
        remote_secrets(scope, fleet, servers, &created, &mut done, printer).await?;
    }
    Ok(Outcome {
        done,
        status: ExitStatus::Success,
    })
}

/// Applies the control plane stage of a group (a remote whose pilot address is unknown is
/// refused, named); returns the clusters to wait for.
async fn apply_control_planes(
    opts: &JoinOptions,
    fleet: &Fleet,
    group: &[&ClusterSpec],
    done: &mut Plan,
    created: &mut BTreeMap<String, Vec<String>>,
    printer: &Printer,
) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    for c in group {
        let pilot = pilot_for(&opts.mesh, c, fleet).await?;
        if c.role == Role::Remote && pilot.is_none() {
            let p = c.primary.as_deref().unwrap_or("?");
            return Err(Error::input(
                format!(
                    "remote '{}' needs the address of its primary '{p}''s east-west gateway, and none is known",
                    c.name
                ),
                format!(
                    "set eastWestAddress for '{p}' in the mesh file, or run without --no-wait so the gateway is created and its load-balancer address read"
                ),
            ));
        }
        let pilot = pilot.as_deref();
        let install = super::install_step::needed(opts, c, fleet, pilot).await?;
        // Before an install the namespace keeps its record; the new one follows the install.
        let rendered = control_plane(opts, c, fleet, pilot, install, done, Some(created)).await?;
        if install {
            super::install_step::run(opts, c, fleet, rendered.as_ref(), printer).await?;
            control_plane(opts, c, fleet, pilot, false, done, None).await?;
        }
        names.push(c.name.clone());
    }
    Ok(names)
}

/// Plans and applies one cluster's control-plane stage (`created` collects the namespaces it
/// created); returns the installer's rendered input.
async fn control_plane(
    opts: &JoinOptions,
    c: &ClusterSpec,
    fleet: &Fleet,
    pilot: Option<&str>,
    before_install: bool,
    done: &mut Plan,
    created: Option<&mut BTreeMap<String, Vec<String>>>,
) -> Result<Option<serde_json::Value>, Error> {
    let (stages, rendered) = plan_cluster(
        opts,
        c,
        fleet,
        pilot,
        Some(Stage::ControlPlane),
        before_install,
    )
    .await?;
    let mut created = created;
    for (_, cp) in stages {
        if let Some(created) = created.as_deref_mut() {
            created.insert(c.name.clone(), created_namespaces(&cp));
        }
        apply_one(fleet, &cp, Stage::ControlPlane).await?;
        done.merge(cp);
    }
    Ok(rendered)
}

/// Waits for the group's control planes to be Ready (Sail only). `Some(status)` ends the
/// run, naming what was left (`later`).
async fn wait_ready(
    opts: &JoinOptions,
    fleet: &Fleet,
    names: &[String],
    done: &mut Plan,
    printer: &Printer,
    later: &str,
) -> Result<Option<ExitStatus>, Error> {
    let late = match (&opts.installer, &opts.tool) {
        (Installer::Sail, _) => {
            wait_control_planes(
                fleet,
                names,
                opts.mesh.istio.cni,
                opts.wait_timeout,
                printer,
            )
            .await?
        }
        (_, Some(_)) => {
            let (primaries, remotes): (Vec<String>, Vec<String>) =
                names.iter().cloned().partition(|n| {
                    opts.mesh
                        .cluster(n)
                        .is_some_and(|c| c.role == Role::Primary)
                });
            let mut late =
                wait_istiod_deployments(fleet, &primaries, opts.wait_timeout, printer).await?;
            late.extend(
                wait_injector_ca_bundles(fleet, &remotes, opts.wait_timeout, printer).await?,
            );
            late
        }
        _ => return Ok(None),
    };
    if late.is_empty() {
        return Ok(None);
    }
    let out = left(&late, later, std::mem::take(done), printer);
    *done = out.done;
    Ok(Some(out.status))
}

pub(super) async fn apply_stage(
    opts: &JoinOptions,
    fleet: &Fleet,
    group: &[&ClusterSpec],
    stage: Stage,
    done: &mut Plan,
) -> Result<(), Error> {
    for c in group {
        let pilot = pilot_for(&opts.mesh, c, fleet).await?;
        let pilot = pilot
            .as_deref()
            .or((c.role == Role::Remote).then_some(PENDING_PILOT));
        let (stages, _) = plan_cluster(opts, c, fleet, pilot, Some(stage), false).await?;
        for (_, cp) in stages {
            apply_one(fleet, &cp, stage).await?;
            done.merge(cp);
        }
    }
    Ok(())
}

/// The reader token stage in every selected cluster that is read, once the reader
/// ServiceAccount exists (the charts create it; `--create-reader` makes us create it).
async fn reader_tokens(
    opts: &JoinOptions,
    scope: &Scope<'_>,
    fleet: &Fleet,
    done: &mut Plan,
    printer: &Printer,
) -> Result<Option<ExitStatus>, Error> {
    let read: Vec<&ClusterSpec> = scope
        .selected
        .iter()
        .copied()
        .filter(|c| is_read(&opts.mesh, &c.name))
        .collect();
    if !opts.create_reader {
        let names: Vec<String> = read.iter().map(|c| c.name.clone()).collect();
        let late = wait_reader_accounts(fleet, &names, opts.wait_timeout).await?;
        if !late.is_empty() {
            printer.warn("the reader ServiceAccount comes from the control plane's charts; on a cluster where no installer creates it, --create-reader makes mesh-join create it with its RBAC");
            let out = left(
                &late,
                "reader tokens, remote secrets",
                std::mem::take(done),
                printer,
            );
            *done = out.done;
            return Ok(Some(out.status));
        }
    }
    // Every selected cluster: one that is no longer read has its token (and what we made for
    // it) removed in this stage.
    apply_stage(opts, fleet, &scope.selected, Stage::ReaderToken, done).await?;
    Ok(None)
}

async fn remote_secrets(
    scope: &Scope<'_>,
    fleet: &Fleet,
    servers: &BTreeMap<String, String>,
    created: &BTreeMap<String, Vec<String>>,
    done: &mut Plan,
    printer: &Printer,
) -> Result<(), Error> {
    let mut tokens = BTreeMap::new();
    for (_, s) in &scope.pairs {
        if !tokens.contains_key(s) {
            printer.progress(&format!("waiting for the reader token in {s}"));
            let readers = scope.readers_in(fleet, s)?;
            let t = credential(fleet.kube(s)?, s, &readers, true).await?;
            tokens.insert(s.clone(), t.unwrap_or_default());
        }
    }
    let plan = plan_remote_secrets(scope, fleet, servers, created, Some(&tokens)).await?;
    for cp in &plan.clusters {
        apply_one(fleet, cp, Stage::RemoteSecrets).await?;
    }
    for cp in plan.clusters {
        done.merge(cp);
    }
    Ok(())
}

async fn apply_one(
    fleet: &Fleet,
    cp: &crate::plan::ClusterPlan,
    stage: Stage,
) -> Result<(), Error> {
    let kube: Kube = fleet.kube(&cp.cluster)?.clone();
    let plan = Plan {
        clusters: vec![cp.clone()],
    };
    let results = apply_plan(std::slice::from_ref(&kube), &plan, ApplyMode::Apply).await;
    report_failures(&plan, results, stage.describe())
}

/// Ends the run with Problems: who did not get where, why, and what was left.
fn left(late: &[(String, String)], stages: &str, done: Plan, printer: &Printer) -> Outcome {
    for (name, reason) in late {
        printer.warn(&format!("{name}: not ready in time: {reason}"));
    }
    printer.warn(&format!(
        "left for the next run (the same command resumes): {stages}"
    ));
    Outcome {
        done,
        status: ExitStatus::Problems,
    }
}

/// The first failure of a stage, naming the cluster and the clusters that finished it.
pub fn report_failures(
    plan: &Plan,
    results: Vec<Result<usize, ClusterError>>,
    stage: &str,
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
        "no other cluster finished this step".to_string()
    } else {
        format!("finished in: {} (the rest is unchanged)", done.join(", "))
    };
    Err(Error::Stage {
        stage: stage.to_string(),
        cluster,
        source: Box::new(e),
        finished,
    })
}
