//! The decisions of a root rotation, all pure: where a cluster stands (from its live
//! `cacerts`), what its `cacerts` must hold at a stage, whether a stage may write to it, and
//! whether istiod has spread the trust bundle to every namespace.

use super::state::{RootCert, Stage};
use crate::ca::bundle::{Bundle, chains_to_root, short};
use crate::ca::describe::signed_by;
use crate::ca::pem::certificates;
use crate::checks::RootConfigMaps;
use crate::labels::{CACERTS_KEYS, CACERTS_SECRET, ISTIO_NAMESPACE, ROOT_CERT_CONFIGMAP};
use crate::plan::Op;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Where one cluster's live `cacerts` stands in the rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// No `cacerts`.
    Missing,
    /// Incomplete or unreadable (why).
    Unreadable(String),
    /// It trusts a root that is neither the old nor the new one (fingerprints).
    Foreign(Vec<String>),
    /// Only the old root; intermediate under it (before the rotation).
    OldOnly,
    /// Both roots; intermediate under the old one (stage `trust-both`).
    TrustBoth,
    /// Both roots; intermediate under the new one (stage `reissue`).
    Reissued,
    /// Only the new root; intermediate under it (stage `finish`).
    Finished,
}

impl Standing {
    /// The stage it corresponds to, for messages.
    pub fn label(&self) -> &'static str {
        match self {
            Standing::Missing => "no cacerts",
            Standing::Unreadable(_) => "unreadable",
            Standing::Foreign(_) => "another root",
            Standing::OldOnly => "old root only",
            Standing::TrustBoth => "trust-both",
            Standing::Reissued => "reissue",
            Standing::Finished => "finish",
        }
    }

    /// The rotation stage the cluster has reached, if it is in the rotation at all.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Standing::OldOnly => Some(Stage::Prepare),
            Standing::TrustBoth => Some(Stage::TrustBoth),
            Standing::Reissued => Some(Stage::Reissue),
            Standing::Finished => Some(Stage::Finish),
            _ => None,
        }
    }
}

fn file_certs(b: &Bundle, key: &str) -> Vec<Vec<u8>> {
    b.get(key)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|t| certificates(Path::new(key), t).ok())
        .unwrap_or_default()
}

/// Where a live `cacerts` stands between the `old` and the `new` root.
pub fn standing(live: Option<&Bundle>, old: &RootCert, new: &RootCert) -> Standing {
    let Some(b) = live else {
        return Standing::Missing;
    };
    let missing: Vec<&str> = CACERTS_KEYS
        .iter()
        .copied()
        .filter(|k| b.get(k).is_none())
        .collect();
    if !missing.is_empty() {
        return Standing::Unreadable(format!("it lacks {}", missing.join(", ")));
    }
    let Some(int) = b.intermediate_der() else {
        return Standing::Unreadable("ca-cert.pem holds no certificate".into());
    };
    let roots = b.root_fingerprints();
    let others: Vec<String> = roots
        .iter()
        .filter(|f| **f != old.sha256 && **f != new.sha256)
        .cloned()
        .collect();
    if !others.is_empty() || roots.is_empty() {
        return Standing::Foreign(roots);
    }
    let chain = file_certs(b, "cert-chain.pem");
    let under = |r: &RootCert| chains_to_root(&int, &chain, std::slice::from_ref(&r.der));
    let (has_old, has_new) = (roots.contains(&old.sha256), roots.contains(&new.sha256));
    match (has_old, has_new, under(old), under(new)) {
        (true, false, true, _) => Standing::OldOnly,
        (true, true, true, _) => Standing::TrustBoth,
        (true, true, _, true) => Standing::Reissued,
        (false, true, _, true) => Standing::Finished,
        _ => Standing::Unreadable(
            "ca-cert.pem does not chain to a root of its root-cert.pem through cert-chain.pem"
                .into(),
        ),
    }
}

