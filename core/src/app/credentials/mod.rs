//! `kubectl mesh-join rotate-credentials`: a new reader token per cluster that others read,
//! every remote secret that embeds the old one rewritten, and the old token revoked only
//! after every istiod that reads the cluster reports it synced again.
//!
//! The decisions are pure ([`plan`]); the record of each cluster's credential is an
//! annotation on its reader ServiceAccount ([`crate::app::tokens::record`], which says why
//! there); what is read first is [`observe`]; one cluster's rotation is [`run`]; watching
//! istiod is [`sync`].
//! Every cluster is observed and planned before the first write: a refusal (unknown cluster,
//! a reader without its remote secret, a cluster not joined) writes nothing.
//!
//! Past connecting, the command ([`rotate_fleet`]) reaches the clusters only through
//! [`crate::cluster::Cluster`], and istiod's confirmation through the seam
//! [`sync::SyncWatch`] (istiod answers over a port-forward no in-memory cluster models), so
//! its unit tests run it end to end against fake clusters and a scripted istiod.

pub mod observe;
pub mod plan;
pub mod restart;
mod run;
pub mod sync;

use crate::app::fleet::{Fleet, server_of};
use crate::app::tokens::Embedding;
use crate::app::trust::Access;
use crate::cluster::Cluster;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::mesh::MeshSpec;
use crate::render::Printer;
use std::collections::BTreeMap;
use std::time::Duration;

/// `mesh-join rotate-credentials` options.
#[derive(Debug, Clone)]
pub struct RotateCredentialsOptions {
    /// The mesh.
    pub mesh: MeshSpec,
    /// The mesh file, as named in errors.
    pub mesh_file: String,
    /// Only these clusters' credentials (default: every cluster that is read).
    pub only: Vec<String>,
    /// Show the steps, write nothing.
    pub dry_run: bool,
    /// Start another rotation where the last one finished.
    pub again: bool,
    /// How long to wait for each istiod.
    pub timeout: Duration,
    /// Direct istiod monitoring addresses by cluster (a local istiod).
    pub istiod_addresses: BTreeMap<String, String>,
    /// Refuse instead of restarting an istiod older than 1.30.4 (1.31.0 on 1.31) after the swap.
    pub no_istiod_restart: bool,
    /// `--token-ttl` in seconds: short-lived bound tokens of this lifetime (0: a long-lived
    /// token Secret; `None`: keep the mode the record has).
    pub token_ttl: Option<u64>,
}

fn now() -> (String, i64) {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    (t.format(&Rfc3339).unwrap_or_default(), t.unix_timestamp())
}

/// Rotates, resumes or reports each selected cluster's reader credential.
pub async fn rotate_credentials(
    opts: &RotateCredentialsOptions,
    access: &Access,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let mesh = &opts.mesh;
    let sources = plan::sources(mesh, &opts.mesh_file, &opts.only)?;
    let mut names: Vec<String> = sources.clone();
    for s in &sources {
        names.extend(plan::readers_of(mesh, s));
    }
    names.sort();
    names.dedup();
    let fleet = Fleet::connect(mesh, access, &names, false).await?;
    let watch = sync::Clusterz {
        addresses: &opts.istiod_addresses,
    };
    rotate_fleet(opts, &fleet, &watch, now(), printer).await
}

/// [`rotate_credentials`] over connected clusters: `now` is RFC 3339 and Unix seconds, and
/// `watch` says when each reading istiod took the rewritten secret. Every source is observed
/// and planned (and every refusal raised) before the first write.
pub async fn rotate_fleet<C: Cluster>(
    opts: &RotateCredentialsOptions,
    fleet: &Fleet<C>,
    watch: &impl sync::SyncWatch<C>,
    (now, unix_now): (String, i64),
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let sources = plan::sources(&opts.mesh, &opts.mesh_file, &opts.only)?;
    let servers = servers_of(&opts.mesh, fleet, &sources)?;
    let mut planned = Vec::new();
    for s in &sources {
        planned.push(plan_one(opts, fleet, s, &now, unix_now).await?);
    }
    refuse_restarts(&planned, opts.no_istiod_restart)?;
    for (p, _, readers, restarts) in &planned {
        for line in plan::describe(p) {
            printer.progress(&line);
        }
        describe_servers(&p.source, &servers[&p.source], readers, printer);
        describe_restarts(&p.source, restarts, printer);
    }
    if opts.dry_run {
        printer.progress("dry run: nothing was written");
        return Ok(ExitStatus::Success);
    }
    let mut all_ok = true;
    for (p, kube, readers, restarts) in planned {
        if p.is_done() {
            continue;
        }
        let restart = restarts
            .into_iter()
            .filter_map(|(reader, d)| match d {
                restart::Decision::Restart(names, why) => Some((reader, names, why)),
                _ => None,
            })
            .collect();
        let r = run::SourceRun {
            kube,
            readers,
            restart,
            server: servers[&p.source].clone(),
            timeout: opts.timeout,
            now: now.clone(),
        };
        all_ok &= run::run_source(&p, &r, watch, printer).await?;
    }
    Ok(ExitStatus::problems_if(!all_ok))
}

