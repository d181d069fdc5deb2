//! One stage of the rotation, end to end: read the record and both roots, read every
//! cluster, decide (refusing before any write, naming the cluster), dry-run every write on
//! its API server, write the directory, write the clusters, record the stage, and watch the
//! `istio-ca-root-cert` ConfigMaps until every istiod has spread the new bundle.

use super::decide::{Decided, decide, mesh_preconditions, observe, refused};
use super::local::{self, Material, Prepared};
use super::state::{self, RotationState, Stage};
use crate::app::trust::{Access, Member, server_dry_run};
use crate::ca::bundle::short;
use crate::ca::store::{self, CertDir};
use crate::cli::DryRun;
use crate::cluster::Cluster;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::plan::{ApplyMode, Plan, apply_plan, render_plan};
use crate::render::{OutputFormat, Printer};
use std::time::Duration;
use time::OffsetDateTime;

/// `mesh-certs rotate-root` options.
#[derive(Debug, Clone)]
pub struct RotateRootOptions {
    /// The certificate directory (both roots, the record).
    pub dir: CertDir,
    /// The clusters (every cluster of the mesh).
    pub members: Vec<Member>,
    /// The stage to reach.
    pub stage: Stage,
    /// `--dry-run`.
    pub dry_run: DryRun,
    /// How long to wait for istiod to spread the bundle after writing.
    pub wait: Duration,
    /// Workload certificate lifetime: `finish` waits this long after `reissue`.
    pub workload_cert_ttl: Duration,
    /// Print the Secrets' contents with `-o yaml|json`.
    pub include_secrets: bool,
    /// `-o`.
    pub format: OutputFormat,
}

/// The plan in the chosen format; the intermediate keys only with `--include-secrets`.
fn emit_plan(plan: &Plan, opts: &RotateRootOptions, printer: &Printer) -> Result<(), Error> {
    printer.data(&render_plan(
        plan,
        opts.format,
        opts.include_secrets,
        printer.out_style(),
    ))
}

/// `kubectl mesh-certs rotate-root STAGE`.
pub async fn rotate_root(
    opts: &RotateRootOptions,
    access: &Access,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    if opts.stage == Stage::Prepare {
        return prepare(opts, now, printer);
    }
    let Some(record) = state::read(&opts.dir)? else {
        return Err(Error::input(
            format!(
                "no root rotation is prepared in {}",
                opts.dir.path().display()
            ),
            format!(
                "start it: kubectl mesh-certs rotate-root prepare --dir {}",
                opts.dir.path().display()
            ),
        ));
    };
    check_named(opts, &record)?;
    let material = local::material(&opts.dir, &record, opts.stage)?;
    let kubes = access.connect(&opts.members).await?;
    run_stage(opts, record, &material, &kubes, now, printer).await
}

/// One stage after `prepare` over connected clusters (`kubes` in the members' order), from
/// the record and the roots on disk: read every cluster, decide, refuse before any write,
/// dry-run, write the directory and the clusters, record the stage, watch the spread.
pub(super) async fn run_stage<C: Cluster>(
    opts: &RotateRootOptions,
    record: RotationState,
    material: &Material,
    kubes: &[C],
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let mut observed = Vec::new();
    for kube in kubes {
        observed.push(observe(kube).await?);
    }
    let (decided, mut refusals) = decide(opts, material, &observed, now)?;
    if decided.plan.writes() > 0 && refusals.is_empty() {
        refusals.extend(mesh_preconditions(opts, &record, kubes, &observed, now).await?);
    }
    if !refusals.is_empty() {
        return Err(refused(refusals, opts.stage));
    }
    let Some(mode) = ApplyMode::from_dry_run(opts.dry_run) else {
        emit_plan(&decided.plan, opts, printer)?;
        printer.progress(&format!(
            "dry run: rotate-root {} plans {} change(s), nothing written",
            opts.stage.as_str(),
            decided.plan.writes()
        ));
        return Ok(ExitStatus::Success);
    };
    if !decided.plan.is_noop() {
        let checked = server_dry_run(kubes, &decided.plan).await?;
        if mode == ApplyMode::ServerDryRun {
            emit_plan(&decided.plan, opts, printer)?;
            printer.progress(&format!(
                "server dry run: the API servers accepted {} change(s) of rotate-root {}, nothing written",
                checked.accepted,
                opts.stage.as_str()
            ));
            return Ok(ExitStatus::Success);
        }
        write(opts, kubes, &decided, now, printer).await?;
    } else if mode == ApplyMode::ServerDryRun {
        emit_plan(&decided.plan, opts, printer)?;
        printer.progress("server dry run: nothing to change");
        return Ok(ExitStatus::Success);
    } else {
        emit_plan(&decided.plan, opts, printer)?;
        printer.progress(&format!(
            "nothing to write: every cluster is at rotate-root {} or later",
            opts.stage.as_str()
        ));
    }
    let wrote = decided.plan.writes() > 0;
    record_stage(opts, record, material, wrote, now, printer)?;
    super::wait::await_spread(opts, kubes, &decided.after, printer).await
}

