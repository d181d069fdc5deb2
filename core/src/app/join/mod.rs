//! `kubectl mesh-join`: every cluster of a mesh joined in one run, in any of the four
//! topologies, and `leave`.
//!
//! One pipeline, a module per step: the mesh file (validated when read) → the clusters in
//! scope ([`scope`]) → connections ([`crate::app::fleet`]) → the trust gate ([`gate`]) → the
//! desired objects (pure, [`desired`]) → a plan the API servers make by dry run, with the
//! objects we wrote before and no longer want ([`phases`]) → apply exactly that plan → wait
//! ([`ready`]). Every object of every cluster passes the server's dry run before the first
//! write anywhere; a field another manager owns stops the plan unless `--force-conflicts`.
//!
//! The stages ([`desired::Stage`]) follow the seeds' order, primaries before remotes: the
//! namespace with its labels and the control plane (`IstioCNI`, `Istio`) → wait until the
//! operator reports Ready → east-west gateway, cross-network gateway and istiod exposure (their
//! pods are injected by the control plane) → the reader token Secret once the charts created
//! its ServiceAccount → remote secrets in every reading cluster
//! ([`crate::topology::reading_pairs`]). See [`run`].

mod create_remote_secret;
pub mod desired;
mod export;
mod gate;
mod injector;
pub mod install;
mod install_step;
mod leave;
mod leave_install;
mod phases;
mod ready;
mod removals;
mod run;
pub mod scope;
#[cfg(test)]
mod test_support;
pub(crate) mod tokens;
mod webhooks;

pub use crate::topology::reading_pairs;
pub use create_remote_secret::{RemoteSecretOptions, remote_secret_cmd};
pub use desired::{Render, Stage, base_objects, stage_objects};
pub use leave::{LeaveOptions, leave, leave_changes};
pub use run::report_failures;

use super::trust::Access;
use crate::app::fleet::Fleet;
use crate::ca::store::CertDir;
use crate::cli::DryRun;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::mesh::MeshSpec;
use crate::plan::render_plan;
use crate::render::{OutputFormat, Printer};
use std::path::PathBuf;
use std::time::Duration;

/// How the control plane is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Installer {
    /// Sail operator `Istio` resources (applied).
    #[default]
    Sail,
    /// `istioctl install -f` of an `IstioOperator` per cluster (`--render-only`: printed).
    Istioctl,
    /// Helm's `base` and `istiod` charts per cluster (`--render-only`: the values printed).
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
    /// Create the reader ServiceAccount and RBAC ourselves (clusters where no installer does).
    pub create_reader: bool,
    /// Include secret material in output and exports.
    pub include_secrets: bool,
    /// Write manifests into this directory instead of applying them.
    pub export: Option<PathBuf>,
    /// Take fields other field managers own (`--force-conflicts`).
    pub force_conflicts: bool,
    /// `--token-ttl` in seconds: short-lived reader tokens on clusters that have no reader
    /// credential yet (0: long-lived; `None`: the mode each cluster has).
    pub token_ttl: Option<u64>,
    /// How `--installer istioctl|helm` runs.
    pub install: install::InstallOptions,
    /// The installer found for this run (set by [`join`]; `None`: Sail, or render only).
    pub tool: Option<install::Tool>,
}

/// `mesh-join` (and `mesh-join plan`).
pub async fn join(
    opts: &JoinOptions,
    access: &Access,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let scope = scope::Scope::of(&opts.mesh, &opts.only)?;
    if let Some(dir) = &opts.export {
        return export::export(opts, access, dir, printer).await;
    }
    let mut opts = opts.clone();
    opts.install.kubeconfig.clone_from(&access.kubeconfig);
    opts.tool = install::find(opts.installer, &opts.mesh, &opts.install).await?;
    let opts = &opts;
    let mesh = &opts.mesh;
    printer.progress(&format!(
        "mesh {}: {} ({} cluster(s)); connecting to {}",
        mesh.mesh_id,
        mesh.topology(),
        mesh.clusters.len(),
        scope.needed.join(", ")
    ));
    let fleet = Fleet::connect(mesh, access, &scope.needed, opts.force_conflicts).await?;
    let opts = &gate::resolve_version(opts.clone(), &scope, &fleet, printer).await?;
    let mesh = &opts.mesh;
    gate::check_trust(opts, &scope, &fleet).await?;
    let servers = fleet.servers(mesh, &scope.pairs, opts.allow_loopback)?;
    let planned = phases::plan_all(opts, &scope, &fleet, &servers).await?;
    if opts.tool.is_none() {
        phases::print_installs(opts.installer, &planned.installs, printer)?;
    }
    install_step::announce(opts, &planned.installs, &fleet, printer).await?;
    let full = planned.full();
    let show = |plan: &crate::plan::Plan| {
        printer.data(&render_plan(
            plan,
            opts.format,
            opts.include_secrets,
            printer.out_style(),
        ))
    };
    if opts.plan_only || opts.dry_run != DryRun::None {
        show(&full)?;
        printer.progress(&format!(
            "{} change(s) planned; every object passed the API servers' dry run; nothing was written",
            full.writes()
        ));
        return Ok(ExitStatus::Success);
    }
    if full.is_noop() && opts.no_wait {
        if opts.format == OutputFormat::Table {
            show(&full)?;
        }
        printer.progress("nothing to do: every cluster is already joined as described");
        return Ok(ExitStatus::Success);
    }
    let outcome = run::run(opts, &scope, &fleet, &servers, printer).await?;
    show(&outcome.done)?;
    if outcome.done.is_noop() {
        printer.progress("nothing to do: every cluster is already joined as described");
    } else {
        printer.progress(&format!(
            "applied {} change(s) across {} cluster(s)",
            outcome.done.writes(),
            outcome.done.clusters.len()
        ));
    }
    Ok(outcome.status)
}