/// Observes and plans one source, with the istiod decision of each reader it waits on.
async fn plan_one<'a, C: Cluster>(
    opts: &RotateCredentialsOptions,
    fleet: &'a Fleet<C>,
    source: &str,
    now: &str,
    unix_now: i64,
) -> Result<Planned<'a, C>, Error> {
    let kube = fleet.kube(source)?;
    let mut readers = Vec::new();
    for r in plan::readers_of(&opts.mesh, source) {
        let k = fleet.kube(&r)?;
        readers.push((r, k));
    }
    let (observed, embeddings) = observe::observe(source, kube, &readers, unix_now).await?;
    let p = plan::plan_source(&observed, opts.again, opts.token_ttl, now)?;
    let restarts = restarts_of(&p, &readers).await?;
    let with = readers
        .into_iter()
        .zip(embeddings)
        .map(|((n, k), e)| (n, k, e))
        .collect();
    Ok((p, kube, with, restarts))
}

/// Each source's API server as the mesh file (`apiServer`) or the user's kubeconfig gives it:
/// what a rewritten remote secret names (loopback was judged when the mesh was joined).
fn servers_of<C>(
    mesh: &MeshSpec,
    fleet: &Fleet<C>,
    sources: &[String],
) -> Result<BTreeMap<String, String>, Error> {
    sources
        .iter()
        .map(|s| {
            let c = mesh.cluster(s).ok_or_else(|| {
                Error::input(
                    format!("cluster '{s}' is not in the mesh file"),
                    "fix the mesh file",
                )
            })?;
            Ok((s.clone(), server_of(c, &fleet.source, true)?))
        })
        .collect()
}

/// Says where a reader's remote secret names another server than the rewrite will.
fn describe_servers<C>(
    source: &str,
    server: &str,
    readers: &[(String, &C, Option<Embedding>)],
    printer: &Printer,
) {
    for (reader, _, emb) in readers {
        match emb {
            Some(e) if e.server.is_empty() => printer.warn(&format!(
                "{reader}: its remote secret for {source} holds a kubeconfig the gate refuses (see kubectl mesh-verify remote.kubeconfig); a rewrite replaces it with one for {server}"
            )),
            Some(e) if !crate::manifests::remote_secret::same_server(&e.server, server) => {
                printer.warn(&format!(
                    "{reader}: its remote secret for {source} names {}; a rewrite names {server} (the mesh file's apiServer or your kubeconfig's server)",
                    e.server
                ))
            }
            _ => {}
        }
    }
}

/// Each reading cluster's istiod decision for one source's plan (the readers it waits on).
async fn restarts_of<C: Cluster>(
    p: &plan::SourcePlan,
    readers: &[(String, &C)],
) -> Result<Vec<(String, restart::Decision)>, Error> {
    let mut out = Vec::new();
    if p.is_done() {
        return Ok(out);
    }
    for (name, kube) in readers {
        if p.wait.contains(name) {
            let deployments = restart::observe(*kube).await?;
            out.push((
                name.clone(),
                restart::decide(&deployments, &p.record.started),
            ));
        }
    }
    Ok(out)
}

type Planned<'a, C> = (
    plan::SourcePlan,
    &'a C,
    Vec<(String, &'a C, Option<Embedding>)>,
    Vec<(String, restart::Decision)>,
);

/// `--no-istiod-restart`: refused, before any write, when a reader would need a restart.
fn refuse_restarts<C>(planned: &[Planned<'_, C>], refuse: bool) -> Result<(), Error> {
    let needing: Vec<(String, String)> = planned
        .iter()
        .flat_map(|(_, _, _, r)| r)
        .filter_map(|(reader, d)| match d {
            restart::Decision::Restart(_, why) => Some((reader.clone(), why.clone())),
            _ => None,
        })
        .collect();
    if refuse && !needing.is_empty() {
        return Err(restart::refusal(&needing));
    }
    Ok(())
}

fn describe_restarts(source: &str, restarts: &[(String, restart::Decision)], printer: &Printer) {
    for (reader, d) in restarts {
        match d {
            restart::Decision::Restart(names, why) => printer.progress(&format!(
                "{source}: after the swap, restart {reader}'s {} ({why})",
                names.join(", ")
            )),
            restart::Decision::Restarted(names) => printer.progress(&format!(
                "{source}: {reader}'s {} already restarted during this rotation",
                names.join(", ")
            )),
            restart::Decision::Unknown(why) => printer.warn(&format!("{reader}: {why}")),
            restart::Decision::InPlace => {}
        }
    }
}

#[cfg(test)]
#[path = "fake_support.rs"]
mod fake_support;
#[cfg(test)]
#[path = "refuse_tests.rs"]
mod refuse_tests;
#[cfg(test)]
#[path = "rotate_tests.rs"]
mod rotate_tests;
