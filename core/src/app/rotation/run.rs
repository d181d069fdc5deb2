//! One stage of the rotation, end to end: read the record and both roots, read every
//! cluster, decide (refusing before any write, naming the cluster), dry-run every write on
//! its API server, write the directory, write the clusters, record the stage, and watch the
//! `istio-ca-root-cert` ConfigMaps until every istiod has spread the new bundle.

use super::local::{self, Material, Prepared};
use super::stages::{self, Place, Refusal, Standing};
use super::state::{self, RotationState, Stage};
use crate::app::trust::{Access, Member, server_dry_run};
use crate::ca::bundle::{Bundle, short};
use crate::ca::store::{self, CertDir};
use crate::cli::DryRun;
use crate::cluster::Kube;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE, ROOT_CERT_CONFIGMAP};
use crate::manifests::cacerts::cacerts_secret;
use crate::plan::{ApplyMode, ClusterPlan, Op, Plan, Step, apply_plan, render_plan};
use crate::render::{OutputFormat, Printer};
use serde_json::Value;
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

/// One cluster as read before deciding.
struct Observed {
    live: Option<Bundle>,
}

async fn observe(kube: &Kube) -> Result<Observed, Error> {
    let live = kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), CACERTS_SECRET)
        .await?;
    let origin = format!(
        "context {}: {ISTIO_NAMESPACE}/{CACERTS_SECRET}",
        kube.context
    );
    Ok(Observed {
        live: live.map(|s| Bundle::from_secret(&origin, &s)),
    })
}

async fn root_maps(kube: &Kube) -> Result<Vec<Value>, Error> {
    Ok(kube
        .list_selected(
            "v1",
            "ConfigMap",
            None,
            None,
            Some(&format!("metadata.name={ROOT_CERT_CONFIGMAP}")),
        )
        .await?)
}

/// The decided stage: the plan, and the roots each cluster trusts afterwards.
struct Decided {
    plan: Plan,
    bundles: Vec<Bundle>,
    after: Vec<Vec<String>>,
}

fn place(m: &Member) -> Place<'_> {
    Place {
        cluster: m.cluster.as_str(),
        context: &m.context,
    }
}

/// Decides every cluster; refusals are gathered so one run names every cluster that blocks.
fn decide(
    opts: &RotateRootOptions,
    m: &Material,
    observed: &[Observed],
    now: OffsetDateTime,
) -> Result<(Decided, Vec<Refusal>), Error> {
    let mut d = Decided {
        plan: Plan::default(),
        bundles: Vec::new(),
        after: Vec::new(),
    };
    let mut refusals = Vec::new();
    for (member, obs) in opts.members.iter().zip(observed) {
        let standing = stages::standing(obs.live.as_ref(), &m.old, &m.new);
        let local_files = local::local(&opts.dir, &member.cluster)?;
        // Only a cluster at trust-both gets a new intermediate; for the others the bundle
        // is only compared (they are ahead, or refused), so nothing is issued for them.
        let no_new_int = needs_issue(&local_files, m);
        let compose_as = match opts.stage {
            Stage::Reissue if standing != Standing::TrustBoth && no_new_int => Stage::TrustBoth,
            stage => stage,
        };
        if opts.stage == Stage::Finish && standing == Standing::Reissued && no_new_int {
            refusals.push(Refusal {
                message: format!(
                    "cluster '{}': {} holds no intermediate under the new root, but the cluster does",
                    member.cluster,
                    opts.dir.cluster_dir(&member.cluster).display()
                ),
                hint: "restore the cluster's files from DIR/backup/ (the newest copy written by reissue)".into(),
            });
        }
        let bundle = local::desired(compose_as, &local_files, &member.cluster, m, now)?;
        let identical = obs.live.as_ref().is_some_and(|l| l.same_files(&bundle));
        let same_int =
            obs.live.as_ref().and_then(Bundle::intermediate_der) == bundle.intermediate_der();
        let (op, note) =
            match stages::judge(opts.stage, place(member), &standing, identical, same_int) {
                Ok(x) => x,
                Err(r) => {
                    refusals.push(r);
                    (Op::Update, Some("refused".into()))
                }
            };
        let after = match (&obs.live, op) {
            (Some(l), Op::Unchanged) => l.root_fingerprints(),
            _ => bundle.root_fingerprints(),
        };
        d.plan.clusters.push(ClusterPlan {
            cluster: member.cluster.to_string(),
            context: member.context.clone(),
            steps: vec![Step {
                op,
                manifest: cacerts_secret(&bundle),
                note,
                secret: true,
                changes: Vec::new(),
            }],
        });
        d.bundles.push(bundle);
        d.after.push(after);
    }
    Ok((d, refusals))
}

