//! Deciding a stage for every cluster: what each one's `cacerts` must become, and every
//! reason the stage may not write (gathered, so one run names every blocking cluster).

use super::local::{self, Material};
use super::run::RotateRootOptions;
use super::stages::{self, Place, Refusal, Standing};
use super::state::{RotationState, Stage};
use crate::app::trust::Member;
use crate::ca::bundle::Bundle;
use crate::cluster::Cluster;
use crate::error::Error;
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE, ROOT_CERT_CONFIGMAP};
use crate::manifests::cacerts::cacerts_secret;
use crate::plan::{ClusterPlan, Op, Plan, Step};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

/// One cluster as read before deciding.
pub(super) struct Observed {
    live: Option<Bundle>,
}

pub(super) async fn observe(kube: &impl Cluster) -> Result<Observed, Error> {
    let live = kube
        .get("v1", "Secret", Some(ISTIO_NAMESPACE), CACERTS_SECRET)
        .await?;
    let origin = format!(
        "context {}: {ISTIO_NAMESPACE}/{CACERTS_SECRET}",
        kube.context()
    );
    Ok(Observed {
        live: live.map(|s| Bundle::from_secret(&origin, &s)),
    })
}

async fn root_maps(kube: &impl Cluster) -> Result<Vec<Value>, Error> {
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
pub(super) struct Decided {
    pub plan: Plan,
    pub bundles: Vec<Bundle>,
    pub after: Vec<Vec<String>>,
}

fn place(m: &Member) -> Place<'_> {
    Place {
        cluster: m.cluster.as_str(),
        context: &m.context,
    }
}

/// Decides every cluster; refusals are gathered so one run names every cluster that blocks.
pub(super) fn decide(
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
pub(super) async fn mesh_preconditions<C: Cluster>(
    opts: &RotateRootOptions,
    record: &RotationState,
    kubes: &[C],
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

pub(super) fn refused(refusals: Vec<Refusal>, stage: Stage) -> Error {
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
