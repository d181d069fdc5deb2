//! `mesh-certs apply`: check locally, plan every cluster, refuse or dry-run on every API
//! server, and only then write.

use super::plan::{Refusal, plan_member};
use super::preflight::{ServerCheck, check_networks, local_bundles, server_dry_run};
use super::{Access, Member};
use crate::ca::bundle::Bundle;
use crate::ca::store::CertDir;
use crate::cli::DryRun;
use crate::cluster::Kube;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::plan::{ApplyMode, Plan, apply_plan, render_plan};
use crate::render::{OutputFormat, Printer};
use time::OffsetDateTime;

/// `mesh-certs apply` options.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The certificate directory.
    pub dir: CertDir,
    /// The clusters.
    pub members: Vec<Member>,
    /// Replace another intermediate under the same root.
    pub force: bool,
    /// Take fields other field managers own (`--force-conflicts`).
    pub force_conflicts: bool,
    /// `--dry-run`.
    pub dry_run: DryRun,
    /// `-o`.
    pub format: OutputFormat,
    /// Print the cacerts Secret's data (`--include-secrets`), e.g. for `-o yaml | kubectl apply`.
    pub include_secrets: bool,
}

/// `mesh-certs apply`.
pub async fn apply(
    opts: &ApplyOptions,
    access: &Access,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    check_networks(&opts.members)?;
    let bundles = local_bundles(&opts.dir, &opts.members, now)?;
    let kubes: Vec<_> = access
        .connect(&opts.members)
        .await?
        .into_iter()
        .map(|k| k.forcing_conflicts(opts.force_conflicts))
        .collect();
    let plan = plan_all(&kubes, opts, &bundles).await?;
    let Some(mode) = ApplyMode::from_dry_run(opts.dry_run) else {
        emit(&plan, opts, printer)?;
        if opts.format == OutputFormat::Table {
            printer.progress(&format!(
                "dry run: {} change(s) planned, nothing written",
                plan.writes()
            ));
        }
        return Ok(ExitStatus::Success);
    };
    if plan.is_noop() {
        emit(&plan, opts, printer)?;
        printer.progress("nothing to do: every cluster already holds its cacerts");
        return Ok(ExitStatus::Success);
    }
    let checked = server_dry_run(&kubes, &plan).await?;
    for why in &checked.unchecked {
        printer.warn(&format!("not checked by the API server: {why}"));
    }
    if mode == ApplyMode::ServerDryRun {
        emit(&plan, opts, printer)?;
        report_server_dry_run(&checked, &plan, printer);
        return Ok(ExitStatus::Success);
    }
    write(&kubes, &plan, opts, printer).await
}

/// Plans every cluster in parallel; any refusal stops here, before any write.
async fn plan_all(kubes: &[Kube], opts: &ApplyOptions, bundles: &[Bundle]) -> Result<Plan, Error> {
    let observed = futures::future::join_all(
        kubes
            .iter()
            .zip(&opts.members)
            .zip(bundles)
            .map(|((kube, m), bundle)| plan_member(kube, m, bundle, opts.force)),
    )
    .await;
    let mut plan = Plan::default();
    let mut refusals: Vec<Refusal> = Vec::new();
    for result in observed {
        let (cluster_plan, refusal) = result?;
        refusals.extend(refusal);
        plan.clusters.push(cluster_plan);
    }
    if refusals.is_empty() {
        return Ok(plan);
    }
    let join = |f: fn(&Refusal) -> &str| refusals.iter().map(f).collect::<Vec<_>>().join("\n");
    Err(Error::Input {
        message: format!(
            "{}\nnothing was changed in any cluster",
            join(|r| &r.message)
        ),
        hint: Some(join(|r| &r.hint)),
    })
}

fn report_server_dry_run(checked: &ServerCheck, plan: &Plan, printer: &Printer) {
    printer.progress(&format!(
        "server dry run: the API servers accepted {} of {} change(s) in {} cluster(s), nothing written",
        checked.accepted,
        plan.writes(),
        plan.clusters.len()
    ));
}

/// The real writes, after every check passed. A failure here is a fault during the write:
/// the message says which clusters were already written.
async fn write(
    kubes: &[Kube],
    plan: &Plan,
    opts: &ApplyOptions,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let results = apply_plan(kubes, plan, ApplyMode::Apply).await;
    let mut failed = Vec::new();
    let mut written = Vec::new();
    for (cp, r) in plan.clusters.iter().zip(results) {
        match r {
            Ok(n) if n > 0 => written.push(cp.cluster.clone()),
            Ok(_) => {}
            Err(e) => failed.push((cp.cluster.clone(), e)),
        }
    }
    emit(plan, opts, printer)?;
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
    printer.progress(&format!(
        "applied {} change(s) in {} cluster(s)",
        plan.writes(),
        written.len()
    ));
    Ok(ExitStatus::Success)
}

/// The plan in the chosen format; the intermediate's key reaches stdout only when asked for.
pub(super) fn emit(plan: &Plan, opts: &ApplyOptions, printer: &Printer) -> Result<(), Error> {
    let shown = render_plan(plan, opts.format, opts.include_secrets, printer.out_style());
    printer.data(&shown)
}