fn names(opts: &RotateRootOptions) -> Vec<String> {
    opts.members.iter().map(|m| m.cluster.to_string()).collect()
}

/// `reissue` and `finish` run on every cluster an earlier stage ran on, or not at all.
pub(super) fn check_named(opts: &RotateRootOptions, record: &RotationState) -> Result<(), Error> {
    let missing = state::left_out(&record.clusters, &names(opts));
    if opts.stage == Stage::TrustBoth || missing.is_empty() {
        return Ok(());
    }
    Err(Error::input(
        format!(
            "rotate-root {} refused: cluster(s) {} took part in this rotation ({}) but are not named here; signing with the new root while one of them may trust only the old root breaks mTLS with it\nnothing was written, locally or in any cluster",
            opts.stage.as_str(),
            missing.join(", "),
            state::state_path(&opts.dir).display()
        ),
        "name every cluster of the mesh: -f mesh.yaml, or --context/--cluster for each",
    ))
}

/// Local files first (the clusters' files, then the cluster writes): a failure leaves the
/// directory ahead of the clusters, and the same command run again catches them up.
async fn write<C: Cluster>(
    opts: &RotateRootOptions,
    kubes: &[C],
    d: &Decided,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<(), Error> {
    let stamp = store::backup_stamp(now);
    for ((m, cp), bundle) in opts.members.iter().zip(&d.plan.clusters).zip(&d.bundles) {
        if cp.steps.iter().any(|s| s.op.writes()) {
            local::write_cluster(&opts.dir, &m.cluster, bundle, &stamp)?;
        }
    }
    let results = apply_plan(kubes, &d.plan, ApplyMode::Apply).await;
    emit_plan(&d.plan, opts, printer)?;
    let mut written = Vec::new();
    for (cp, r) in d.plan.clusters.iter().zip(results) {
        match r {
            Ok(n) if n > 0 => written.push(cp.cluster.clone()),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::Input {
                    message: format!(
                        "rotate-root {}: writing cluster '{}' (context {}) failed ({}): {e}",
                        opts.stage.as_str(),
                        cp.cluster,
                        cp.context,
                        if written.is_empty() {
                            "no cluster was written".to_string()
                        } else {
                            format!("already written: {}", written.join(", "))
                        }
                    ),
                    hint: Some(
                        "fix the cause and run the same stage again: it writes only what is missing"
                            .into(),
                    ),
                });
            }
        }
    }
    printer.progress(&format!(
        "rotate-root {}: wrote {} cluster(s)' cacerts: {}",
        opts.stage.as_str(),
        written.len(),
        written.join(", ")
    ));
    Ok(())
}

/// Records the stage reached; `finish` also makes the new root the mesh root on disk.
fn record_stage(
    opts: &RotateRootOptions,
    mut record: RotationState,
    m: &Material,
    wrote: bool,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<(), Error> {
    let before = record.clone();
    record.stage = record.stage.max(opts.stage);
    for name in names(opts) {
        if !record.clusters.contains(&name) {
            record.clusters.push(name);
        }
    }
    if opts.stage == Stage::Reissue && (wrote || record.reissued.is_none()) {
        record.reissued = Some(
            now.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        );
    }
    if opts.stage == Stage::Finish
        && let Some(backup) = local::swap_root(&opts.dir, &m.new, &store::backup_stamp(now))?
    {
        printer.progress(&format!(
            "the new root {} is now the mesh root in {}; the old root and its key are in {}",
            short(&m.new.sha256),
            opts.dir.path().display(),
            backup.display()
        ));
    }
    if record != before {
        state::write(&opts.dir, &record)?;
    }
    Ok(())
}

fn prepare(
    opts: &RotateRootOptions,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let write = opts.dry_run == DryRun::None;
    let dir = opts.dir.path().display();
    match local::prepare(&opts.dir, now, write)? {
        Prepared::Already(r) => printer.progress(&format!(
            "nothing to do: {dir} already holds a rotation from root {} to {} (last stage: {})",
            short(&r.old_root),
            short(&r.new_root),
            r.stage.as_str()
        )),
        Prepared::Created(r) if write => printer.progress(&format!(
            "new root {} written to {dir}/{}/ (key 0600, it never leaves this disk); next: kubectl mesh-certs rotate-root trust-both",
            short(&r.new_root),
            state::NEXT_ROOT_DIR
        )),
        Prepared::Created(_) => printer.progress(&format!(
            "dry run: would write a new root to {dir}/{}/ and {dir}/{}; nothing written",
            state::NEXT_ROOT_DIR,
            state::STATE_FILE
        )),
    }
    Ok(ExitStatus::Success)
}
