//! What each cluster needs: its Istio namespace and its `cacerts`, compared with what it has,
//! and the refusals that stop `apply` before anything is written.
//!
//! The decision about an existing `cacerts` is a pure function ([`judge_existing`]) so every
//! case (identical, same root, another root, `--force`) is tested without a cluster.

use super::{Member, live_cacerts, origin};
use crate::ca::bundle::{Bundle, short};
use crate::ca::describe::fingerprint;
use crate::cluster::Kube;
use crate::error::Error;
use crate::labels::{CACERTS_SECRET, ISTIO_NAMESPACE};
use crate::manifests::cacerts::{cacerts_secret, istio_namespace};
use crate::plan::{ClusterPlan, Op, Step, compare};

/// Why a cluster's existing `cacerts` stops `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub message: String,
    pub hint: String,
}

/// Where a `cacerts` Secret lives, for messages.
pub(super) struct Place<'a> {
    pub cluster: &'a str,
    pub context: &'a str,
}

/// What to do with the `cacerts` a cluster holds (`existing`) given the one we bring (`ours`).
pub(super) fn judge_existing(
    place: &Place<'_>,
    existing: &Bundle,
    ours: &Bundle,
    force: bool,
) -> (Op, Option<String>, Option<Refusal>) {
    if existing.same_files(ours) {
        return (Op::Unchanged, None, None);
    }
    let (cluster, context) = (place.cluster, place.context);
    let our_roots = ours.root_fingerprints();
    let theirs = existing.root_fingerprints();
    let shared = theirs.iter().any(|t| our_roots.contains(t));
    let old = existing
        .intermediate_der()
        .map(|d| short(&fingerprint(&d)))
        .unwrap_or_else(|| "none".into());
    if !shared {
        let theirs = if theirs.is_empty() {
            "none readable".to_string()
        } else {
            theirs.join(", ")
        };
        let refusal = Refusal {
            message: format!(
                "cluster '{cluster}' (context {context}): {ISTIO_NAMESPACE}/{CACERTS_SECRET} trusts another root: {theirs} in the cluster, {} here",
                our_roots.join(", ")
            ),
            hint: "replacing a root breaks trust for every workload: rotate the root in stages (docs/root-rotation.md), or delete the Secret yourself if this cluster is not in service".into(),
        };
        return (Op::Update, Some("another root".into()), Some(refusal));
    }
    if !force {
        let refusal = Refusal {
            message: format!(
                "cluster '{cluster}' (context {context}): {ISTIO_NAMESPACE}/{CACERTS_SECRET} holds another intermediate ({old}) under the same root"
            ),
            hint: format!(
                "replace it with --force, or issue and apply a new one with: kubectl mesh-certs rotate --cluster {cluster} --context {context}"
            ),
        };
        return (
            Op::Update,
            Some("another intermediate".into()),
            Some(refusal),
        );
    }
    (
        Op::Update,
        Some(format!("replaces intermediate {old} (--force)")),
        None,
    )
}

/// Observes one cluster and plans its namespace and `cacerts`.
pub(super) async fn plan_member(
    kube: &Kube,
    m: &Member,
    bundle: &Bundle,
    force: bool,
) -> Result<(ClusterPlan, Option<Refusal>), Error> {
    let ns = istio_namespace(m.network.as_deref());
    let live_ns = kube.get("v1", "Namespace", None, ISTIO_NAMESPACE).await?;
    let (ns_op, ns_note) = compare(&ns, live_ns.as_ref());
    let secret = cacerts_secret(bundle);
    let (op, note, refusal) = match live_cacerts(kube).await? {
        None => (Op::Create, None, None),
        Some(live) => {
            let place = Place {
                cluster: m.cluster.as_str(),
                context: &kube.context,
            };
            judge_existing(
                &place,
                &Bundle::from_secret(&origin(kube), &live),
                bundle,
                force,
            )
        }
    };
    let steps = vec![
        Step {
            op: ns_op,
            manifest: ns,
            note: ns_note,
            secret: false,
        },
        Step {
            op,
            manifest: secret,
            note,
            secret: true,
        },
    ];
    let plan = ClusterPlan {
        cluster: m.cluster.to_string(),
        context: kube.context.clone(),
        steps,
    };
    Ok((plan, refusal))
}