/// A `cacerts` set: the intermediate (`cert`, `key`, PEM) chained to `signer`, trusting
/// `trusted` in that order (`root-cert.pem` holds every one of them, as istiod expects).
pub fn compose(cert: &[u8], key: &[u8], signer: &RootCert, trusted: &[&RootCert]) -> Bundle {
    let mut chain = cert.to_vec();
    chain.extend_from_slice(signer.pem.as_bytes());
    let roots: String = trusted.iter().map(|r| r.pem.as_str()).collect();
    let files: BTreeMap<String, Vec<u8>> = [
        ("ca-cert.pem", cert.to_vec()),
        ("ca-key.pem", key.to_vec()),
        ("cert-chain.pem", chain),
        ("root-cert.pem", roots.into_bytes()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Bundle::from_files("the rotation", files)
}

/// The roots a cluster trusts at `stage`, in `root-cert.pem` order.
pub fn trusted_at<'a>(stage: Stage, old: &'a RootCert, new: &'a RootCert) -> Vec<&'a RootCert> {
    match stage {
        Stage::Prepare => vec![old],
        Stage::TrustBoth | Stage::Reissue => vec![old, new],
        Stage::Finish => vec![new],
    }
}

/// Whether the intermediate `cert_der` was signed by `root`.
pub fn issued_by(cert_der: &[u8], root: &RootCert) -> bool {
    signed_by(cert_der, &root.der)
}

/// Where a cluster is, for messages.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// Cluster name.
    pub cluster: &'a str,
    /// Kube context.
    pub context: &'a str,
}

/// Why a stage may not write to a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `cluster 'x' (context c): …`.
    pub message: String,
    /// The next step.
    pub hint: String,
}

fn refuse(place: Place<'_>, why: &str, hint: &str) -> Refusal {
    Refusal {
        message: format!(
            "cluster '{}' (context {}): {ISTIO_NAMESPACE}/{CACERTS_SECRET} {why}",
            place.cluster, place.context
        ),
        hint: hint.to_string(),
    }
}

/// What stage `target` does to one cluster: `identical` says the live `cacerts` already
/// holds the stage's files, `same_intermediate` that it holds the intermediate the stage
/// keeps (for `trust-both`, the one in the certificate directory).
pub fn judge(
    target: Stage,
    place: Place<'_>,
    standing: &Standing,
    identical: bool,
    same_intermediate: bool,
) -> Result<(Op, Option<String>), Refusal> {
    if identical {
        return Ok((Op::Unchanged, None));
    }
    let (cluster, context) = (place.cluster, place.context);
    let status = format!("kubectl mesh-certs status --context {context} --cluster {cluster}");
    let ahead = |s: &Standing| Ok((Op::Unchanged, Some(format!("already at {}", s.label()))));
    let run = |stage: Stage| {
        format!(
            "run kubectl mesh-certs rotate-root {} first",
            stage.as_str()
        )
    };
    match (standing, target) {
        (Standing::Missing, _) => Err(refuse(
            place,
            "does not exist: the cluster is not in the mesh's trust",
            &format!(
                "kubectl mesh-certs apply --context {context} --cluster {cluster} puts the current one in, then run this stage again"
            ),
        )),
        (Standing::Unreadable(why), _) => {
            Err(refuse(place, &format!("cannot be rotated: {why}"), &status))
        }
        (Standing::Foreign(roots), _) => Err(refuse(
            place,
            &format!(
                "trusts {}, neither the old nor the new root of this rotation",
                roots
                    .iter()
                    .map(|r| short(r))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "check the context belongs to this mesh; a cluster with its own root needs its own rotation",
        )),
        (Standing::OldOnly | Standing::TrustBoth, Stage::TrustBoth) if !same_intermediate => {
            Err(refuse(
                place,
                "holds another intermediate than the certificate directory",
                &format!(
                    "make them agree first: kubectl mesh-certs apply --context {context} --cluster {cluster} --force"
                ),
            ))
        }
        (Standing::OldOnly, Stage::TrustBoth) => Ok((
            Op::Update,
            Some("adds the new root to root-cert.pem".into()),
        )),
        (Standing::TrustBoth, Stage::TrustBoth) => {
            Ok((Op::Update, Some("rewrites root-cert.pem".into())))
        }
        (Standing::Reissued | Standing::Finished, Stage::TrustBoth) => ahead(standing),
        (Standing::OldOnly, Stage::Reissue) => Err(refuse(
            place,
            "trusts only the old root",
            &run(Stage::TrustBoth),
        )),
        (Standing::TrustBoth, Stage::Reissue) => Ok((
            Op::Update,
            Some("new intermediate under the new root".into()),
        )),
        (Standing::Reissued | Standing::Finished, Stage::Reissue) => ahead(standing),
        (Standing::OldOnly | Standing::TrustBoth, Stage::Finish) => Err(refuse(
            place,
            "holds an intermediate signed by the old root: dropping that root would break it",
            &run(Stage::Reissue),
        )),
        (Standing::Reissued, Stage::Finish) => Ok((Op::Update, Some("drops the old root".into()))),
        (Standing::Finished, Stage::Finish) => ahead(standing),
        (_, Stage::Prepare) => Ok((Op::Unchanged, None)),
    }
}

/// How far istiod has spread a cluster's trust bundle into the `istio-ca-root-cert`
/// ConfigMaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spread {
    /// Every ConfigMap (`total`) carries exactly the wanted roots.
    Everywhere {
        /// How many namespaces have one.
        total: usize,
    },
    /// Some do not yet (their namespaces).
    Pending {
        /// How many namespaces have one.
        total: usize,
        /// Namespaces whose ConfigMap carries other roots.
        stale: Vec<String>,
    },
    /// There is no such ConfigMap at all: no istiod distributes trust in this cluster.
    NoConfigMaps,
}

