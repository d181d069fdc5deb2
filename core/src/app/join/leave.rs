//! `mesh-join leave`: undoes what join made for one cluster, in it and in its peers.
//!
//! What changes is decided by a pure function ([`leave_changes`]): the mesh's desired objects
//! with and without the leaving cluster. The plan is then made by the API servers like any
//! other (so removed fields show), and only objects our field manager wrote are deleted:
//! what the Istio charts, the operator or a person made stays, and the plan says so.

use super::Installer;
use super::desired::{Render, base_objects, identity_only};
use super::leave_install;
use super::removals::{Taken, removal_of};
use super::run::report_failures;
use crate::app::fleet::{Fleet, istio_api_version, remote_pilot_address};
use crate::app::trust::Access;
use crate::cli::DryRun;
use crate::cluster::{Cluster, ClusterError, Kube, identity};
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::labels::{ISTIO_NAMESPACE, REMOTE_SECRET_PREFIX};
use crate::mesh::{ClusterSpec, MeshSpec};
use crate::plan::server::plan_objects;
use crate::plan::{ApplyMode, ClusterPlan, Plan, Step, apply_plan, plan_table};
use crate::render::Printer;
use crate::topology::reading_pairs;
use serde_json::Value;
use std::collections::BTreeMap;

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
    /// Take fields other field managers own (`--force-conflicts`).
    pub force_conflicts: bool,
}

/// What leaving changes in one cluster: objects to re-apply (changed) and to delete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaveChanges {
    /// Desired objects that differ once the cluster is gone.
    pub updates: Vec<Value>,
    /// Identities of objects to remove (namespaces last).
    pub deletes: Vec<Value>,
}

/// The changes per cluster when `me` leaves `mesh`. `api` is each cluster's Sail API
/// version and `pilots` each remote's pilot address, as read from the clusters.
pub fn leave_changes(
    mesh: &MeshSpec,
    me: &str,
    purge: bool,
    api: &BTreeMap<String, String>,
    pilots: &BTreeMap<String, String>,
) -> BTreeMap<String, LeaveChanges> {
    let mut rest = mesh.clone();
    rest.clusters
        .retain(|c| c.name != me && c.primary.as_deref() != Some(me));
    let mut out = BTreeMap::new();
    let token = crate::manifests::remote_secret::token_secret_name();
    for c in &mesh.clusters {
        let a = api
            .get(&c.name)
            .map(String::as_str)
            .unwrap_or("sailoperator.io/v1");
        let pilot = pilots.get(&c.name).map(String::as_str);
        let render = Render {
            istio_api: a,
            pilot,
            installer: Installer::Sail,
            create_reader: true,
            reader_token: &token,
            reader_ttl: None,
            install_record: None,
        };
        let before = base_objects(mesh, c, render);
        let after = match rest.cluster(&c.name) {
            Some(rc) => base_objects(&rest, rc, render),
            None => before
                .iter()
                .filter(|o| !purge && is_control_plane(o))
                .cloned()
                .collect(),
        };
        let key = |v: &Value| identity(v);
        let mut deletes: Vec<Value> = before
            .iter()
            .filter(|o| !after.iter().any(|a| key(a) == key(o)))
            .map(identity_only)
            .collect();
        for (r, s) in reading_pairs(mesh) {
            if (r == c.name && s == me) || (c.name == me && r == me) {
                deletes.push(identity_only(&serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("{REMOTE_SECRET_PREFIX}{s}"), "namespace": ISTIO_NAMESPACE}})));
            }
        }
        deletes.sort_by_key(|o| o["kind"] == "Namespace");
        let updates = after
            .iter()
            .filter(|a| c.name != me && before.iter().any(|b| key(b) == key(a) && b != *a))
            .cloned()
            .collect();
        out.insert(c.name.clone(), LeaveChanges { updates, deletes });
    }
    out
}

fn is_control_plane(o: &Value) -> bool {
    matches!(o["kind"].as_str(), Some("Namespace" | "Istio" | "IstioCNI"))
}

/// Points the deletion of the join's reader token Secret at the token Secrets the
/// credential record names (a rotated cluster's current one, and a previous one not yet
/// revoked): a leaving cluster keeps no live reader token.
pub fn retarget_token_deletes(deletes: &mut Vec<Value>, tokens: &[String]) {
    let join_token = crate::manifests::remote_secret::token_secret_name();
    let Some(i) = deletes
        .iter()
        .position(|d| d["kind"] == "Secret" && d["metadata"]["name"] == join_token.as_str())
    else {
        return;
    };
    let template = deletes.remove(i);
    for (k, t) in tokens.iter().enumerate() {
        let mut d = template.clone();
        d["metadata"]["name"] = Value::String(t.clone());
        deletes.insert(i + k, d);
    }
}

