//! `mesh-certs inspect`: read a certificate directory and say whether it is sound.
//!
//! Per cluster: who the intermediate is, when it ends, and whether its `cacerts` set is one
//! istiod will load — the key matches, `cert-chain.pem` is intermediate then root, the
//! intermediate is signed by the mesh root, and the cluster's `root-cert.pem` is that root.

use super::describe::{CertInfo, describe, fingerprint, signed_by};
use super::pem::{certificates, key_matches, private_key, read_text, single_certificate};
use super::store::CertDir;
use super::{CaError, Problem};
use crate::names::ClusterName;
use crate::secret::Secret;
use serde::Serialize;
use time::OffsetDateTime;

/// What `inspect` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectReport {
    /// The directory read.
    pub dir: String,
    /// The mesh root.
    pub root: CertInfo,
    /// One entry per cluster, sorted by name.
    pub clusters: Vec<ClusterCa>,
    /// Every problem found (root and clusters), in order.
    pub problems: Vec<Problem>,
}

/// One cluster's intermediate CA.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCa {
    /// Cluster name (the sub-directory).
    pub name: String,
    /// The intermediate certificate (`ca-cert.pem`).
    pub certificate: CertInfo,
    /// Whether the intermediate chains to the mesh root and the set is consistent.
    pub chain_valid: bool,
    /// SHA-256 fingerprint of the cluster's `root-cert.pem` (first certificate).
    pub root_sha256: String,
}

/// Reads `dir` and checks every cluster in it, as of `now`, warning `warn_days` ahead of expiry.
pub fn inspect(
    dir: &CertDir,
    now: OffsetDateTime,
    warn_days: i64,
) -> Result<InspectReport, CaError> {
    if !dir.path().is_dir() {
        return Err(CaError::NoCertDir {
            path: dir.path().to_path_buf(),
        });
    }
    let root_path = dir.root_cert();
    let root_der = single_certificate(&root_path, &read_text(&root_path)?)?;
    let root = describe(&root_der, now).ok_or_else(|| CaError::BadPem {
        path: root_path.clone(),
        reason: "not a valid X.509 certificate".into(),
    })?;
    let mut problems = Vec::new();
    validity_problems(&root, "root", now, warn_days, &mut problems);
    if !root.is_ca {
        problems.push(Problem::error(
            "root",
            "the root certificate is not a CA (basicConstraints CA:false or missing)",
            "create a new root with kubectl mesh-certs create --force",
        ));
    }
    let mut clusters = Vec::new();
    for name in dir.clusters()? {
        let (cluster, found) = inspect_cluster(dir, &name, &root_der, now, warn_days)?;
        problems.extend(found);
        clusters.push(cluster);
    }
    Ok(InspectReport {
        dir: dir.path().display().to_string(),
        root,
        clusters,
        problems,
    })
}

fn inspect_cluster(
    dir: &CertDir,
    name: &ClusterName,
    root_der: &[u8],
    now: OffsetDateTime,
    warn_days: i64,
) -> Result<(ClusterCa, Vec<Problem>), CaError> {
    let file = |f: &str| dir.cluster_file(name, f);
    let cert_der = single_certificate(&file("ca-cert.pem"), &read_text(&file("ca-cert.pem"))?)?;
    let key = private_key(
        &file("ca-key.pem"),
        &Secret::new(read_text(&file("ca-key.pem"))?),
    )?;
    let cluster_roots = certificates(&file("root-cert.pem"), &read_text(&file("root-cert.pem"))?)?;
    let chain = certificates(
        &file("cert-chain.pem"),
        &read_text(&file("cert-chain.pem"))?,
    )?;
    let certificate = describe(&cert_der, now).ok_or_else(|| CaError::BadPem {
        path: file("ca-cert.pem"),
        reason: "not a valid X.509 certificate".into(),
    })?;

    let subject = name.as_str();
    let mut problems = Vec::new();
    let rotate = format!(
        "kubectl mesh-certs rotate --cluster {name} --dir {}",
        dir.path().display()
    );
    if !key_matches(&key, &cert_der) {
        problems.push(Problem::error(
            subject,
            "ca-key.pem is not the key of ca-cert.pem",
            &rotate,
        ));
    }
    let signed = signed_by(&cert_der, root_der);
    if !signed {
        problems.push(Problem::error(
            subject,
            &format!(
                "ca-cert.pem is not signed by the mesh root {}",
                fingerprint(root_der)
            ),
            &rotate,
        ));
    }
    if !cluster_roots.iter().any(|r| r.as_slice() == root_der) {
        problems.push(Problem::error(
            subject,
            &format!(
                "root-cert.pem does not contain the mesh root (it holds {})",
                fingerprint(&cluster_roots[0])
            ),
            &rotate,
        ));
    }
    let chain_ok = chain.len() >= 2
        && chain[0] == cert_der
        && chain.last().is_some_and(|last| last.as_slice() == root_der);
    if !chain_ok {
        problems.push(Problem::error(
            subject,
            "cert-chain.pem is not the intermediate followed by the mesh root",
            &rotate,
        ));
    }
    if !certificate.is_ca {
        problems.push(Problem::error(
            subject,
            "ca-cert.pem is not a CA certificate, istiod cannot sign with it",
            &rotate,
        ));
    }
    validity_problems(&certificate, subject, now, warn_days, &mut problems);
    let chain_valid = signed && chain_ok && key_matches(&key, &cert_der) && certificate.is_ca;
    Ok((
        ClusterCa {
            name: name.to_string(),
            certificate,
            chain_valid,
            root_sha256: fingerprint(&cluster_roots[0]),
        },
        problems,
    ))
}

/// Expired, not yet valid, or within `warn_days` of the end, as of `now`.
pub fn validity_problems(
    info: &CertInfo,
    subject: &str,
    now: OffsetDateTime,
    warn_days: i64,
    out: &mut Vec<Problem>,
) {
    let renew = if subject == "root" {
        "plan a root rotation before it ends (docs/root-rotation.md)".to_string()
    } else {
        format!("issue a new intermediate: kubectl mesh-certs rotate --cluster {subject}")
    };
    if info.not_after_time.is_some_and(|t| t <= now) {
        out.push(
            Problem::error(
                subject,
                &format!("certificate expired on {}", info.not_after),
                &renew,
            )
            .of_kind(super::ProblemKind::Validity),
        );
    } else if info.not_before_time.is_some_and(|t| t > now) {
        out.push(
            Problem::error(
                subject,
                &format!("certificate is not valid before {}", info.not_before),
                "check the clock of the machine that issued it",
            )
            .of_kind(super::ProblemKind::Validity),
        );
    } else if info.days_left < warn_days {
        out.push(Problem::warning(
            subject,
            &format!(
                "certificate expires in {} days (on {}), within the {warn_days}-day warning window",
                info.days_left, info.not_after
            ),
            &renew,
        )
        .of_kind(super::ProblemKind::Validity));
    }
}