/// Compares the ConfigMaps with `want` (fingerprints, in `root-cert.pem` order).
pub fn spread(maps: &[Value], want: &[String]) -> Spread {
    if maps.is_empty() {
        return Spread::NoConfigMaps;
    }
    let cmp = RootConfigMaps::compare(maps, want);
    if cmp.mismatched.is_empty() {
        Spread::Everywhere { total: cmp.total }
    } else {
        Spread::Pending {
            total: cmp.total,
            stale: cmp.mismatched,
        }
    }
}

impl Spread {
    /// One line for a person: what was observed.
    pub fn describe(&self) -> String {
        match self {
            Spread::Everywhere { total } => {
                format!("{total}/{total} {ROOT_CERT_CONFIGMAP} ConfigMaps carry the bundle")
            }
            Spread::Pending { total, stale } => {
                let shown: Vec<&str> = stale.iter().take(3).map(String::as_str).collect();
                format!(
                    "{}/{total} {ROOT_CERT_CONFIGMAP} ConfigMaps carry the bundle; not yet in namespaces {}{}",
                    total - stale.len(),
                    shown.join(", "),
                    if stale.len() > 3 { ", …" } else { "" }
                )
            }
            Spread::NoConfigMaps => format!(
                "no {ROOT_CERT_CONFIGMAP} ConfigMap in any namespace: no istiod distributes the trust bundle in this cluster"
            ),
        }
    }
}

/// The precondition of `reissue` and `finish`: in every cluster, every workload namespace
/// already trusts the bundle its `cacerts` holds (which includes the new root).
pub fn spread_refusal(place: Place<'_>, spread: &Spread) -> Option<Refusal> {
    if matches!(spread, Spread::Everywhere { .. }) {
        return None;
    }
    Some(Refusal {
        message: format!(
            "cluster '{}' (context {}): {}; workloads there may not trust the new root yet",
            place.cluster,
            place.context,
            spread.describe()
        ),
        hint: "istiod rewrites the ConfigMaps after it reloads cacerts (it needs ISTIO_MULTIROOT_MESH=true to accept a changed root-cert.pem); wait, or restart istiod in that cluster, then run this stage again".into(),
    })
}

/// Time left before `finish` may drop the old root: workload certificates signed by the
/// old intermediate live `ttl` after `reissued`.
pub fn renewal_left(
    reissued: Option<time::OffsetDateTime>,
    ttl: std::time::Duration,
    now: time::OffsetDateTime,
) -> Option<time::Duration> {
    let ready = reissued? + ttl;
    (ready > now).then(|| ready - now)
}

#[cfg(test)]
#[path = "stages_tests.rs"]
mod tests;