fn needs_issue(local_files: &Bundle, m: &Material) -> bool {
    !stages::issued_by(&local_files.intermediate_der().unwrap_or_default(), &m.new)
}

/// The preconditions that concern the whole mesh: before `reissue` and `finish` write, every
/// cluster's ConfigMaps carry its bundle; `finish` waits for workload certificates to renew.
async fn mesh_preconditions(
    opts: &RotateRootOptions,
    record: &RotationState,
    kubes: &[Kube],
    observed: &[Observed],
    now: OffsetDateTime,
) -> Result<Vec<Refusal>, Error> {
    let mut refusals = Vec::new();
    if opts.stage == Stage::TrustBoth {
        return Ok(refusals);
    }
    for ((member, kube), obs) in opts.members.iter().zip(kubes).zip(observed) {
        let want = obs
            .live
            .as_ref()
            .map(Bundle::root_fingerprints)
            .unwrap_or_default();
        let spread = stages::spread(&root_maps(kube).await?, &want);
        refusals.extend(stages::spread_refusal(place(member), &spread));
    }
    if opts.stage == Stage::Finish {
        let reissued = record.reissued.as_deref().and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        });
        if let Some(left) = stages::renewal_left(reissued, opts.workload_cert_ttl, now) {
            refusals.push(Refusal {
                message: format!(
                    "the intermediates were reissued at {}: workload certificates signed by the old ones may live {} more (--workload-cert-ttl {})",
                    record.reissued.as_deref().unwrap_or("?"),
                    crate::cli::format_duration(Duration::from_secs(left.whole_seconds().max(0) as u64)),
                    crate::cli::format_duration(opts.workload_cert_ttl)
                ),
                hint: "wait, or once every workload has been restarted since reissue, give the certificates' real lifetime with --workload-cert-ttl".into(),
            });
        }
    }
    Ok(refusals)
}

fn refused(refusals: Vec<Refusal>, stage: Stage) -> Error {
    let join = |f: fn(&Refusal) -> &str| {
        let mut seen: Vec<&str> = Vec::new();
        for r in &refusals {
            if !seen.contains(&f(r)) {
                seen.push(f(r));
            }
        }
        seen.join("\n")
    };
    Error::Input {
        message: format!(
            "rotate-root {} refused:\n{}\nnothing was written, locally or in any cluster",
            stage.as_str(),
            join(|r| &r.message)
        ),
        hint: Some(join(|r| &r.hint)),
    }
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
    let material = local::material(&opts.dir, &record, opts.stage)?;
    let kubes = access.connect(&opts.members).await?;
    let mut observed = Vec::new();
    for kube in &kubes {
        observed.push(observe(kube).await?);
    }
    let (decided, mut refusals) = decide(opts, &material, &observed, now)?;
    if decided.plan.writes() > 0 && refusals.is_empty() {
        refusals.extend(mesh_preconditions(opts, &record, &kubes, &observed, now).await?);
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
        let checked = server_dry_run(&kubes, &decided.plan).await?;
        if mode == ApplyMode::ServerDryRun {
            emit_plan(&decided.plan, opts, printer)?;
            printer.progress(&format!(
                "server dry run: the API servers accepted {} change(s) of rotate-root {}, nothing written",
                checked.accepted,
                opts.stage.as_str()
            ));
            return Ok(ExitStatus::Success);
        }
        write(opts, &kubes, &decided, now, printer).await?;
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
    record_stage(
        opts,
        record,
        &material,
        decided.plan.writes() > 0,
        now,
        printer,
    )?;
    super::wait::await_spread(opts, &kubes, &decided.after, printer).await
}

/// Local files first (the clusters' files, then the cluster writes): a failure leaves the
/// directory ahead of the clusters, and the same command run again catches them up.
async fn write(
    opts: &RotateRootOptions,
    kubes: &[Kube],
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
