//! `kubectl mesh-join rotate-credentials`: a new reader token per cluster that others read,
//! every remote secret that embeds the old one rewritten, and the old token revoked only
//! after every istiod that reads the cluster reports it synced again.
//!
//! The decisions are pure ([`plan`]); the record of each cluster's credential is an
//! annotation on its reader ServiceAccount ([`record`], which says why there); what is read
//! first is [`observe`]; one cluster's rotation is [`run`]; watching istiod is [`sync`].
//! Every cluster is observed and planned before the first write: a refusal (unknown cluster,
//! a reader without its remote secret, a cluster not joined) writes nothing.

pub mod observe;
pub mod plan;
pub mod record;
mod run;
pub mod sync;

use crate::app::join::fleet::Fleet;
use crate::app::trust::Access;
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
}

fn now() -> String {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
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
    let now = now();
    let mut planned = Vec::new();
    for s in &sources {
        let kube = fleet.kube(s)?;
        let mut readers = Vec::new();
        for r in plan::readers_of(mesh, s) {
            readers.push((r.clone(), fleet.kube(&r)?));
        }
        let (observed, embeddings) = observe::observe(s, kube, &readers).await?;
        let p = plan::plan_source(&observed, opts.again, &now)?;
        let with: Vec<_> = readers
            .into_iter()
            .zip(embeddings)
            .map(|((n, k), e)| (n, k, e))
            .collect();
        planned.push((p, kube, with));
    }
    for (p, _, _) in &planned {
        for line in plan::describe(p) {
            printer.progress(&line);
        }
    }
    if opts.dry_run {
        printer.progress("dry run: nothing was written");
        return Ok(ExitStatus::Success);
    }
    let mut all_ok = true;
    for (p, kube, readers) in planned {
        if p.is_done() {
            continue;
        }
        let r = run::SourceRun {
            kube,
            readers,
            istiod_addresses: &opts.istiod_addresses,
            timeout: opts.timeout,
            now: now.clone(),
        };
        all_ok &= run::run_source(&p, &r, printer).await?;
    }
    Ok(ExitStatus::problems_if(!all_ok))
}
