//! What each cluster needs: its Istio namespace and its `cacerts`, compared with what it has,
//! and the refusals that stop `apply` before anything is written.
//!
//! The decision about an existing `cacerts` is a pure function ([`judge_existing`]) so every
//! case (identical, same root, another root, `--force`) is tested without a cluster.

use super::{Member, live_cacerts, origin};
use crate::ca::bundle::{Bundle, short};
use crate::ca::describe::fingerprint;
use crate::cluster::Cluster;
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
    kube: &impl Cluster,
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
                context: kube.context(),
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
            changes: Vec::new(),
        },
        Step {
            op,
            manifest: secret,
            note,
            secret: true,
            changes: Vec::new(),
        },
    ];
    let plan = ClusterPlan {
        cluster: m.cluster.to_string(),
        context: kube.context().to_string(),
        steps,
    };
    Ok((plan, refusal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::create::load_root;
    use crate::ca::issue::{generate_keys, issue_intermediate};
    use crate::ca::{CertDir, KeyType};
    use crate::names::ClusterName;
    use std::collections::BTreeMap;

    fn east() -> ClusterName {
        ClusterName::parse("east").unwrap()
    }

    fn now() -> time::OffsetDateTime {
        time::macros::datetime!(2026-11-25 09:00 UTC)
    }

    /// A fresh directory with a root and east's intermediate.
    fn created(tmp: &std::path::Path) -> CertDir {
        crate::test_support::cert_dir(tmp, &["east"], now())
    }

    /// Another intermediate for east under the root of `dir`.
    fn sibling(dir: &CertDir) -> Bundle {
        let root = load_root(&dir.root_cert(), &dir.root_key()).unwrap();
        let settings = crate::ca::CaSettings {
            key_type: KeyType::EcdsaP256,
            ..Default::default()
        };
        let key = generate_keys(KeyType::EcdsaP256, 1).unwrap().pop().unwrap();
        let ca = issue_intermediate(&east(), &settings, key, &root, now()).unwrap();
        let root_pem = root.cert_pem();
        let files: BTreeMap<String, Vec<u8>> = [
            ("ca-cert.pem", ca.cert_pem()),
            ("ca-key.pem", ca.key_pem().expose().clone()),
            ("root-cert.pem", root_pem.clone()),
            ("cert-chain.pem", format!("{}{root_pem}", ca.cert_pem())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_bytes()))
        .collect();
        Bundle::from_files("cluster", files)
    }

    const PLACE: Place<'static> = Place {
        cluster: "east",
        context: "ctx-east",
    };

    #[test]
    fn an_identical_cacerts_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let ours = Bundle::read_local(&created(tmp.path()), &east()).unwrap();
        let live = Bundle::from_secret("cluster", &cacerts_secret(&ours));
        assert_eq!(
            judge_existing(&PLACE, &live, &ours, false),
            (Op::Unchanged, None, None)
        );
    }

    #[test]
    fn another_intermediate_under_the_same_root_needs_force() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = created(tmp.path());
        let ours = Bundle::read_local(&dir, &east()).unwrap();
        let live = sibling(&dir);
        let (op, note, refusal) = judge_existing(&PLACE, &live, &ours, false);
        assert_eq!(
            (op, note.as_deref()),
            (Op::Update, Some("another intermediate"))
        );
        let refusal = refusal.expect("refused without --force");
        assert!(
            refusal.message.starts_with(
                "cluster 'east' (context ctx-east): istio-system/cacerts holds another intermediate ("
            ),
            "{}",
            refusal.message
        );
        assert!(
            refusal.hint.contains("--force")
                && refusal
                    .hint
                    .contains("kubectl mesh-certs rotate --cluster east --context ctx-east"),
            "{}",
            refusal.hint
        );
        // With --force: replaced, and the plan says so.
        let (op, note, refusal) = judge_existing(&PLACE, &live, &ours, true);
        assert_eq!(op, Op::Update);
        assert!(note.unwrap().ends_with("(--force)"));
        assert_eq!(refusal, None);
    }

    #[test]
    fn another_root_is_refused_even_with_force() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ours = Bundle::read_local(&created(a.path()), &east()).unwrap();
        let live = Bundle::read_local(&created(b.path()), &east()).unwrap();
        for force in [false, true] {
            let (op, note, refusal) = judge_existing(&PLACE, &live, &ours, force);
            assert_eq!((op, note.as_deref()), (Op::Update, Some("another root")));
            let message = refusal.expect("refused").message;
            assert!(message.contains("trusts another root"), "{message}");
            assert!(
                message.contains(&live.root_fingerprints()[0])
                    && message.contains(&ours.root_fingerprints()[0]),
                "both fingerprints: {message}"
            );
        }
        // A Secret with nothing readable in it says so.
        let empty = Bundle::from_files("cluster", BTreeMap::new());
        let message = judge_existing(&PLACE, &empty, &ours, true)
            .2
            .unwrap()
            .message;
        assert!(
            message.contains("none readable in the cluster"),
            "{message}"
        );
    }
}