/// `mesh-join leave`.
pub async fn leave(
    opts: &LeaveOptions,
    access: &Access,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let mesh = &opts.mesh;
    let me = mesh.cluster(&opts.cluster).ok_or_else(|| {
        Error::input(
            format!(
                "--cluster: cluster '{}' is not in the mesh file",
                opts.cluster
            ),
            "name a cluster of the mesh with --cluster",
        )
    })?;
    let names: Vec<String> = mesh.clusters.iter().map(|c| c.name.clone()).collect();
    let fleet = Fleet::connect(mesh, access, &names, opts.force_conflicts).await?;
    let LeavePlan {
        plan,
        kept,
        uninstall,
    } = plan_for(opts, me, &fleet).await?;
    if let Some(u) = &uninstall {
        leave_install::describe_plan(me, u, printer);
    }
    let kubes: Vec<Kube> = plan
        .clusters
        .iter()
        .map(|cp| fleet.kube(&cp.cluster).cloned())
        .collect::<Result<_, _>>()?;
    printer.data(&plan_table(&plan, printer.out_style()))?;
    for k in &kept {
        // The installer's uninstall removes what it made in the leaving cluster.
        if uninstall.is_some() && k.starts_with(&format!("{}: ", me.name)) {
            continue;
        }
        printer.warn(&format!(
            "kept {k}: another tool wrote it (remove it there if it should go)"
        ));
    }
    let Some(mode) = ApplyMode::from_dry_run(opts.dry_run) else {
        printer.progress(&format!(
            "dry run: {} change(s) planned, nothing written",
            plan.writes()
        ));
        return Ok(ExitStatus::Success);
    };
    if let (Some(u), ApplyMode::Apply) = (&uninstall, mode) {
        leave_install::run(mesh, me, &fleet, access.kubeconfig.clone(), u, printer).await?;
    }
    // A server dry run sends every update and delete with dryRun=All, so admission and RBAC
    // refusals show here as they would on the real run.
    let results = apply_plan(&kubes, &plan, mode).await;
    report_failures(&plan, results, "leave")?;
    if mode == ApplyMode::ServerDryRun {
        printer.progress(&format!(
            "server dry run: {} change(s) accepted by the API servers, nothing written",
            plan.writes()
        ));
        return Ok(ExitStatus::Success);
    }
    let tail = if opts.purge {
        " (control plane purged)"
    } else {
        "; its control plane stays (--purge removes it)"
    };
    printer.progress(&format!(
        "{} left mesh {}: {} change(s){tail}",
        me.name,
        mesh.mesh_id,
        plan.writes()
    ));
    Ok(ExitStatus::Success)
}

/// What a leave does, decided before anything is written.
pub(super) struct LeavePlan {
    /// The server-made plan, the purge's CRD deletes included.
    pub plan: Plan,
    /// Objects another tool wrote that stay (`cluster: Kind namespace/name`).
    pub kept: Vec<String>,
    /// What `--purge` uninstalls in the leaving cluster.
    pub uninstall: Option<leave_install::Uninstall>,
}

/// Plans `me` leaving: the changes in every cluster of the mesh (reader tokens the
/// credential record names included), made by the servers; with `--purge`, the installer's
/// CRDs.
pub(super) async fn plan_for<C: Cluster>(
    opts: &LeaveOptions,
    me: &ClusterSpec,
    fleet: &Fleet<C>,
) -> Result<LeavePlan, Error> {
    let mesh = &opts.mesh;
    let (api, pilots) = read_settings(mesh, fleet).await?;
    let mut changes = leave_changes(mesh, &me.name, opts.purge, &api, &pilots);
    let record = crate::app::tokens::read_record(fleet.kube(&me.name)?, &me.name)
        .await
        .ok();
    if let (Some(r), Some(ch)) = (record, changes.get_mut(&me.name)) {
        let tokens: Vec<String> = std::iter::once(r.token).chain(r.previous).collect();
        retarget_token_deletes(&mut ch.deletes, &tokens);
    }
    let (mut plan, kept) = plan_leave(fleet, changes).await?;
    let uninstall = match opts.purge {
        true => leave_install::plan(mesh, me, fleet.kube(&me.name)?).await?,
        false => None,
    };
    if let Some(u) = &uninstall {
        add_steps(&mut plan, (&me.name, fleet.kube(&me.name)?), u.crds.clone());
    }
    Ok(LeavePlan {
        plan,
        kept,
        uninstall,
    })
}

/// Appends `steps` to `k`'s cluster plan (made when the plan has none for it).
fn add_steps(plan: &mut Plan, (name, k): (&str, &impl Cluster), steps: Vec<Step>) {
    if steps.is_empty() {
        return;
    }
    match plan.clusters.iter_mut().find(|cp| cp.cluster == name) {
        Some(cp) => cp.steps.extend(steps),
        None => {
            plan.clusters.push(ClusterPlan {
                cluster: name.to_string(),
                context: k.context().to_string(),
                steps,
            });
        }
    }
}

