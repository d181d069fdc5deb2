//! `mesh-certs rotate`: a new intermediate for one cluster under the same root, written
//! locally (the old files kept in `DIR/backup/<stamp>/`) and, with `--context`, applied.

use super::plan::plan_member;
use super::preflight::server_dry_run;
use super::{Access, Member};
use crate::ca::bundle::{Bundle, short};
use crate::ca::create::{load_root, write_cluster};
use crate::ca::describe::{describe, fingerprint};
use crate::ca::issue::{SigningCa, generate_keys, issue_intermediate};
use crate::ca::pem::{read_text, single_certificate};
use crate::ca::recorded::{self, Recorded};
use crate::ca::store::{self, CLUSTER_FILES, CertDir};
use crate::ca::{CaSettings, SettingsFlags};
use crate::cluster::Kube;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::names::ClusterName;
use crate::plan::{ApplyMode, Plan, apply_plan};
use crate::render::{KubeTable, OutputFormat, Printer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use time::OffsetDateTime;

/// `mesh-certs rotate` options.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// The certificate directory (with the root key).
    pub dir: CertDir,
    /// The cluster whose intermediate is renewed.
    pub cluster: ClusterName,
    /// Apply to this context afterwards.
    pub context: Option<String>,
    /// Settings flags as given; unset ones come from the settings recorded with the root.
    pub settings: SettingsFlags,
    /// Issue with flags that contradict the recorded settings.
    pub force: bool,
    /// `-o`.
    pub format: OutputFormat,
}

/// What `rotate` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotateReport {
    /// Cluster name.
    pub cluster: String,
    /// SHA-256 of the replaced intermediate.
    pub old_sha256: Option<String>,
    /// SHA-256 of the new intermediate.
    pub new_sha256: String,
    /// Its end of validity.
    pub not_after: String,
    /// Where the old files were copied.
    pub backup: Option<String>,
    /// The context it was applied to.
    pub applied_to: Option<String>,
}

/// `mesh-certs rotate`. The order keeps a rotation from being left half-done: settings
/// checked, the cluster reached, the new intermediate issued in memory and (with
/// `--context`) accepted by the API server's dry run, and only then written to disk and to
/// the cluster.
pub async fn rotate(
    opts: &RotateOptions,
    access: &Access,
    now: OffsetDateTime,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let dir = &opts.dir;
    let root = load_root(&dir.root_cert(), &dir.root_key())?;
    let root_pem = read_text(&dir.root_cert())?;
    let old_path = dir.cluster_file(&opts.cluster, "ca-cert.pem");
    let old = read_text(&old_path)
        .ok()
        .and_then(|t| single_certificate(&old_path, &t).ok());
    let settings = settings_for(opts)?;
    let target = match &opts.context {
        Some(ctx) => Some((access.connect(&[member(opts, ctx)]).await?, ctx)),
        None => None,
    };
    let issued = issue(opts, &settings, &root, now)?;
    let plan = match &target {
        Some((kubes, ctx)) => {
            Some(plan_rotated(opts, kubes, ctx, &bundle_of(&issued, &root_pem)).await?)
        }
        None => None,
    };
    let mut report = write_local(opts, &issued, &root_pem, now)?;
    report.old_sha256 = old.as_deref().map(fingerprint);
    printer.progress(&format!(
        "issued a new intermediate for {} ({}), old files copied to {}",
        opts.cluster,
        short(&report.new_sha256),
        report
            .backup
            .as_deref()
            .unwrap_or("(none: there was no old one)")
    ));
    match (target, plan) {
        (Some((kubes, ctx)), Some(plan)) => {
            apply_rotated(opts, &kubes, ctx, &plan).await?;
            report.applied_to = Some(ctx.clone());
            printer.progress(&format!(
                "applied to context {ctx}; istiod reloads a new intermediate under an unchanged root without a restart"
            ));
        }
        _ => printer.progress(&format!(
            "next: kubectl mesh-certs apply --cluster {} --context CTX --dir {} --force",
            opts.cluster,
            dir.path().display()
        )),
    }
    print_report(&report, opts.format, printer)?;
    Ok(ExitStatus::Success)
}

/// What `--force` does, for the hint of a refusal.
const FORCE_EFFECT: &str = "rotate --force issues this intermediate with the flags' settings; the recorded settings stay as they are";

/// The settings of the new intermediate: those recorded with the root (or read back from
/// its certificates), flags that contradict them refused unless `--force`.
fn settings_for(opts: &RotateOptions) -> Result<CaSettings, Error> {
    let rec = match recorded::read(&opts.dir)? {
        Some(rec) => rec,
        None => Recorded {
            settings: CaSettings::default(),
            origin: recorded::Origin::Derived(opts.dir.path().to_path_buf()),
        },
    };
    Ok(recorded::reconcile(
        &opts.settings,
        &rec,
        opts.force,
        FORCE_EFFECT,
    )?)
}