/// Each cluster's Sail API version and each remote's pilot address, as the clusters say.
async fn read_settings<C: Cluster>(
    mesh: &MeshSpec,
    fleet: &Fleet<C>,
) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>), Error> {
    let mut api = BTreeMap::new();
    let mut pilots = BTreeMap::new();
    for c in &mesh.clusters {
        let k = fleet.kube(&c.name)?;
        let v = istio_api_version(k)
            .await
            .unwrap_or_else(|_| "sailoperator.io/v1".into());
        api.insert(c.name.clone(), v);
        let primary: Option<&ClusterSpec> = c.primary.as_deref().and_then(|p| mesh.cluster(p));
        if let Some(pc) = primary
            && let Some(a) = remote_pilot_address(pc, fleet.kubes.get(&pc.name)).await?
        {
            pilots.insert(c.name.clone(), a);
        }
    }
    Ok((api, pilots))
}

/// The server-made plan of the changes; deletes only for objects our field manager wrote
/// (the others are returned as kept, for a warning).
async fn plan_leave<C: Cluster>(
    fleet: &Fleet<C>,
    changes: BTreeMap<String, LeaveChanges>,
) -> Result<(Plan, Vec<String>), Error> {
    let mut plan = Plan::default();
    let mut kept = Vec::new();
    for (name, ch) in changes {
        let k = fleet.kube(&name)?;
        let mut steps: Vec<Step> = Vec::new();
        for m in ch.updates {
            // A Sail kind on a cluster the operator does not serve (an istioctl or Helm
            // install): nothing of ours to update there.
            match plan_objects(k, vec![(m, false)]).await {
                Ok(s) => steps.extend(s.into_iter().filter(|s| s.op.writes())),
                Err(ClusterError::NotServed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for o in ch.deletes {
            let what = format!("{name}: {}", crate::cluster::describe(&o));
            match removal_of(k, o, None).await? {
                Taken::Step(s) => steps.push(s),
                Taken::NotOurs => kept.push(what),
                Taken::Absent => {}
            }
        }
        if !steps.is_empty() {
            plan.clusters.push(ClusterPlan {
                cluster: name.clone(),
                context: k.context().to_string(),
                steps,
            });
        }
    }
    Ok((plan, kept))
}

#[cfg(test)]
#[path = "leave_tests.rs"]
mod fake_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_remote_leaving_takes_the_exposure_and_the_secret_from_its_primary() {
        let mesh = MeshSpec::parse(
            "meshID: m\nclusters:\n  - {name: east, context: e, network: n1, role: primary}\n  - {name: west, context: w, network: n1, role: remote, primary: east, eastWestAddress: 1.2.3.4}\n",
            Path::new("t"),
        )
        .unwrap();
        let pilots = BTreeMap::from([("west".to_string(), "1.2.3.4".to_string())]);
        let ch = leave_changes(&mesh, "west", false, &BTreeMap::new(), &pilots);
        let east: Vec<String> = ch["east"]
            .deletes
            .iter()
            .map(crate::cluster::describe)
            .collect();
        assert!(
            east.contains(&"Secret istio-system/istio-remote-secret-west".to_string()),
            "{east:?}"
        );
        assert!(
            east.contains(&"Gateway istio-system/istiod-gateway".to_string()),
            "{east:?}"
        );
        // east's Istio changes (no external istiod any more): an update, with the field gone.
        let istio = ch["east"]
            .updates
            .iter()
            .find(|u| u["kind"] == "Istio")
            .unwrap();
        assert!(
            istio["spec"]["values"]["global"]
                .get("externalIstiod")
                .is_none(),
            "{istio}"
        );
        // west keeps its control plane unless purged, and loses it with --purge.
        assert!(!ch["west"].deletes.iter().any(|d| d["kind"] == "Istio"));
        let purged = leave_changes(&mesh, "west", true, &BTreeMap::new(), &pilots);
        let mut rotated = ch["west"].deletes.clone();
        let token_of = crate::manifests::remote_secret::token_secret_name_of;
        assert!(
            rotated
                .iter()
                .any(|d| d["metadata"]["name"] == token_of(0).as_str())
        );
        retarget_token_deletes(&mut rotated, &[token_of(2), token_of(1)]);
        let names: Vec<&str> = rotated
            .iter()
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        assert!(
            names.contains(&token_of(2).as_str()) && names.contains(&token_of(1).as_str()),
            "{names:?}"
        );
        assert!(!names.contains(&token_of(0).as_str()), "{names:?}");
        assert!(purged["west"].deletes.iter().any(|d| d["kind"] == "Istio"));
        assert_eq!(purged["west"].deletes.last().unwrap()["kind"], "Namespace");
    }
}