fn member(opts: &RotateOptions, ctx: &str) -> Member {
    Member {
        cluster: opts.cluster.clone(),
        context: ctx.to_string(),
        network: None,
    }
}

/// Issues the new intermediate, in memory.
fn issue(
    opts: &RotateOptions,
    settings: &CaSettings,
    root: &SigningCa,
    now: OffsetDateTime,
) -> Result<SigningCa, Error> {
    let key = generate_keys(settings.key_type, 1)?
        .pop()
        .ok_or_else(|| Error::input("key generation produced no key", "run the command again"))?;
    Ok(issue_intermediate(&opts.cluster, settings, key, root, now)?)
}

/// The four `cacerts` files of `ca`, as [`write_cluster`] writes them.
fn bundle_of(ca: &SigningCa, root_pem: &str) -> Bundle {
    let cert_pem = ca.cert_pem();
    let files: BTreeMap<String, Vec<u8>> = [
        ("ca-cert.pem", cert_pem.clone()),
        ("ca-key.pem", ca.key_pem().expose().clone()),
        ("root-cert.pem", root_pem.to_string()),
        ("cert-chain.pem", format!("{cert_pem}{root_pem}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_bytes()))
    .collect();
    Bundle::from_files("the new intermediate", files)
}

/// Backs up the old files and writes the new ones.
fn write_local(
    opts: &RotateOptions,
    issued: &SigningCa,
    root_pem: &str,
    now: OffsetDateTime,
) -> Result<RotateReport, Error> {
    let dir = &opts.dir;
    let files: Vec<PathBuf> = CLUSTER_FILES
        .iter()
        .map(|f| dir.cluster_file(&opts.cluster, f))
        .collect();
    let backup = store::backup(dir, &files, &store::backup_stamp(now))?;
    write_cluster(dir, &opts.cluster, issued, root_pem)?;
    Ok(RotateReport {
        cluster: opts.cluster.to_string(),
        old_sha256: None,
        new_sha256: fingerprint(&issued.cert_der),
        not_after: describe(&issued.cert_der, now)
            .map(|i| i.not_after)
            .unwrap_or_default(),
        backup: backup.map(|p| p.display().to_string()),
        applied_to: None,
    })
}

/// The cluster's plan for the new `cacerts` (only the Secret: rotate leaves the namespace's
/// labels alone), refused or dry-run by the API server before anything is written.
async fn plan_rotated(
    opts: &RotateOptions,
    kubes: &[Kube],
    ctx: &str,
    bundle: &Bundle,
) -> Result<Plan, Error> {
    let untouched = "nothing was written, locally or in the cluster";
    let (mut cp, refusal) = plan_member(&kubes[0], &member(opts, ctx), bundle, true).await?;
    if let Some(r) = refusal {
        return Err(Error::Input {
            message: format!("{} ({untouched})", r.message),
            hint: Some(r.hint),
        });
    }
    cp.steps.retain(|s| s.manifest["kind"] == "Secret");
    let plan = Plan { clusters: vec![cp] };
    match server_dry_run(kubes, &plan).await {
        Ok(_) => Ok(plan),
        Err(Error::Input { message, hint }) => Err(Error::Input {
            message: format!("{message}; the local files are unchanged"),
            hint,
        }),
        Err(e) => Err(e),
    }
}

/// Puts the new `cacerts` into the cluster.
async fn apply_rotated(
    opts: &RotateOptions,
    kubes: &[Kube],
    ctx: &str,
    plan: &Plan,
) -> Result<(), Error> {
    if let Some(Err(e)) = apply_plan(kubes, plan, ApplyMode::Apply)
        .await
        .into_iter()
        .next()
    {
        return Err(Error::Input {
            message: format!(
                "the new intermediate for {} is written locally, but applying it to context {ctx} failed: {e}",
                opts.cluster
            ),
            hint: Some(format!(
                "once the cluster is reachable: kubectl mesh-certs apply --cluster {} --context {ctx} --dir {} --force",
                opts.cluster,
                opts.dir.path().display()
            )),
        });
    }
    Ok(())
}

fn print_report(
    report: &RotateReport,
    format: OutputFormat,
    printer: &Printer,
) -> Result<(), Error> {
    if format != OutputFormat::Table {
        return printer.serialized(format, report);
    }
    let mut t = KubeTable::new(
        &["CLUSTER", "OLD", "NEW", "NOT AFTER", "APPLIED TO"],
        printer.out_style(),
    );
    t.row(&[
        report.cluster.clone(),
        report
            .old_sha256
            .as_deref()
            .map(short)
            .unwrap_or_else(|| "-".into()),
        short(&report.new_sha256),
        report.not_after.clone(),
        report.applied_to.clone().unwrap_or_else(|| "-".into()),
    ]);
    printer.data(&t.render())
}
